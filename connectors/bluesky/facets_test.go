package bluesky

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

func TestFindLinks(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string // covered text -> uri, "text=uri"
	}{
		{"see https://example.com/a?b=c.", []string{"https://example.com/a?b=c=https://example.com/a?b=c"}},
		{"(https://example.com/x) and", []string{"https://example.com/x=https://example.com/x"}},
		{"https://en.wikipedia.org/wiki/Fish_(food) ok", []string{"https://en.wikipedia.org/wiki/Fish_(food)=https://en.wikipedia.org/wiki/Fish_(food)"}},
		{"statut: status.example.com/incident!", []string{"status.example.com/incident=https://status.example.com/incident"}},
		{"é 📶 http://a.co", []string{"http://a.co=http://a.co"}},
		{"e.g. this, file.notatld, v1.2.3 and 3.14", nil},
		{"mail ana@example.com or @ana.bsky.social", nil},
		{"two: a.com b.org", []string{"a.com=https://a.com", "b.org=https://b.org"}},
	} {
		var got []string
		for _, l := range FindLinks(c.text) {
			got = append(got, c.text[l.Start:l.End]+"="+l.URI)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("FindLinks(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestFindTags(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string // covered text -> tag
	}{
		{"#panne", []string{"#panne=panne"}},
		{"délai 📶 #RetardTrain, encore", []string{"#RetardTrain=RetardTrain"}},
		{"not a#tag, #123 only digits, #1a ok", []string{"#1a=1a"}},
		{"#️⃣ keycap, url https://x.com/#frag", nil},
		{"end with punctuation #wifi!!", []string{"#wifi=wifi"}},
		{"full-width ＃タグ", []string{"＃タグ=タグ"}},
		{"#" + strings.Repeat("a", 65), nil},
		{"#" + strings.Repeat("a", 64), []string{"#" + strings.Repeat("a", 64) + "=" + strings.Repeat("a", 64)}},
		{"zero\u200bwidth #a\u200bb", []string{"#a=a"}},
	} {
		var got []string
		for _, tg := range FindTags(c.text) {
			got = append(got, c.text[tg.Start:tg.End]+"="+tg.Tag)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("FindTags(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

// Facets are built from staff text, which can be anything a desk lets
// through: every offset must fall on rune boundaries inside the text.
func FuzzFacets(f *testing.F) {
	f.Add("Désolé 📶 @ana.fake.bsky, voir https://status.example.com/x?y=1. #panne")
	f.Add("(example.com) #a#b ＃c http://x")
	f.Add("#\ufe0f\u20e3 @a.b")
	f.Fuzz(func(t *testing.T, text string) {
		check := func(kind string, start, end int) {
			if start < 0 || end > len(text) || start >= end || !utf8.ValidString(text[start:end]) && utf8.ValidString(text) {
				t.Fatalf("%s facet %d:%d in %q", kind, start, end, text)
			}
		}
		for _, l := range FindLinks(text) {
			check("link", l.Start, l.End)
			if !strings.HasPrefix(l.URI, "http://") && !strings.HasPrefix(l.URI, "https://") {
				t.Fatalf("link %q is not http(s)", l.URI)
			}
		}
		for _, tg := range FindTags(text) {
			check("tag", tg.Start, tg.End)
			if tg.Tag == "" || utf16Len(tg.Tag) > maxTagLen {
				t.Fatalf("tag %q", tg.Tag)
			}
		}
		for _, m := range FindMentions(text) {
			check("mention", m.Start, m.End)
		}
	})
}

// The fake PDS says the stored session cannot be verified (another PDS's,
// or from before a key rotation): the connector logs in again and the
// reply goes out.
func TestUnverifiableSessionLogsInAgain(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	r := replyTo(t, fx, "k-forgotten", "On it.")
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.fake.ForgetSessions()
	if _, err := fx.net.Publish(context.Background(), r); err != nil {
		t.Fatalf("Publish after the PDS forgot our session: %v", err)
	}
	if created, _, _ := fx.fake.SessionCounts(); created != 2 {
		t.Errorf("%d logins, want 2 (the first and one more)", created)
	}
}

// An account its server took down, deactivated or suspended: its own
// reason, permanent, and the connector is down; once it is active again
// the connector is up.
func TestAccountRefusalsHaveTheirOwnReason(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]string{
		"AccountTakedown":    "taken down",
		"AccountDeactivated": "deactivated",
		"AccountSuspended":   "suspended",
	} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, Config{})
			h := &connectortest.HealthRecorder{}
			fx.net.health.rep = h
			in := listen(t, fx)
			_ = in
			h.WaitFor(t, Name, bridge.HealthUp, "")
			r := replyTo(t, fx, "k-"+status, "On it.")
			fx.fake.SetAccountStatus(fx.fake.Us().DID, status)
			_, err := fx.net.Publish(context.Background(), r)
			var pe *bridge.PublishError
			if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, want) || strings.Contains(pe.Reason, "password") {
				t.Errorf("Publish = %v; want a permanent error saying the account is %s", err, want)
			}
			h.WaitFor(t, Name, bridge.HealthDown, want)
			fx.fake.SetAccountStatus(fx.fake.Us().DID, "")
			if _, err := fx.net.Publish(context.Background(), r); err != nil {
				t.Fatalf("Publish once active again: %v", err)
			}
			h.WaitFor(t, Name, bridge.HealthUp, "")
		})
	}
}

// A wrong app password keeps the connector down with a reason that says
// so, and Listen does not spend the scarce logins retrying.
func TestRefusedLoginIsDownAndNotRetriedSoon(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Identifier: blueskyfake.OurHandle, AppPassword: "wrong-password"})
	h := &connectortest.HealthRecorder{}
	fx.net.health.rep = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, connectortest.NewRecordingInbox()) }()
	h.WaitFor(t, Name, bridge.HealthDown, "app password")
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if created, _, _ := fx.fake.SessionCounts(); created != 0 {
		t.Errorf("%d sessions created with a wrong password", created)
	}
}

// Without an AppView the card still shows the customer's handle (from
// describeRepo), and getProfile is not asked again for a while.
func TestHandleWithoutAppView(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	reqs := &connectortest.RequestCounter{}
	fx.net.deps.Requests, fx.net.xrpc.obs = reqs, reqs
	fx.fake.SetAppView(false)
	in := listen(t, fx)
	for i := range 3 {
		id := fx.post(t, fmt.Sprintf("@%s no AppView %d", blueskyfake.OurHandle, i), "")
		p := in.WaitPost(t, 5*time.Second, byID(id))
		if p.Author.Handle != fx.ana.Handle || !strings.Contains(p.URL, fx.ana.Handle) {
			t.Errorf("author %+v, url %s; want the handle %s", p.Author, p.URL, fx.ana.Handle)
		}
	}
	if n := reqs.Total("getProfile error"); n != 1 {
		t.Errorf("getProfile asked %d times without an AppView, want once (%v)", n, reqs.Counts())
	}
}

// End to end: the customer deleted the post being answered before the
// reply went out. The reply is published (the PDS takes it) and the sent
// mark says so.
func TestReplyToDeletedPostWarnsOnTheMark(t *testing.T) {
	fx := newFixture(t, Config{})
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: Name, Mentions: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.fake.Streams() > 0 },
	})
	mention := fx.post(t, "@"+blueskyfake.OurHandle+" the app is down", "")
	thread, _ := connectortest.ClaimFirstCase(t, b, desk, rui)
	if !fx.fake.Delete(mention) {
		t.Fatal("delete")
	}
	if err := b.StaffMessage(context.Background(), bridge.StaffMessage{Kind: bridge.MessageNew,
		Thread:  bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: rui,
		Text: "Sorry, it is back now.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })
	if m := desk.MarkOf("S1"); !strings.Contains(m.Reason, "deleted") || m.Link == "" {
		t.Errorf("sent mark %+v; want the link and a warning that the post answered was deleted", m)
	}
	if len(fx.fake.Published()) != 1 {
		t.Errorf("published %d posts", len(fx.fake.Published()))
	}
}
