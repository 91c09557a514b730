package bluesky

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopRealPDS() // before the leak check: its process's pipes have goroutines
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

type fixture struct {
	fake *blueskyfake.Server
	ana  blueskyfake.Account
	net  *Network
	dir  string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := blueskyfake.New()
	t.Cleanup(f.Close)
	cfg.Service, cfg.Jetstream = f.URL(), f.JetstreamURL()
	if cfg.Identifier == "" {
		cfg.Identifier, cfg.AppPassword = blueskyfake.OurHandle, blueskyfake.OurPassword
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.ChatPoll == 0 {
		cfg.ChatPoll = 20 * time.Millisecond
	}
	dir := t.TempDir()
	n, err := New(cfg, bridge.Deps{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fake: f, ana: f.AddAccount("ana", "Ana Lima", 42), net: n, dir: dir}
}

func (fx *fixture) post(t testing.TB, text, replyTo string) string {
	t.Helper()
	p, err := fx.fake.Post(fx.ana.DID, text, replyTo)
	if err != nil {
		t.Fatalf("customer post: %v", err)
	}
	return p.URI
}

func harness() connectortest.NetworkHarness {
	return connectortest.NetworkHarness{New: func(t *testing.T) *connectortest.NetworkEnv {
		fx := newFixture(t, Config{})
		f := fx.fake
		return &connectortest.NetworkEnv{
			Network:   fx.net,
			Secrets:   []string{blueskyfake.OurPassword},
			Listening: func() bool { return f.Streams() > 0 },
			Mention: func(t testing.TB, text string) string {
				return fx.post(t, "@"+blueskyfake.OurHandle+" "+text, "")
			},
			Reply: func(t testing.TB, inReplyTo, text string) string { return fx.post(t, text, inReplyTo) },
			Published: func(t testing.TB) []connectortest.Published {
				var out []connectortest.Published
				for _, p := range f.Published() {
					pub := connectortest.Published{ID: p.URI, Text: p.Record.Text}
					if p.Record.Reply != nil {
						pub.InReplyTo = p.Record.Reply.Parent.URI
					}
					out = append(out, pub)
				}
				for _, m := range f.DMs(f.Us().DID) {
					if m.From == f.Us().DID {
						out = append(out, connectortest.Published{ID: m.ID, Text: m.Text, Direct: true, To: m.To})
					}
				}
				return out
			},
			Fail: func(t testing.TB, status, n int, wait time.Duration) { f.FailNext(status, n, wait) },
			Drop: func(t testing.TB) { f.DropStreams() },
			DM:   true,
			Echo: true,
		}
	}}
}

func TestNetworkSuite(t *testing.T) { connectortest.RunNetworkSuite(t, harness()) }

func listen(t *testing.T, fx *fixture) *connectortest.RecordingInbox {
	t.Helper()
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen: %v", err)
		}
	})
	connectortest.WaitFor(t, 5*time.Second, "jetstream", func() bool { return fx.fake.Streams() > 0 })
	return in
}

func byID(id string) func(bridge.Post) bool { return func(p bridge.Post) bool { return p.ID == id } }

// Disconnect in the middle of a stream: nothing missed, nothing twice.
func TestDisconnectMidStreamNothingMissedNothingTwice(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	wg.Go(func() {
		for i := range 40 {
			id := fx.post(t, fmt.Sprintf("@%s complaint %d", blueskyfake.OurHandle, i), "")
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	})
	for range 5 {
		time.Sleep(15 * time.Millisecond)
		fx.fake.DropStreams()
	}
	wg.Wait()
	for _, id := range ids {
		in.WaitPost(t, 10*time.Second, byID(id))
	}
	count := map[string]int{}
	for _, p := range in.Posts() {
		count[p.ID]++
	}
	for id, c := range count {
		if c != 1 {
			t.Errorf("post %s delivered %d times", id, c)
		}
	}
	if len(count) != len(ids) {
		t.Errorf("delivered %d distinct posts, want %d", len(count), len(ids))
	}
}

func TestRestartResumesFromSavedCursor(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	connectortest.WaitFor(t, 5*time.Second, "jetstream", func() bool { return fx.fake.Streams() > 0 })
	first := fx.post(t, "@"+blueskyfake.OurHandle+" one", "")
	in.WaitPost(t, 5*time.Second, byID(first))
	cancel()
	<-done
	connectortest.WaitFor(t, 5*time.Second, "stream closed", func() bool { return fx.fake.Streams() == 0 })
	missed := fx.post(t, "@"+blueskyfake.OurHandle+" while down", "")

	n2, err := New(Config{Service: fx.fake.URL(), Jetstream: fx.fake.JetstreamURL(), Identifier: blueskyfake.OurHandle,
		AppPassword: blueskyfake.OurPassword}, bridge.Deps{DataDir: fx.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in2 := listen(t, &fixture{fake: fx.fake, net: n2})
	in2.WaitPost(t, 5*time.Second, byID(missed))
	// The saved cursor is the last event seen, replayed inclusively: the
	// restart may see the first post again, but a fresh process has no
	// memory of it, so the bridge's own dedupe covers that one. Nothing
	// else may come twice.
	count := map[string]int{}
	for _, p := range in2.Posts() {
		count[p.ID]++
	}
	for id, c := range count {
		if c > 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}

func TestPostFieldsRefsAndHandleResolution(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	id := fx.post(t, "@"+blueskyfake.OurHandle+" wifi down 📶 again", "")
	p := in.WaitPost(t, 5*time.Second, byID(id))
	if p.Author.ID != fx.ana.DID || p.Author.Handle != "ana.fake.bsky" || p.Author.Name != "Ana Lima" || p.Author.Followers != 42 || p.Author.Avatar == "" {
		t.Errorf("author = %+v", p.Author)
	}
	if p.Ref["uri"] != id || p.Ref["cid"] == "" || p.Lang != "en" || !p.MentionsUs {
		t.Errorf("post = %+v", p)
	}
	if !strings.HasPrefix(p.URL, "https://bsky.app/profile/ana.fake.bsky/post/") {
		t.Errorf("URL = %q", p.URL)
	}
	// Reply with a mention of the customer: facet at byte offsets after multibyte text.
	ref, err := fx.net.Publish(context.Background(), bridge.Reply{InReplyTo: p.ID, InRef: p.Ref, To: p.Author,
		Text: "Désolé 📶 @ana.fake.bsky, on regarde."})
	if err != nil {
		t.Fatal(err)
	}
	pub := fx.fake.Published()
	last := pub[len(pub)-1]
	if last.URI != ref.ID || len(last.Record.Facets) != 1 {
		t.Fatalf("published %+v", last)
	}
	f := last.Record.Facets[0]
	if got := last.Record.Text[f.Index.ByteStart:f.Index.ByteEnd]; got != "@ana.fake.bsky" || f.Features[0]["did"] != fx.ana.DID {
		t.Errorf("facet covers %q for %v", got, f.Features[0])
	}
	if last.Record.Reply.Root.URI != p.ID {
		t.Errorf("root = %+v", last.Record.Reply.Root)
	}
	// The author's handle is known from their profile: no resolveHandle call.
	if _, _, resolved := fx.fake.SessionCounts(); resolved != 0 {
		t.Errorf("resolveHandle called %d times for a cached handle", resolved)
	}
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	p := in.WaitPost(t, 5*time.Second, byID(fx.post(t, "@"+blueskyfake.OurHandle+" hi", "")))
	created, _, _ := fx.fake.SessionCounts()
	fx.fake.ExpireTokens()
	if _, err := fx.net.Publish(context.Background(), bridge.Reply{InReplyTo: p.ID, InRef: p.Ref, To: p.Author, Text: "hello"}); err != nil {
		t.Fatalf("publish after expiry: %v", err)
	}
	c2, refreshed, _ := fx.fake.SessionCounts()
	if refreshed != 1 || c2 != created {
		t.Errorf("after ExpiredToken: %d new logins, %d refreshes; want 0 and 1", c2-created, refreshed)
	}
}

func TestDMRefusalsInPlainWords(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	to := bridge.Author{ID: fx.ana.DID, Handle: fx.ana.Handle}
	for policy, want := range map[string]string{
		"none":      "does not accept direct messages",
		"following": "only accepts direct messages from accounts they follow",
	} {
		fx.fake.SetDMPolicy(fx.ana.DID, policy)
		_, err := fx.net.Publish(context.Background(), bridge.Reply{Private: true, To: to, Text: "hi"})
		var pe *bridge.PublishError
		if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, want) {
			t.Errorf("policy %s: %v", policy, err)
		}
		if err != nil && strings.Contains(err.Error(), blueskyfake.OurPassword) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	fx.fake.SetDMPolicy(fx.ana.DID, "following")
	fx.fake.Follow(fx.ana.DID, fx.fake.Us().DID)
	if _, err := fx.net.Publish(context.Background(), bridge.Reply{Private: true, To: to, Text: "hi"}); err != nil {
		t.Errorf("DM once followed: %v", err)
	}
}

func TestBadPasswordNotLeaked(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Identifier: blueskyfake.OurHandle, AppPassword: "wrong-s3cr3t"})
	err := fx.net.Check(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Check = %v", err)
	}
	_, err = fx.net.Publish(context.Background(), bridge.Reply{Text: "x", InReplyTo: "at://x/app.bsky.feed.post/1",
		InRef: map[string]string{"uri": "at://x/app.bsky.feed.post/1", "cid": "c"}})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Publish = %v", err)
	}
}

func TestKeywordsAndIgnoredPosts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Keywords: []string{"Signal Failure"}})
	in := listen(t, fx)
	ignored := fx.post(t, "lovely weather", "")
	kw := fx.post(t, "another signal failure at Leeds", "")
	p := in.WaitPost(t, 5*time.Second, byID(kw))
	if p.MentionsUs || p.ReplyToUs {
		t.Errorf("keyword post flags: %+v", p)
	}
	for _, q := range in.Posts() {
		if q.ID == ignored {
			t.Error("an unrelated post was delivered")
		}
	}
}

func TestGraphemeLimits(t *testing.T) {
	l := (&Network{}).Limits()
	for _, c := range []struct {
		text string
		want int
	}{
		{"hello", 5},
		{"👍🏽", 1},                   // emoji with skin tone
		{"👨‍👩‍👧‍👦", 1},              // ZWJ family
		{"e\u0301", 1},              // combining mark
		{"日本語テキスト", 7},              // CJK
		{"🇫🇷🇩🇪", 2},                 // flags
		{"https://example.com", 19}, // URLs count as typed on Bluesky
		{"@ana.fake.bsky hi", 17},
	} {
		if n, _, _ := l.Check(c.text, false); n != c.want {
			t.Errorf("count(%q) = %d, want %d", c.text, n, c.want)
		}
	}
	over := strings.Repeat("👍🏽", 301)
	if n, limit, ok := l.Check(over, false); ok || n != 301 || limit != 300 {
		t.Errorf("Check(301 emoji) = %d %d %v", n, limit, ok)
	}
	if _, limit, ok := l.Check(strings.Repeat("a", 900), true); !ok || limit != 1000 {
		t.Errorf("DM limit %d ok=%v", limit, ok)
	}
	_, err := (&Network{deps: bridge.Deps{Now: time.Now}}).Publish(context.Background(), bridge.Reply{Text: over})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "301 graphemes") || !strings.Contains(pe.Reason, "300") {
		t.Errorf("over-limit: %v", err)
	}
}

func TestFindMentionsByteOffsets(t *testing.T) {
	text := "é @ana.fake.bsky (@bob.example.com) mail a@b.com @notahandle"
	got := FindMentions(text)
	if len(got) != 2 {
		t.Fatalf("mentions %+v", got)
	}
	for _, m := range got {
		if text[m.Start:m.End] != "@"+m.Handle {
			t.Errorf("offsets %d:%d cover %q, want @%s", m.Start, m.End, text[m.Start:m.End], m.Handle)
		}
	}
}

func FuzzDecodeJetstream(f *testing.F) {
	f.Add([]byte(`{"did":"did:plc:abc","time_us":1725911162329308,"kind":"commit","commit":{"rev":"x","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3","cid":"bafy","record":{"$type":"app.bsky.feed.post","text":"hi @earshot","createdAt":"2024-09-09T19:46:02.102Z","facets":[{"index":{"byteStart":3,"byteEnd":11},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"did:plc:me"}]}],"reply":{"root":{"uri":"at://did:plc:me/app.bsky.feed.post/1","cid":"c"},"parent":{"uri":"at://did:plc:me/app.bsky.feed.post/1","cid":"c"}}}}}`))
	f.Add([]byte(`{"did":"did:plc:abc","time_us":1,"kind":"identity","identity":{}}`))
	f.Add([]byte(`{"kind":"commit","commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"x"}}`))
	f.Add([]byte(`{"did":"did:x","kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"a/b","record":{}}}`))
	n := &Network{cfg: Config{Keywords: []string{"wifi"}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, ok, err := decodeJetstream(b)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
		if !ok {
			return
		}
		if _, _, valid := splitPostURI(p.URI); !valid {
			t.Fatalf("decoded a post with a bad uri %q", p.URI)
		}
		post, _ := n.classifyPost("did:plc:me", p)
		if post.ID != p.URI || (post.InReplyTo != "" && post.Conversation == "") {
			t.Fatalf("classify gave %+v", post)
		}
	})
}

func TestCustomerDMsArriveAsDirectPosts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	us := fx.fake.Us().DID
	// Sent before we ever listened: history, not delivered.
	if _, err := fx.fake.SendDM(fx.ana.DID, us, "old message"); err != nil {
		t.Fatal(err)
	}
	in := listen(t, fx)
	connectortest.WaitFor(t, 5*time.Second, "chat cursor saved", func() bool { _, ok := fx.net.loadChatCursor(); return ok })
	m, err := fx.fake.SendDM(fx.ana.DID, us, "my booking is ABC123")
	if err != nil {
		t.Fatal(err)
	}
	p := in.WaitPost(t, 5*time.Second, byID("chat:"+m.ID))
	if !p.Direct || p.Author.Handle != "ana.fake.bsky" || p.Text != "my booking is ABC123" || p.Conversation != "chat:"+m.Convo {
		t.Errorf("DM post = %+v", p)
	}
	// Our own reply in the conversation does not come back.
	if _, err := fx.net.Publish(context.Background(), bridge.Reply{Private: true, To: p.Author, Text: "thanks"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, q := range in.Posts() {
		if q.Text == "old message" || q.Text == "thanks" {
			t.Errorf("delivered %q", q.Text)
		}
	}
}

// BenchmarkJetstreamEvent is the hot path: every post on the network goes
// through decode and classify, though few concern us.
func BenchmarkJetstreamEvent(b *testing.B) {
	msg := []byte(`{"did":"did:plc:abcdefghijklmnop","time_us":1725911162329308,"kind":"commit","commit":{"rev":"3l3qo2vutsw2b","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vuowo2b","cid":"bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi","record":{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z","langs":["en"],"text":"the 8:15 is cancelled again, third time this week, no announcement at all"}}}`)
	n := &Network{cfg: Config{Keywords: []string{"signal failure", "refund", "wifi"}}}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		p, _, ok, err := decodeJetstream(msg)
		if err != nil || !ok {
			b.Fatal(err)
		}
		if _, rel := n.classifyPost("did:plc:me", p); rel {
			b.Fatal("relevant")
		}
	}
}

// BenchmarkJetstreamSkip is the same hot path without keywords: posts not
// naming our DID are skipped before decoding.
func BenchmarkJetstreamSkip(b *testing.B) {
	msg := []byte(`{"did":"did:plc:abcdefghijklmnop","time_us":1725911162329308,"kind":"commit","commit":{"rev":"3l3qo2vutsw2b","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vuowo2b","cid":"bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi","record":{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z","langs":["en"],"text":"the 8:15 is cancelled again, third time this week, no announcement at all"}}}`)
	me := []byte("did:plc:me")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if bytes.Contains(msg, me) || scanTimeUS(msg) != 1725911162329308 {
			b.Fatal("bad scan")
		}
	}
}

func FuzzScanTimeUS(f *testing.F) {
	f.Add([]byte(`{"did":"x","time_us":123,"kind":"commit"}`))
	f.Add([]byte(`{"time_us": 99999999999999999999999}`))
	f.Add([]byte(`{"time_us":9227000000000000000}`)) // wrapped negative when checked after the multiply
	f.Fuzz(func(t *testing.T, b []byte) {
		if us := scanTimeUS(b); us < 0 || us > maxTimeUS {
			t.Fatalf("time_us %d out of range", us)
		}
	})
}

// The session is kept in the data dir: a restart reuses it (refreshing
// when expired) instead of logging in again.
func TestSessionKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.fake.ExpireTokens()
	n2, err := New(Config{Service: fx.fake.URL(), Jetstream: fx.fake.JetstreamURL(), Identifier: blueskyfake.OurHandle,
		AppPassword: blueskyfake.OurPassword}, bridge.Deps{DataDir: fx.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n2.profile(context.Background(), fx.ana.DID); err != nil {
		t.Fatal(err)
	}
	created, refreshed, _ := fx.fake.SessionCounts()
	if created != 1 || refreshed != 1 {
		t.Errorf("logins %d, refreshes %d; want 1 and 1", created, refreshed)
	}
	// A changed identifier ignores the stored session.
	n3, _ := New(Config{Service: fx.fake.URL(), Identifier: "ana.fake.bsky", AppPassword: "pw-ana"}, bridge.Deps{DataDir: fx.dir})
	if did, err := n3.me(context.Background()); err != nil || did != fx.ana.DID {
		t.Errorf("me = %s, %v", did, err)
	}
}

// A half-open Jetstream connection is noticed by its missing pong and
// replaced; the post made meanwhile arrives through the cursor, once.
func TestSilentStreamIsReplaced(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	fx.net.idle = 300 * time.Millisecond
	in := listen(t, fx)
	fx.fake.StallStreams()
	id := fx.post(t, "@"+blueskyfake.OurHandle+" anyone there?", "")
	in.WaitPost(t, 10*time.Second, byID(id))
	connectortest.WaitFor(t, 5*time.Second, "a new stream", func() bool { return fx.fake.Streams() > 0 })
	checkOnce(t, in)
}

func checkOnce(t *testing.T, in *connectortest.RecordingInbox) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range in.Posts() {
		seen[p.ID]++
		if seen[p.ID] == 2 {
			t.Errorf("%s delivered twice", p.ID)
		}
	}
}

// Secrets never reach the logs, even while every call fails.
func TestLogsCarryNoPassword(t *testing.T) {
	t.Parallel()
	f := blueskyfake.New()
	t.Cleanup(f.Close)
	var buf connectortest.LogBuffer
	n, err := New(Config{Service: f.URL(), Jetstream: f.JetstreamURL(), Identifier: blueskyfake.OurHandle,
		AppPassword: "s3cr3t-wrong", RequestTimeout: time.Second},
		bridge.Deps{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_ = n.Listen(ctx, connectortest.NewRecordingInbox())
	if !strings.Contains(buf.String(), "401") {
		t.Errorf("expected the refusal to be logged, got %q", buf.String())
	}
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Errorf("log leaks the password: %s", buf.String())
	}
}
