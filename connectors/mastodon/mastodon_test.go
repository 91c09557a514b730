package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gomastodon "github.com/mattn/go-mastodon"
	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const token = "earshot-token"

type fixture struct {
	fake *mastodonfake.Server
	ana  mastodonfake.Account
	net  *Network
	dir  string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return newFixtureOn(t, mastodonfake.Options{}, cfg)
}

// newFixtureOn is newFixture on a fake with opts (GoToSocial mode, say).
func newFixtureOn(t *testing.T, opts mastodonfake.Options, cfg Config) *fixture {
	t.Helper()
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 50 * time.Millisecond
	}
	f := mastodonfake.New(opts)
	t.Cleanup(f.Close)
	cfg.Server = f.URL()
	if cfg.AccessToken == "" {
		cfg.AccessToken = token
	}
	cfg.RequestTimeout = 5 * time.Second
	dir := t.TempDir()
	n, err := New(cfg, bridge.Deps{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fake: f, ana: f.AddAccount("ana", "Ana Lima", 42), net: n, dir: dir}
}

func (fx *fixture) post(t testing.TB, text, inReplyTo string) string {
	t.Helper()
	st, err := fx.fake.Post(fx.ana.ID, text, mastodonfake.PostOptions{InReplyTo: inReplyTo})
	if err != nil {
		t.Fatalf("customer post: %v", err)
	}
	return st.ID
}

func harness(software, stream string) connectortest.NetworkHarness {
	return connectortest.NetworkHarness{New: func(t *testing.T) *connectortest.NetworkEnv {
		fx := newFixtureOn(t, mastodonfake.Options{Software: software}, Config{Stream: stream})
		f := fx.fake
		return &connectortest.NetworkEnv{
			Network:   fx.net,
			Secrets:   []string{token},
			Listening: func() bool { return f.Streams() > 0 },
			Mention: func(t testing.TB, text string) string {
				return fx.post(t, "@earshot "+text, "")
			},
			Reply: func(t testing.TB, inReplyTo, text string) string {
				return fx.post(t, "@earshot "+text, inReplyTo)
			},
			Published: func(t testing.TB) []connectortest.Published {
				var out []connectortest.Published
				for _, st := range f.Published() {
					p := connectortest.Published{ID: st.ID, InReplyTo: st.InReplyTo, Text: st.Text, Direct: st.Visibility == "direct"}
					if p.Direct && len(st.Mentions) > 0 {
						p.To = st.Mentions[0].ID
					}
					out = append(out, p)
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

func TestNetworkSuiteSSE(t *testing.T) {
	connectortest.RunNetworkSuite(t, harness(mastodonfake.Mastodon, "sse"))
}

func TestNetworkSuiteWebSocket(t *testing.T) {
	connectortest.RunNetworkSuite(t, harness(mastodonfake.Mastodon, "websocket"))
}

// The same suite against GoToSocial's behaviour, with the default config.
func TestNetworkSuiteGoToSocial(t *testing.T) {
	connectortest.RunNetworkSuite(t, harness(mastodonfake.GoToSocial, ""))
}

func listen(t *testing.T, fx *fixture) *connectortest.RecordingInbox {
	t.Helper()
	in := runListen(t, fx)
	connectortest.WaitFor(t, 5*time.Second, "stream", func() bool { return fx.fake.Streams() > 0 })
	return in
}

// Disconnect in the middle of a stream: nothing missed, nothing twice.
func TestDisconnectMidStreamNothingMissedNothingTwice(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 40 {
			id := fx.post(t, fmt.Sprintf("@earshot complaint %d", i), "")
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
		in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
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

// A restart resumes from the last notification kept in the data dir.
func TestRestartResumesFromDataDir(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	connectortest.WaitFor(t, 5*time.Second, "stream", func() bool { return fx.fake.Streams() > 0 })
	first := fx.post(t, "@earshot one", "")
	in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == first })
	cancel()
	<-done
	connectortest.WaitFor(t, 5*time.Second, "stream closed", func() bool { return fx.fake.Streams() == 0 })

	missed1 := fx.post(t, "@earshot while down 1", "")
	missed2 := fx.post(t, "@earshot while down 2", "")

	n2, err := New(Config{Server: fx.fake.URL(), AccessToken: token}, bridge.Deps{DataDir: fx.dir})
	if err != nil {
		t.Fatal(err)
	}
	fx2 := &fixture{fake: fx.fake, ana: fx.ana, net: n2, dir: fx.dir}
	in2 := listen(t, fx2)
	in2.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == missed1 })
	in2.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == missed2 })
	for _, p := range in2.Posts() {
		if p.ID == first {
			t.Errorf("post %s delivered again after restart", first)
		}
	}
}

func TestIdempotencyKeyPublishesOnce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	id := fx.post(t, "@earshot hello", "")
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	r := bridge.Reply{Network: Name, InReplyTo: p.ID, To: p.Author, Text: "Hi!", IdempotencyKey: "out-1"}
	a, err := fx.net.Publish(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.net.Publish(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || len(fx.fake.Published()) != 1 {
		t.Errorf("two attempts with one key gave %s and %s, %d statuses", a.ID, b.ID, len(fx.fake.Published()))
	}
	if got := fx.fake.Published()[0].Text; got != "@ana@fake.social Hi!" {
		t.Errorf("published %q, want the customer's handle first", got)
	}
	if !fx.net.Idempotent() {
		t.Error("Idempotent() = false")
	}
}

func TestHashtagStreamDeliversKeywordPosts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Hashtags: []string{"#TrainFail"}})
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	t.Cleanup(func() { cancel(); <-done })
	connectortest.WaitFor(t, 5*time.Second, "two streams", func() bool { return fx.fake.Streams() == 2 })
	id := fx.post(t, "again no heating #trainfail", "")
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	if p.MentionsUs || p.Text != "again no heating #trainfail" {
		t.Errorf("keyword post = %+v", p)
	}
}

func TestInstanceLimitIsRead(t *testing.T) {
	t.Parallel()
	f := mastodonfake.New(mastodonfake.Options{MaxChars: 1000})
	t.Cleanup(f.Close)
	n, err := New(Config{Server: f.URL(), AccessToken: token}, bridge.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Limits().Max; got != defaultMaxChars-mentionReserve {
		t.Errorf("before connecting Max = %d", got)
	}
	if err := n.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := n.Limits().Max; got != 1000-mentionReserve {
		t.Errorf("Max = %d, want %d", got, 1000-mentionReserve)
	}
}

func TestCheckWithBadTokenHidesIt(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{AccessToken: "s3cr3t-wrong-token"})
	err := fx.net.Check(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Check = %v; want an error without the token", err)
	}
	_, err = fx.net.Publish(context.Background(), bridge.Reply{Text: "x", To: bridge.Author{Handle: "ana"}})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Publish with a bad token = %#v", err)
	}
}

func TestCountChars(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{"hello", 5},
		{"see https://example.com/a/very/long/path/that/goes/on?and=on", 4 + 23},
		{"@ana@mastodon.social hi", 4 + 3},
		{"@ana hi", 7},
		{"email me: ana@example.com", 25},
		{"日本語", 3},
		{"👍🏽", 2}, // code points, as Mastodon counts
		{"e\u0301", 2},
	} {
		if got := CountChars(c.text); got != c.want {
			t.Errorf("CountChars(%q) = %d, want %d", c.text, got, c.want)
		}
		if got := mastodonfake.CountChars(c.text); got != c.want {
			t.Errorf("fake CountChars(%q) = %d, want %d", c.text, got, c.want)
		}
	}
}

func TestPlainText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<p>Hello <span class="h-card"><a href="https://x/@earshot" class="u-url mention">@<span>earshot</span></a></span> my train</p>`, "Hello @earshot my train"},
		{`<p>one</p><p>two<br />three</p>`, "one\n\ntwo\nthree"},
		{`<p>5 &lt; 6 &amp; &quot;ok&quot;</p>`, `5 < 6 & "ok"`},
		{`<p>see <a href="https://e.com/x"><span class="invisible">https://</span><span>e.com/x</span></a></p>`, "see https://e.com/x"},
		{`plain`, "plain"},
		{`<p>unclosed <b>bold`, "unclosed bold"},
		{`<script>alert(1)</script><p>x</p>`, "x"},
	} {
		if got := PlainText(c.in); got != c.want {
			t.Errorf("PlainText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSSEReader(t *testing.T) {
	in := ":)\n\n:thump\n\nevent: update\ndata: {\"a\":1}\n\nevent: notification\r\ndata: line1\r\ndata: line2\r\n\r\nevent: delete\ndata: 12"
	r := newSSEReader(strings.NewReader(in))
	var got []sseEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []sseEvent{{"update", `{"a":1}`}, {"notification", "line1\nline2"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v (a cut-off last event is dropped)", got, want)
	}
}

func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("event: update\ndata: {}\n\n"))
	f.Add([]byte(":thump\n\nevent: notification\ndata: {\"id\":\"1\"}\n\n"))
	f.Add([]byte("data: a\ndata: b\n\n\n\nevent"))
	f.Add([]byte("event: update\ndata: {\"id\":\"5\",\"account\":{\"id\":\"1\"},\"content\":\"<p>hi</p>\"}\n\n"))
	f.Add([]byte("event: notification\ndata: {\"id\":\"9\",\"type\":\"mention\",\"status\":{\"id\":\"6\",\"content\":\"x\",\"mentions\":[{\"id\":\"1\"}]}}\n\n"))
	n := offlineNetwork(f)
	in := connectortest.NewRecordingInbox()
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newSSEReader(strings.NewReader(string(b)))
		for range 10000 {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if ev.Event == "" {
				t.Fatal("event without a name")
			}
			// Every decoded event goes through the stream's handler: no panic.
			n.handle(context.Background(), in, "user", "", ev)
			n.handle(context.Background(), in, "hashtag", "tag", ev)
		}
	})
}

// offlineNetwork is a Network that knows itself but reaches nothing (a
// closed port), for fuzzing the event handling without a server.
func offlineNetwork(t testing.TB) *Network {
	n, err := New(Config{Server: "http://127.0.0.1:1", AccessToken: token, RequestTimeout: 100 * time.Millisecond},
		bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.me = &gomastodon.Account{ID: "1", Acct: "earshot"}
	n.server = serverInfo{Software: softwareMastodon, Version: "4.3.0", Domain: "fake.social", MaxChars: 500}
	n.isDetected = true
	return n
}

func FuzzDecodeWSMessage(f *testing.F) {
	f.Add([]byte(`{"stream":["user"],"event":"update","payload":"{\"id\":\"1\"}"}`))
	f.Add([]byte(`{"event":"notification","payload":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeWSMessage(b)
		if err == nil && ev.Event == "" {
			t.Fatal("decoded without an event")
		}
	})
}

func FuzzPlainText(f *testing.F) {
	f.Add(`<p>Hello <a href="x">@<span>earshot</span></a></p>`)
	f.Add(`<p>a<br>b</p><p>c</p>`)
	f.Add(`<<<>>>&amp;&#x1F600;`)
	f.Fuzz(func(t *testing.T, s string) {
		out := PlainText(s)
		if strings.Contains(out, "\n\n\n") {
			t.Errorf("PlainText(%q) = %q keeps runs of blank lines", s, out)
		}
	})
}

func BenchmarkPlainText(b *testing.B) {
	html := `<p><span class="h-card"><a href="https://fake.social/@earshot" class="u-url mention">@<span>earshot</span></a></span> my train was cancelled again &amp; no refund, see <a href="https://example.com/x"><span class="invisible">https://</span><span>example.com/x</span></a></p><p>third time this week <a href="https://fake.social/tags/trainfail" class="mention hashtag" rel="tag">#<span>trainfail</span></a></p>`
	b.ReportAllocs()
	for b.Loop() {
		_ = PlainText(html)
	}
}

func TestCustomerDirectMessageArrivesDirect(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	st, err := fx.fake.Post(fx.ana.ID, "@earshot my booking is ABC123", mastodonfake.PostOptions{Visibility: "direct"})
	if err != nil {
		t.Fatal(err)
	}
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == st.ID })
	if !p.Direct || !p.MentionsUs || p.Author.Handle != "ana@fake.social" || p.Author.Followers != 42 || p.Author.Avatar == "" {
		t.Errorf("DM post = %+v", p)
	}
}

func TestFakeChangeFeedAndValidation(t *testing.T) {
	t.Parallel()
	f := mastodonfake.New(mastodonfake.Options{MaxChars: 20})
	defer f.Close()
	ev := f.Subscribe()
	a := f.AddAccount("bob", "Bob", 1)
	if _, err := f.Post(a.ID, "@earshot hi", mastodonfake.PostOptions{}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for range 2 {
		select {
		case e := <-ev:
			kinds[e.Kind] = true
		case <-time.After(5 * time.Second):
			t.Fatal("no change event")
		}
	}
	if !kinds["status"] || !kinds["notification"] {
		t.Errorf("events %v", kinds)
	}
	if _, err := f.Post(a.ID, strings.Repeat("x", 21), mastodonfake.PostOptions{}); err == nil {
		t.Error("the fake accepted a status over its limit")
	}
	if _, err := f.Post(a.ID, "see https://example.com/a/very/long/link/indeed", mastodonfake.PostOptions{}); err == nil {
		t.Error("URL should count 23: 4+23 > 20")
	}
}

// Every call runs under a deadline: a slow instance gives a retryable,
// possibly-sent error (the Idempotency-Key makes the retry safe).
func TestSlowInstanceTimesOut(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.net.cfg.RequestTimeout = 50 * time.Millisecond
	fx.fake.SetLatency(400 * time.Millisecond)
	_, err := fx.net.Publish(context.Background(), bridge.Reply{Text: "hi", To: bridge.Author{Handle: "ana@fake.social"}, IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || !pe.MaybeSent {
		t.Errorf("slow publish = %#v", err)
	}
	if a, ok := fx.fake.Lookup("@ana@fake.social"); !ok || a.ID != fx.ana.ID {
		t.Errorf("Lookup = %+v %v", a, ok)
	}
}

// More mentions than one page arrive while down: the gap fill pages forward
// from the kept id and delivers each exactly once, oldest first.
func TestGapFillPagesForward(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	connectortest.WaitFor(t, 5*time.Second, "stream", func() bool { return fx.fake.Streams() > 0 })
	seed := fx.post(t, "@earshot first", "")
	in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == seed })
	cancel()
	<-done
	connectortest.WaitFor(t, 5*time.Second, "stream closed", func() bool { return fx.fake.Streams() == 0 })

	var ids []string
	for i := range 95 {
		ids = append(ids, fx.post(t, fmt.Sprintf("@earshot down %d", i), ""))
	}
	n2, err := New(Config{Server: fx.fake.URL(), AccessToken: token}, bridge.Deps{DataDir: fx.dir})
	if err != nil {
		t.Fatal(err)
	}
	in2 := listen(t, &fixture{fake: fx.fake, net: n2})
	connectortest.WaitFor(t, 10*time.Second, "95 posts", func() bool { return len(in2.Posts()) >= 95 })
	got := in2.Posts()
	if len(got) != 95 {
		t.Fatalf("delivered %d posts, want 95", len(got))
	}
	for i, p := range got {
		if p.ID != ids[i] {
			t.Fatalf("post %d is %s, want %s (oldest first, once each)", i, p.ID, ids[i])
		}
	}
}

// A mention inside someone else's thread we never saw: the root comes from
// the status context.
func TestConversationRootFromContext(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	in := listen(t, fx)
	bob := fx.fake.AddAccount("bob", "Bob", 3)
	root, _ := fx.fake.Post(bob.ID, "trains are late today", mastodonfake.PostOptions{})
	mid, _ := fx.fake.Post(bob.ID, "still late", mastodonfake.PostOptions{InReplyTo: root.ID})
	id := fx.post(t, "@earshot same here", mid.ID)
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	if p.Conversation != root.ID || p.InReplyTo != mid.ID || p.ReplyToUs {
		t.Errorf("post = %+v; want conversation %s", p, root.ID)
	}
}

// A half-open stream (silent, not closed) is noticed and replaced; the
// mention posted meanwhile arrives through the gap fill, once.
func TestSilentStreamIsReplaced(t *testing.T) {
	for _, mode := range []string{"sse", "websocket"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, Config{Stream: mode})
			fx.net.idle = 300 * time.Millisecond
			in := listen(t, fx)
			fx.fake.StallStreams()
			id := fx.post(t, "@earshot anyone there?", "")
			p := in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
			if !p.MentionsUs {
				t.Errorf("post = %+v", p)
			}
		})
	}
}

// Secrets never reach the logs, even while every call fails.
func TestLogsCarryNoToken(t *testing.T) {
	t.Parallel()
	f := mastodonfake.New(mastodonfake.Options{})
	t.Cleanup(f.Close)
	var buf connectortest.LogBuffer
	n, err := New(Config{Server: f.URL(), AccessToken: "s3cr3t-token-value", RequestTimeout: time.Second},
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
		t.Errorf("log leaks the token: %s", buf.String())
	}
	_, err = n.Publish(context.Background(), bridge.Reply{Text: strings.Repeat("x", 500), To: bridge.Author{Handle: "a"}})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Publish = %v", err)
	}
}

func TestOverLimitSaysCountAndLimit(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("a", 460) + " https://example.com/" + strings.Repeat("x", 100)
	_, err := fx.net.Publish(context.Background(), bridge.Reply{Text: text, To: bridge.Author{Handle: "ana@fake.social"}})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "484 characters") || !strings.Contains(pe.Reason, "468") {
		t.Errorf("over limit = %v", err)
	}
	if len(fx.fake.Published()) != 0 {
		t.Error("an over-limit reply reached the instance")
	}
}

// A hashtag stream that drops (or a restart) misses no keyword post: the
// tag's timeline since the newest status seen fills the gap, once.
func TestHashtagGapFilledAfterDropAndRestart(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Hashtags: []string{"trainfail"}})
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	connectortest.WaitFor(t, 5*time.Second, "two streams", func() bool { return fx.fake.Streams() == 2 })
	byID := func(id string) func(bridge.Post) bool { return func(p bridge.Post) bool { return p.ID == id } }
	ids := []string{fx.post(t, "cold again #trainfail", "")}
	in.WaitPost(t, 5*time.Second, byID(ids[0]))
	fx.fake.DropStreams()
	// Posted while no hashtag stream is open: only the gap fill can bring it.
	ids = append(ids, fx.post(t, "45 minutes late #trainfail", ""))
	connectortest.WaitFor(t, 5*time.Second, "streams back", func() bool { return fx.fake.Streams() == 2 })
	ids = append(ids, fx.post(t, "and now cancelled #trainfail", ""))
	for _, id := range ids {
		in.WaitPost(t, 5*time.Second, byID(id))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 5*time.Second, "streams closed", func() bool { return fx.fake.Streams() == 0 })

	down := fx.post(t, "while earshot was down #trainfail", "")
	n2, err := New(Config{Server: fx.fake.URL(), AccessToken: token, Hashtags: []string{"trainfail"}}, bridge.Deps{DataDir: fx.dir})
	if err != nil {
		t.Fatal(err)
	}
	in2 := listen(t, &fixture{fake: fx.fake, net: n2, dir: fx.dir})
	in2.WaitPost(t, 5*time.Second, byID(down))
	count := map[string]int{}
	for _, p := range append(in.Posts(), in2.Posts()...) {
		count[p.ID]++
	}
	for _, id := range append(ids, down) {
		if count[id] != 1 {
			t.Errorf("keyword post %s delivered %d times, want once", id, count[id])
		}
	}
}

// The instance's own validation (a 422, here after an admin lowered the
// limit Earshot read at start) reaches staff in the instance's words, and
// is not retried.
func TestInstanceValidationErrorReachesStaff(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.fake.SetMaxChars(100)
	_, err := fx.net.Publish(context.Background(), bridge.Reply{Text: strings.Repeat("a", 200), To: bridge.Author{Handle: "ana@fake.social"}, IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "character limit of 100") || !strings.Contains(pe.Reason, "422") {
		t.Errorf("422 from the instance: %v; want a permanent error quoting the instance", err)
	}
	if len(fx.fake.Published()) != 0 {
		t.Error("the instance stored a post it refused")
	}
}

// The fake's GoToSocial mode does what GoToSocial did when observed.
func TestFakeGoToSocialMode(t *testing.T) {
	t.Parallel()
	f := mastodonfake.New(mastodonfake.Options{Software: mastodonfake.GoToSocial, NotifyDelay: 20 * time.Millisecond})
	t.Cleanup(f.Close)
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, f.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/api/v1/streaming/user"); code != http.StatusNotFound {
		t.Errorf("SSE answered %d, want 404", code)
	}
	if code := get("/api/v1/timelines/tag/fresh"); code != http.StatusNotFound {
		t.Errorf("an unknown tag's timeline answered %d, want 404", code)
	}
	ana := f.AddAccount("ana", "Ana", 1)
	if _, err := f.Post(ana.ID, "first #fresh "+strings.Repeat("x", 4900), mastodonfake.PostOptions{}); err != nil {
		t.Errorf("5000 characters are allowed: %v", err)
	}
	if code := get("/api/v1/timelines/tag/fresh"); code != http.StatusOK {
		t.Errorf("a used tag's timeline answered %d", code)
	}
	if _, err := f.Post(ana.ID, "see https://example.com/"+strings.Repeat("y", 4990), mastodonfake.PostOptions{}); err == nil {
		t.Error("a URL counted 23 instead of as typed")
	}
	// Idempotency-Key is ignored: one key, two statuses.
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/api/v1/statuses", strings.NewReader("status=hello"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Idempotency-Key", "same")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := len(f.Published()); n != 2 {
		t.Errorf("two posts with one Idempotency-Key made %d statuses, want 2", n)
	}
	// Notifications become visible a moment after their status.
	if _, err := f.Post(ana.ID, "@earshot hello", mastodonfake.PostOptions{}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 5*time.Second, "the notification", func() bool {
		req, _ := http.NewRequest(http.MethodGet, f.URL()+"/api/v1/notifications", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var notes []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&notes)
		return len(notes) == 1
	})
}
