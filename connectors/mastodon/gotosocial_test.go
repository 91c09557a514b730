package mastodon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// Findings 1 to 6 of issue 17, each against the fake's GoToSocial mode
// (what GoToSocial built from source did), and what they need of the
// network on any server: no SSE, Idempotency-Key ignored, hashtag streams
// silent, a tag's timeline 404 until the tag exists, plain character
// counting, rate limits with X-RateLimit-Reset.

// gtsFixture is our Network on a fresh fake in GoToSocial mode; reqs
// counts its requests.
func gtsFixture(t *testing.T, opts mastodonfake.Options, cfg Config) (*fixture, *connectortest.RequestCounter) {
	t.Helper()
	opts.Software = mastodonfake.GoToSocial
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 50 * time.Millisecond
	}
	f := mastodonfake.New(opts)
	t.Cleanup(f.Close)
	cfg.Server, cfg.AccessToken = f.URL(), token
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	dir := t.TempDir()
	reqs := &connectortest.RequestCounter{}
	n, err := New(cfg, bridge.Deps{DataDir: dir, Requests: reqs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fake: f, ana: f.AddAccount("ana", "Ana Lima", 42), net: n, dir: dir}, reqs
}

// runListen runs Listen until the test ends (listen also waits for a stream).
func runListen(t *testing.T, fx *fixture) *connectortest.RecordingInbox {
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
	return in
}

// Finding 1: with the default config a GoToSocial account hears its
// mentions (the server has no SSE; its WebSocket works).
func TestGoToSocialDefaultStreamDeliversMentions(t *testing.T) {
	t.Parallel()
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{})
	in := listen(t, fx)
	id := fx.post(t, "@earshot the 8:10 never came", "")
	p := in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
	if !p.MentionsUs || p.Author.Handle != "ana@fake.social" {
		t.Errorf("post = %+v", p)
	}
}

// Finding 2: GoToSocial ignores Idempotency-Key, so the network must not
// say it is Idempotent there; the probe that finds out leaves nothing
// behind.
func TestGoToSocialIdempotencyIsNotAssumed(t *testing.T) {
	t.Parallel()
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket"})
	listen(t, fx)
	if fx.net.Idempotent() {
		t.Error("Idempotent() = true on a server that ignores Idempotency-Key")
	}
	if pub := fx.fake.Published(); len(pub) != 0 {
		t.Errorf("left %d statuses behind: %+v", len(pub), pub)
	}
}

// Finding 2, end to end: the answer to a reply is lost after GoToSocial
// stored it (no answer before the deadline). The outbox shows it as
// uncertain instead of sending the customer the same reply twice.
func TestGoToSocialLostAnswerIsUncertainNotSentTwice(t *testing.T) {
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket", RequestTimeout: time.Second})
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: Name, Mentions: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
				Retry:         bridge.RetryConfig{Attempts: 5, Backoff: 50 * time.Millisecond, MaxWait: 200 * time.Millisecond},
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.fake.Streams() > 0 },
	})
	fx.post(t, "@earshot my refund never came", "")
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, _ := connectortest.ClaimFirstCase(t, b, desk, staff)
	fx.fake.LoseNext(0, 1)
	if err := b.StaffMessage(context.Background(), bridge.StaffMessage{Kind: bridge.MessageNew,
		Thread:  bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Sorry Ana, the refund is on its way.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 15*time.Second, "the reply to settle", func() bool {
		s := desk.MarkOf("S1").State
		return s == bridge.DeliveryUncertain || s == bridge.DeliverySent || s == bridge.DeliveryFailed
	})
	time.Sleep(500 * time.Millisecond) // a retry, were one due, would go out meanwhile
	n := 0
	for _, st := range fx.fake.Published() {
		if strings.Contains(st.Text, "refund is on its way") {
			n++
		}
	}
	if n != 1 || desk.MarkOf("S1").State != bridge.DeliveryUncertain {
		t.Errorf("%d statuses with the reply, mark %+v; want one, shown as uncertain", n, desk.MarkOf("S1"))
	}
}

// Finding 3: a hashtag the server does not know yet (GoToSocial: 404)
// costs a read now and then, not a reconnect spin that spends the
// account's rate limit.
func TestUnknownTagDoesNotSpin(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket", Hashtags: []string{"nobodyusedthis"}})
	runListen(t, fx)
	connectortest.WaitFor(t, 10*time.Second, "the stream", func() bool { return fx.fake.Streams() > 0 })
	time.Sleep(2 * time.Second)
	reads := reqs.Count("mastodon tag_timeline error") + reqs.Count("mastodon tag_timeline ok")
	dials := reqs.Count("mastodon stream ok") + reqs.Count("mastodon stream error") + reqs.Count("mastodon stream rate_limited")
	if reads > 4 || dials > 3 {
		t.Errorf("in 2 s: %d tag timeline reads, %d stream dials; want a handful (counts %v)", reads, dials, reqs.Counts())
	}
}

// Finding 4: the first post that uses a hashtag (the one that makes
// GoToSocial know the tag) is delivered: the tag's starting point was
// noted when the watch started.
func TestGoToSocialFirstKeywordPostDelivered(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket", Hashtags: []string{"brandnewtag"}})
	in := runListen(t, fx)
	connectortest.WaitFor(t, 10*time.Second, "the watch to start", func() bool {
		return fx.fake.Streams() > 0 && reqs.Count("mastodon tag_timeline error")+reqs.Count("mastodon tag_timeline ok") > 0
	})
	id := fx.post(t, "no heating on the 7:42 #brandnewtag", "")
	fx.fake.DropStreams() // a reconnect fills the gap, if nothing else does
	p := in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
	if p.MentionsUs {
		t.Errorf("post = %+v", p)
	}
}

// Finding 6: GoToSocial counts characters as typed (a URL is not 23), so
// a reply that would pass Mastodon's rules but not the server's is refused
// with its count before it is sent, not by the server.
func TestGoToSocialCountsPlainCharacters(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{MaxChars: 100}, Config{Stream: "websocket"})
	if err := fx.net.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("a", 40) + " https://status.example.com/incidents/2026/11/30/signal-x" // 40+1+56: 97 as typed, 64 by Mastodon's rules
	_, err := fx.net.Publish(context.Background(), bridge.Reply{Text: text, To: bridge.Author{Handle: "ana@fake.social"}, IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "97 characters") {
		t.Errorf("Publish = %v; want a refusal counting 97 characters", err)
	}
	if n := reqs.Count("mastodon publish error") + reqs.Count("mastodon publish ok"); n != 0 {
		t.Errorf("%d publish requests reached the server", n)
	}
	if got := fx.net.Limits().Count(text); got != 97 {
		t.Errorf("Limits().Count = %d, want 97 (as typed)", got)
	}
}

// Finding 6: starting up under a spent rate limit waits for the reset the
// server gave, instead of asking again and again.
func TestStartupWaitsForTheRateLimitReset(t *testing.T) {
	t.Parallel()
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket"})
	fx.fake.SetRateLimit(2, 3*time.Second)
	runListen(t, fx)
	time.Sleep(2500 * time.Millisecond)
	if n := fx.fake.RateLimited(); n > 2 {
		t.Errorf("%d requests refused with 429 within one window; want the reset honoured", n)
	}
}

// Finding 6: the WebSocket handshake goes through the transport, so its
// 429 is seen as a rate limit (metrics, and the reset is waited for).
func TestWebSocketDialRateLimitIsSeen(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket"})
	runListen(t, fx)
	connectortest.WaitFor(t, 10*time.Second, "the stream", func() bool { return fx.fake.Streams() > 0 })
	fx.fake.SetRateLimit(1, 4*time.Second)
	req, _ := http.NewRequest(http.MethodGet, fx.fake.URL()+"/api/v1/accounts/verify_credentials", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req) // another client of the account spends the window
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fx.fake.DropStreams()
	connectortest.WaitFor(t, 10*time.Second, "a 429 on the handshake", func() bool { return fx.fake.RateLimited() > 0 })
	time.Sleep(1500 * time.Millisecond)
	if n := reqs.Count("mastodon stream rate_limited"); n != 1 {
		t.Errorf("handshakes refused with 429: %d counted as rate limited; want 1, then the reset waited for (counts %v)", n, reqs.Counts())
	}
}
