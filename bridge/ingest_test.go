package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

var ctx = context.Background()

func postsCount(tb *TestBridge, result string) float64 {
	return value(tb, "earshot_posts_total", map[string]string{"network": "net", "result": result})
}

func TestComplaintOpensACaseWithAThread(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, p := tb.Complain("ana", "@brand my train is 40 minutes late")
	if v.ID != "E-1" || v.Status != bridge.StatusNew || v.Queue != "support" || v.Customer.Handle != "ana" || v.First.ID != p.ID {
		t.Fatalf("case %+v", v.Case)
	}
	if th.Channel != "C-SUP" || th.Desk != "desk" {
		t.Errorf("thread %+v, want in the support channel", th)
	}
	if v.FirstResponseDue.IsZero() || !v.FirstResponseDue.Equal(v.OpenedAt.Add(15*time.Minute)) || v.Due() != v.FirstResponseDue {
		t.Errorf("first response due %v (opened %v)", v.FirstResponseDue, v.OpenedAt)
	}
	if got, ok := tb.CaseForThread(th); !ok || got.ID != v.ID {
		t.Errorf("CaseForThread = %v %v", got.ID, ok)
	}
	if !strings.Contains(strings.Join(v.Teams, ","), "billing") {
		t.Errorf("teams %v", v.Teams)
	}
	v2, _, _ := tb.Complain("bo", "@brand and mine")
	if v2.ID != "E-2" {
		t.Errorf("second case %s", v2.ID)
	}
	if postsCount(tb, bridge.PostOpened) != 2 {
		t.Errorf("opened counted %v", postsCount(tb, bridge.PostOpened))
	}
}

func TestDuplicatesOwnPostsAndIgnoredPosts(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, p := tb.Complain("ana", "@brand refund please")
	if err := tb.Post(ctx, p); err != nil {
		t.Fatal(err)
	}
	own := Mention(Customer("brand"), "we are looking into it")
	own.FromUs = true
	if err := tb.Post(ctx, own); err != nil {
		t.Fatal(err)
	}
	quiet := Mention(Customer("cy"), "nice weather")
	quiet.MentionsUs = false
	if err := tb.Post(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	// Our published reply, echoed back by the stream without the FromUs flag.
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "Sorry Ana, refund on its way")
	tb.Clock.Advance(11 * time.Second)
	tb.WaitFor("the reply", func() bool { return len(tb.Net.Published()) == 1 })
	it, _ := tb.OutboxFor(m)
	tb.WaitFor("sent", func() bool { it, _ = tb.Outbox(it.ID); return it.State == bridge.OutboxSent })
	echo := bridge.Post{Network: "net", ID: it.Sent.ID, Author: Customer("brand"), Text: "Sorry Ana, refund on its way", MentionsUs: true}
	if err := tb.Post(ctx, echo); err != nil {
		t.Fatal(err)
	}
	if len(tb.Desk.Threads()) != 1 {
		t.Errorf("%d threads, want 1", len(tb.Desk.Threads()))
	}
	for result, want := range map[string]float64{bridge.PostOpened: 1, bridge.PostDuplicate: 1, bridge.PostOwn: 2, bridge.PostIgnored: 1} {
		if got := postsCount(tb, result); got != want {
			t.Errorf("posts %s = %v, want %v", result, got, want)
		}
	}
	if err := tb.Post(ctx, bridge.Post{Network: "nope", ID: "1"}); err == nil {
		t.Error("a post of an unknown network was taken")
	}
	if err := tb.Post(ctx, bridge.Post{Network: "net"}); err == nil {
		t.Error("a post without id was taken")
	}
}

func TestFollowUpsJoinTheirCase(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	ana := Customer("ana")
	v, th, first := tb.Complain("ana", "@brand my parcel is lost")

	// A reply in the conversation, and a reply to our own answer.
	f1 := ReplyTo(ana, first, "it was due Tuesday")
	f1.MentionsUs = false // a follow-up needs no watch rule
	if err := tb.Post(ctx, f1); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the follow-up in the thread", func() bool { return tb.Desk.HasMessage(th.ID, "due Tuesday") })

	// Someone else replying in the same conversation is a complaint of their own.
	other := ReplyTo(Customer("bo"), first, "@brand same here")
	if err := tb.Post(ctx, other); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("bo's own case", func() bool { return len(tb.Desk.Threads()) == 2 })

	// A direct message from the customer joins their latest case.
	dm := Mention(ana, "my order number is 42")
	dm.Direct, dm.MentionsUs = true, false
	if err := tb.Post(ctx, dm); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the DM in the thread", func() bool { return tb.Desk.HasMessage(th.ID, "order number is 42") })
	got, _ := tb.Case(v.ID)
	if got.PostCount != 3 || got.Last.ID != f1.ID {
		t.Errorf("case after follow-ups: posts %d, last public %s (want %s: a DM is not what public replies answer)", got.PostCount, got.Last.ID, f1.ID)
	}
	// A case a DM opens continues by DM.
	opener := Mention(Customer("dee"), "please call me")
	opener.Direct, opener.MentionsUs = true, false
	if err := tb.Post(ctx, opener); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the DM's case", func() bool { v, ok := tb.OpenedBy(opener.ID); return ok && v.Private })
	if postsCount(tb, bridge.PostFollowUp) != 2 {
		t.Errorf("follow-ups counted %v", postsCount(tb, bridge.PostFollowUp))
	}
	// A new post (a new conversation) of the same customer joins her open
	// case in that queue: one customer, one open case (TestOneCustomerOneOpenCase).
	again := Mention(ana, "@brand and now the app crashes")
	if err := tb.Post(ctx, again); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the new post in her thread", func() bool { return tb.Desk.HasMessage(th.ID, "now the app crashes") })
	if len(tb.Desk.Threads()) != 3 { // ana's, bo's, dee's
		t.Errorf("%d threads, want 3", len(tb.Desk.Threads()))
	}
}

func TestResolvedCaseReopensWithinTheWindowElseLinks(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.Queues[0].ReopenWindow = time.Hour }))
	ana := Customer("ana")
	v, th, first := tb.Complain("ana", "@brand no signal")
	if _, err := tb.Resolve(ctx, v.ID, Ana, "mast repaired"); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(30 * time.Minute)
	if err := tb.Post(ctx, ReplyTo(ana, first, "still nothing")); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("reopened", func() bool { c, _ := tb.Case(v.ID); return c.Status == bridge.StatusNew && c.Reopens == 1 })
	tb.WaitFor("the reopen line", func() bool { return tb.Desk.HasMessage(th.ID, "Reopened: the customer wrote again") })

	if _, err := tb.Resolve(ctx, v.ID, Ana, ""); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(2 * time.Hour)
	late := ReplyTo(ana, first, "thanks, works now")
	if err := tb.Post(ctx, late); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("a new linked case", func() bool { return len(tb.Desk.Threads()) == 2 })
	nv, _ := tb.Case("E-2")
	if nv.Status != bridge.StatusNew || len(nv.Previous) != 1 || nv.Previous[0] != v.ID || nv.First.ID != late.ID {
		t.Errorf("new case %+v", nv.Case)
	}
	if len(nv.History) != 1 || nv.History[0].ID != v.ID || nv.History[0].Status != bridge.StatusResolved {
		t.Errorf("history %+v", nv.History)
	}
	if old, _ := tb.Case(v.ID); old.Status != bridge.StatusResolved {
		t.Errorf("the old case is %s", old.Status)
	}
}

func TestWatchRules(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, InMemory(), WithConfig(func(c *bridge.Config) {
		c.Watch = []bridge.WatchRule{
			{Network: "net", Keywords: []string{"signal failure", "late"}, Hashtags: []string{"RailFail"}, Exclude: []string{"ticket giveaway", "#ad"}},
		}
	}))
	cases := []struct {
		text   string
		opened bool
	}{
		{"there is a signal failure at Leeds", true},
		{"Signal Failure again!", true},
		{"train late, again", true},
		{"chocolate cake", false}, // "late" only as a whole word
		{"#railfail this morning", true},
		{"#RailFailures are common", false}, // the whole tag only
		{"late? #ad win a ticket giveaway", false},
		{"late and sponsored #ad", false},
		{"nothing to see", false},
	}
	for _, c := range cases {
		p := Mention(Customer("x"+fmt.Sprint(len(c.text))), c.text)
		p.MentionsUs = false
		if err := tb.Post(ctx, p); err != nil {
			t.Fatal(err)
		}
		_, found := tb.OpenedBy(p.ID)
		if found != c.opened {
			t.Errorf("%q opened a case = %v, want %v", c.text, found, c.opened)
		}
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, InMemory(), WithConfig(func(c *bridge.Config) {
		c.Queues = append(c.Queues, bridge.QueueConfig{Name: "vip", Desk: "desk", Channel: "C-VIP"}, bridge.QueueConfig{Name: "fr", Desk: "desk", Channel: "C-FR"})
		c.Routes = []bridge.RouteRule{
			{Name: "famous", MinFollowers: 10000, Queue: "vip", Priority: 2, Tags: []string{"VIP"}},
			{Name: "french", Languages: []string{"fr"}, Queue: "fr"},
			{Name: "billing words", Networks: []string{"net"}, Keywords: []string{"refund", "charged"}, Queue: "billing", Priority: 1, Tags: []string{"money"}},
		}
	}))
	for _, c := range []struct {
		text      string
		followers int
		lang      string
		queue     string
		priority  int
		tags      string
	}{
		{"@brand charged twice", 10, "", "billing", 1, "money"},
		{"@brand charged twice", 50000, "", "vip", 2, "vip"},
		{"@brand mon train", 10, "fr-CA", "fr", 0, ""},
		{"@brand hello", 10, "en", "support", 0, ""},
	} {
		a := Customer(fmt.Sprintf("u%d%s", c.followers, c.lang))
		a.Followers = c.followers
		p := Mention(a, c.text)
		p.Lang = c.lang
		if err := tb.Post(ctx, p); err != nil {
			t.Fatal(err)
		}
		v, ok := tb.OpenedBy(p.ID)
		if !ok || v.Queue != c.queue || v.Priority != c.priority || strings.Join(v.Tags, ",") != c.tags {
			t.Errorf("%q (%d followers, %q): queue %s priority %d tags %v; want %s %d %s", c.text, c.followers, c.lang, v.Queue, v.Priority, v.Tags, c.queue, c.priority, c.tags)
		}
	}
}

// The card follows every change: each re-render shows a newer version.
func TestCardsFollowChanges(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand broken router")
	card := func() bridge.CaseView { x, _ := tb.Desk.Thread(th.ID); return x.Card }
	tb.MustClaim(v.ID, Ana)
	tb.WaitFor("the claimed card", func() bool { return card().Status == bridge.StatusClaimed && card().AssigneeName == "Ana" })
	tb.WaitFor("the claim line", func() bool { return tb.Desk.HasMessage(th.ID, "Claimed by Ana") })
	if _, err := tb.SetPriority(ctx, v.ID, Ana, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Tag(ctx, v.ID, Ana, []string{"#Outage"}, nil); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("triage on the card", func() bool { return card().Priority == 3 && len(card().Tags) == 1 })
	if _, err := tb.Escalate(ctx, v.ID, Ana, "Billing", "refund over 500"); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the team's thread", func() bool { return len(tb.Desk.ThreadsOf(v.ID)) == 2 })
	team := tb.Desk.ThreadsOf(v.ID)[1]
	if team.Ref.Channel != "C-BIL" || team.Card.Status != bridge.StatusEscalated || team.Card.Queue != "billing" {
		t.Errorf("team thread %+v card %s %s", team.Ref, team.Card.Status, team.Card.Queue)
	}
	tb.WaitFor("the reason in both threads", func() bool {
		return tb.Desk.HasMessage(th.ID, "Escalated to billing by Ana: refund over 500") &&
			tb.Desk.HasMessage(team.Ref.ID, "Escalated from support by Ana: refund over 500")
	})
	tb.WaitFor("the old thread's card", func() bool { return card().Status == bridge.StatusEscalated })
	final, _ := tb.Case(v.ID)
	for _, x := range tb.Desk.ThreadsOf(v.ID) {
		if x.Card.Version != final.Version {
			t.Errorf("thread %s shows version %d, case is at %d", x.Ref.ID, x.Card.Version, final.Version)
		}
	}
}
