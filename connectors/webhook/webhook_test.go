package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

const secret = "wh-secret-9f8e7d"

type fixture struct {
	site *webhookfake.Site
	net  *webhook.Network
	srv  *httptest.Server
	obs  *connectortest.RequestCounter
}

func newFixture(t *testing.T, mod func(*webhook.Config, *bridge.Deps)) *fixture {
	t.Helper()
	site := webhookfake.New(webhookfake.Options{Secret: secret})
	t.Cleanup(site.Close)
	cfg := webhook.Config{Secret: secret, ReplyURL: site.ReplyURL() + "?token=url-token-55", RequestTimeout: 5 * time.Second}
	obs := &connectortest.RequestCounter{}
	deps := bridge.Deps{Requests: obs, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg, &deps)
	}
	n, err := webhook.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := connectortest.ServeRoutes(t, n)
	site.SetTarget(srv.URL)
	return &fixture{site: site, net: n, srv: srv, obs: obs}
}

var ana = webhookfake.Author{ID: "ana", Handle: "ana_l", Name: "Ana Lima", Followers: 12}

func (fx *fixture) post(t testing.TB, text string, o webhookfake.PostOptions) string {
	t.Helper()
	p, res, err := fx.site.Post(context.Background(), ana, text, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("post answered %d %s", res.Status, res.Body)
	}
	return fx.site.Source() + "/" + p.ID
}

func unprefix(id string) string {
	_, raw, _ := strings.Cut(id, "/")
	return raw
}

func harness() connectortest.NetworkHarness {
	return connectortest.NetworkHarness{New: func(t *testing.T) *connectortest.NetworkEnv {
		fx := newFixture(t, nil)
		src := fx.site.Source() + "/"
		return &connectortest.NetworkEnv{
			Network:   fx.net,
			Secrets:   []string{secret, "url-token-55"},
			Listening: fx.net.Listening,
			Mention:   func(t testing.TB, text string) string { return fx.post(t, text, webhookfake.PostOptions{}) },
			Reply: func(t testing.TB, inReplyTo, text string) string {
				return fx.post(t, text, webhookfake.PostOptions{InReplyTo: unprefix(inReplyTo)})
			},
			Published: func(t testing.TB) []connectortest.Published {
				var out []connectortest.Published
				for _, r := range fx.site.Replies() {
					p := connectortest.Published{ID: src + r.ID, Text: r.Text, Direct: r.Private}
					if r.InReplyTo != "" && !r.Private {
						p.InReplyTo = src + r.InReplyTo
					}
					if r.Private {
						p.To = src + r.To.ID
					}
					out = append(out, p)
				}
				return out
			},
			Fail: func(t testing.TB, status, n int, wait time.Duration) { fx.site.FailNext(status, n, wait) },
			DM:   true,
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
	connectortest.WaitFor(t, 5*time.Second, "listen", fx.net.Listening)
	return in
}

func TestInboundMapsEveryField(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	in := listen(t, fx)
	body := `{"id":"42","author":{"id":"u9","handle":"bob","name":"Bob","url":"https://site.example/u/bob",
	  "avatar":"https://site.example/a.png","followers":7},"text":"refund please","url":"https://site.example/p/42",
	  "in_reply_to":"41","conversation":"40","lang":"en","created_at":"2026-11-23T10:00:00Z"}`
	res, err := fx.site.Send(context.Background(), "", []byte(body))
	if err != nil || res.Status != 200 {
		t.Fatalf("send: %v %+v", err, res)
	}
	got := in.Posts()[0]
	want := bridge.Post{Network: "webhook", ID: "reviews/42",
		Author: bridge.Author{ID: "reviews/u9", Handle: "bob", Name: "Bob", URL: "https://site.example/u/bob", Avatar: "https://site.example/a.png", Followers: 7},
		Text:   "refund please", URL: "https://site.example/p/42", InReplyTo: "reviews/41", Conversation: "reviews/40", Lang: "en",
		CreatedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), MentionsUs: true,
		Ref: map[string]string{"source": "reviews", "id": "42", "conversation": "reviews/40"}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("post\n got %s\nwant %s", gj, wj)
	}
}

func TestInboundRejections(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	fx := newFixture(t, func(c *webhook.Config, d *bridge.Deps) { c.MaxBody = 1024; d.Now = func() time.Time { return now } })
	in := listen(t, fx)
	ctx := context.Background()
	good := []byte(`{"id":"1","author":{"id":"a"},"text":"hi"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := webhookfake.Sign(secret, "reviews", ts, good)

	cases := []struct {
		name      string
		body      []byte
		ts, sig   string
		status    int
		wantField string
	}{
		{"no signature", good, "", "", 401, ""},
		{"wrong secret", good, ts, webhookfake.Sign("other", "reviews", ts, good), 401, ""},
		{"tampered body", []byte(`{"id":"1","author":{"id":"a"},"text":"hI"}`), ts, sig, 401, ""},
		{"stale", good, strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), webhookfake.Sign(secret, "reviews", strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), good), 401, ""},
		{"future", good, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), webhookfake.Sign(secret, "reviews", strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), good), 401, ""},
		{"oversized", []byte(`{"id":"1","author":{"id":"a"},"text":"` + strings.Repeat("x", 2000) + `"}`), ts, "", 413, ""},
	}
	for _, tc := range cases {
		sig := tc.sig
		if tc.status == 413 {
			sig = webhookfake.Sign(secret, "reviews", ts, tc.body)
		}
		res, err := fx.site.SendSigned(ctx, "", tc.body, tc.ts, sig)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, res.Status, res.Body, tc.status)
		}
		if strings.Contains(res.Body, secret) {
			t.Errorf("%s: answer leaks the secret", tc.name)
		}
	}
	malformed := []struct{ body, field string }{
		{`{"id":"1","author":{"id":"a"}}`, "text"},
		{`{"author":{"id":"a"},"text":"x"}`, "id"},
		{`{"id":"1","text":"x"}`, "author.id"},
		{`{"id":1,"author":{"id":"a"},"text":"x"}`, "id"},
		{`{"id":"1","author":{"id":"a","followers":"many"},"text":"x"}`, "author.followers"},
		{`{"id":"1","author":{"id":"a","followers":-1},"text":"x"}`, "author.followers"},
		{`{"id":"1","author":{"id":"a"},"text":"x","created_at":"yesterday"}`, "created_at"},
		{`{"id":"1","author":{"id":"a"},"text":"x","url":"javascript:alert(1)"}`, "url"},
		{`{"id":"1","author":{"id":"a"},"text":"x"} {}`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, m := range malformed {
		res, err := fx.site.SendSigned(ctx, "", []byte(m.body), ts, webhookfake.Sign(secret, "reviews", ts, []byte(m.body)))
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ Error, Field string }
		_ = json.Unmarshal([]byte(res.Body), &a)
		if res.Status != 400 || a.Field != m.field || a.Error == "" {
			t.Errorf("body %q: %d field=%q error=%q, want 400 naming %q", m.body, res.Status, a.Field, a.Error, m.field)
		}
	}
	if n := len(in.Posts()); n != 0 {
		t.Errorf("%d posts delivered from rejected requests", n)
	}
	// The good one: accepted; the same request again gets the same answer;
	// the same post signed anew is answered "duplicate".
	ts2 := strconv.FormatInt(now.Add(time.Second).Unix(), 10)
	for i, send := range []struct{ ts, sig, want string }{
		{ts, sig, "accepted"}, {ts, sig, "accepted"}, {ts2, webhookfake.Sign(secret, "reviews", ts2, good), "duplicate"},
	} {
		res, _ := fx.site.SendSigned(ctx, "", good, send.ts, send.sig)
		if res.Status != 200 || !strings.Contains(res.Body, send.want) {
			t.Errorf("send %d: %d %s, want 200 %s", i, res.Status, res.Body, send.want)
		}
	}
	if n := len(in.Posts()); n != 1 {
		t.Errorf("%d posts delivered, want 1", n)
	}
}

func TestInboundNotListeningAndUnknownSource(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) {
		c.Sources = []webhook.SourceConfig{{Name: "reviews"}}
	})
	_, res, err := fx.site.Post(context.Background(), ana, "hello", webhookfake.PostOptions{})
	if err != nil || res.Status != http.StatusServiceUnavailable {
		t.Fatalf("before Listen: %v %+v, want 503", err, res)
	}
	other := webhookfake.New(webhookfake.Options{Source: "appstore", Secret: secret, Target: fx.srv.URL})
	t.Cleanup(other.Close)
	listen(t, fx)
	if _, res, _ := other.Post(context.Background(), ana, "hello", webhookfake.PostOptions{}); res.Status != 404 {
		t.Errorf("unknown source: %d, want 404", res.Status)
	}
}

func TestInboundDeliveryFailureIsRetriable(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	in := listen(t, fx)
	in.PostErr = errors.New("journal full")
	body := []byte(`{"id":"7","author":{"id":"a"},"text":"hi"}`)
	if res, _ := fx.site.Send(context.Background(), "", body); res.Status != 500 {
		t.Errorf("inbox failure: %d, want 500", res.Status)
	}
	in.PostErr = nil
	if res, _ := fx.site.Send(context.Background(), "", body); res.Status != 200 || !strings.Contains(res.Body, "accepted") {
		t.Errorf("retry after failure: %d %s, want accepted", res.Status, res.Body)
	}
}

func TestPublishTimeoutAfterSendIsMaybeSentAndKeyed(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) { c.RequestTimeout = 300 * time.Millisecond })
	in := listen(t, fx)
	id := fx.post(t, "where is my parcel", webhookfake.PostOptions{})
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	r := bridge.Reply{Case: "E-9", Network: "webhook", InReplyTo: p.ID, InRef: p.Ref, To: p.Author, Text: "On its way", IdempotencyKey: "k-77"}

	fx.site.DropNext(1)
	_, err := fx.net.Publish(context.Background(), r)
	pe := bridge.AsPublishError(err)
	if err == nil || !pe.MaybeSent || !pe.Retryable {
		t.Fatalf("timeout after send: %v (MaybeSent=%v Retryable=%v), want maybe sent and retryable", err, pe.MaybeSent, pe.Retryable)
	}
	if strings.Contains(err.Error(), "url-token-55") || strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks a secret: %v", err)
	}
	if !fx.net.Idempotent() {
		t.Fatal("webhook network must be Idempotent (Idempotency-Key)")
	}
	ref, err := fx.net.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	reps := fx.site.Replies()
	if len(reps) != 1 || reps[0].Deliveries != 2 || "reviews/"+reps[0].ID != ref.ID {
		t.Errorf("replies %+v, want one reply delivered twice under one key, id %s", reps, ref.ID)
	}
	if got := fx.obs.Count("webhook publish ok") + fx.obs.Count("webhook publish error"); got != 2 {
		t.Errorf("observed %d publish attempts, want 2", got)
	}
}

func TestPublishWithoutReplyURLIsPermanent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) { c.ReplyURL = "" })
	_, err := fx.net.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: "reviews/1", To: bridge.Author{ID: "reviews/a"}, Text: "hi", IdempotencyKey: "k"})
	pe := bridge.AsPublishError(err)
	if err == nil || pe.Retryable || !strings.Contains(pe.Reason, "reply_url") {
		t.Errorf("no reply_url: %v, want a permanent error naming reply_url", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []webhook.Config{
		{},
		{Secret: "s", ReplyURL: "ftp://x"},
		{Sources: []webhook.SourceConfig{{Name: "Bad Name", Secret: "s"}}},
		{Sources: []webhook.SourceConfig{{Name: "a"}}},
		{Secret: "s", Sources: []webhook.SourceConfig{{Name: "a"}, {Name: "a"}}},
	} {
		if _, err := webhook.New(c, bridge.Deps{}); err == nil {
			t.Errorf("New(%+v) accepted", c)
		} else if strings.Contains(err.Error(), "\"s\"") {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
}

// slowInbox blocks Post until released; entered receives once per Post
// that has started.
type slowInbox struct {
	*connectortest.RecordingInbox
	entered chan struct{}
	release chan struct{}
}

func (s slowInbox) Post(ctx context.Context, p bridge.Post) error {
	s.entered <- struct{}{}
	<-s.release
	return s.RecordingInbox.Post(ctx, p)
}

func TestConcurrentDuplicatesAcceptOnce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	in := slowInbox{connectortest.NewRecordingInbox(), make(chan struct{}, 4), make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.net.Listen(ctx, in) }()
	t.Cleanup(func() { cancel(); <-done })
	connectortest.WaitFor(t, 5*time.Second, "listen", fx.net.Listening)

	body := []byte(`{"id":"dup","author":{"id":"a"},"text":"hi"}`)
	first := make(chan webhookfake.Result, 1)
	go func() { r, _ := fx.site.Send(context.Background(), "", body); first <- r }()
	// The second copy arrives while the first is being journaled (only
	// once the first is inside Post, so the second cannot be the one to block).
	select {
	case <-in.entered:
	case <-time.After(5 * time.Second):
		close(in.release)
		t.Fatal("the first copy never reached the inbox")
	}
	if second, _ := fx.site.Send(context.Background(), "", body); second.Status != http.StatusConflict {
		t.Errorf("second copy while the first is in flight: %+v, want 409", second)
	}
	close(in.release)
	if r := <-first; r.Status != 200 || !strings.Contains(r.Body, "accepted") {
		t.Errorf("first: %+v", r)
	}
	later := strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10) // signed anew: not the same request
	if r, _ := fx.site.SendSigned(context.Background(), "", body, later, webhookfake.Sign(secret, "reviews", later, body)); r.Status != 200 || !strings.Contains(r.Body, "duplicate") {
		t.Errorf("after: %+v, want 200 duplicate", r)
	}
	if n := len(in.Posts()); n != 1 {
		t.Errorf("%d posts delivered, want 1", n)
	}
}

func TestFakeReceiverChecksSignatureAndKey(t *testing.T) {
	t.Parallel()
	site := webhookfake.New(webhookfake.Options{Secret: "right"})
	t.Cleanup(site.Close)
	events := site.Subscribe()
	n, err := webhook.New(webhook.Config{Secret: "wrong", ReplyURL: site.ReplyURL()}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: "reviews/1", To: bridge.Author{ID: "reviews/a"}, Text: "hi", IdempotencyKey: "k"})
	pe := bridge.AsPublishError(err)
	if err == nil || pe.Retryable || !strings.Contains(pe.Reason, "401") || len(site.Replies()) != 0 {
		t.Errorf("a wrongly signed reply: %v; the fake must refuse it", err)
	}
	if e := <-events; e.Kind != "rejected" {
		t.Errorf("event %+v, want rejected", e)
	}
}
