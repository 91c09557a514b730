package slack_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// Slack's published example ("Verifying requests from Slack").
const (
	exampleSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTS     = "1531420618"
	exampleBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

var exampleNow = time.Unix(1531420618, 0).Add(30 * time.Second)

func TestVerifySignatureSlackExample(t *testing.T) {
	t.Parallel()
	if err := slack.VerifySignature(exampleSecret, exampleTS, exampleSig, []byte(exampleBody), exampleNow); err != nil {
		t.Fatalf("Slack's own example refused: %v", err)
	}
	cases := []struct {
		name, secret, ts, sig, body string
		now                         time.Time
	}{
		{"wrong secret", "not-the-secret", exampleTS, exampleSig, exampleBody, exampleNow},
		{"stale", exampleSecret, exampleTS, exampleSig, exampleBody, exampleNow.Add(6 * time.Minute)},
		{"from the future", exampleSecret, exampleTS, exampleSig, exampleBody, exampleNow.Add(-6 * time.Minute)},
		{"missing timestamp", exampleSecret, "", exampleSig, exampleBody, exampleNow},
		{"missing signature", exampleSecret, exampleTS, "", exampleBody, exampleNow},
		{"tampered body", exampleSecret, exampleTS, exampleSig, strings.Replace(exampleBody, "roadrunner", "coyote", 1), exampleNow},
		{"no v0 prefix", exampleSecret, exampleTS, strings.TrimPrefix(exampleSig, "v0="), exampleBody, exampleNow},
		{"garbage timestamp", exampleSecret, "soon", exampleSig, exampleBody, exampleNow},
	}
	for _, c := range cases {
		err := slack.VerifySignature(c.secret, c.ts, c.sig, []byte(c.body), c.now)
		if !errors.Is(err, slack.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", c.name, err)
		}
	}
}

// routeEnv is a desk in http mode with an injected clock, its routes on a
// test server, and a log buffer.
type routeEnv struct {
	desk *slack.Desk
	srv  *httptest.Server
	logs *connectortest.LogBuffer
	in   *connectortest.RecordingInbox
}

func newRouteEnv(t *testing.T, secret string, now time.Time, in bridge.Inbox) (*routeEnv, *slackfake.Fake) {
	t.Helper()
	f, err := slackfake.New(slackfake.Options{SigningSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddUser(slackfake.User{ID: staffID, Name: "ana", DisplayName: staffName})
	logs := &connectortest.LogBuffer{}
	d, err := slack.New(slack.Config{BotToken: f.Options().BotToken, SigningSecret: secret, Mode: "http", APIURL: f.APIURL()},
		bridge.Deps{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := connectortest.ServeRoutes(t, d)
	if in != nil {
		listen(t, d, in)
	}
	return &routeEnv{desk: d, srv: srv, logs: logs}, f
}

func (e *routeEnv) post(t *testing.T, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func signed(secret string, ts time.Time, body string) map[string]string {
	s := strconv.FormatInt(ts.Unix(), 10)
	return map[string]string{"X-Slack-Request-Timestamp": s, "X-Slack-Signature": slackfake.Sign(secret, ts.Unix(), []byte(body))}
}

func TestRoutesRefuseBadSignatures(t *testing.T) {
	t.Parallel()
	e, _ := newRouteEnv(t, exampleSecret, exampleNow, nil)
	ok := map[string]string{"X-Slack-Request-Timestamp": exampleTS, "X-Slack-Signature": exampleSig}
	for _, path := range []string{"/slack/events", "/slack/commands", "/slack/interactive"} {
		cases := map[string]struct {
			body string
			hdr  map[string]string
		}{
			"wrong secret":    {exampleBody, signed("other-secret", exampleNow, exampleBody)},
			"stale":           {exampleBody, signed(exampleSecret, exampleNow.Add(-6*time.Minute), exampleBody)},
			"missing headers": {exampleBody, nil},
			"tampered body":   {exampleBody + "&x=1", ok},
		}
		for name, c := range cases {
			if resp := e.post(t, path, c.body, c.hdr); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d, want 401", path, name, resp.StatusCode)
			}
		}
	}
	// Slack's example itself passes the check (503: not listening yet, so Slack retries).
	if resp := e.post(t, "/slack/commands", exampleBody, ok); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("valid example: status %d, want 503 while not listening", resp.StatusCode)
	}
	// Oversized bodies are refused before anything is parsed.
	big := strings.Repeat("a", 2<<20)
	if resp := e.post(t, "/slack/events", big, signed(exampleSecret, exampleNow, big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), exampleSecret) {
		t.Error("the signing secret appears in the logs")
	}
}

func TestURLVerification(t *testing.T) {
	t.Parallel()
	e, _ := newRouteEnv(t, "s3cret", exampleNow, nil)
	body := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	resp := e.post(t, "/slack/events", body, signed("s3cret", exampleNow, body))
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(got) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification answered %d %q", resp.StatusCode, got)
	}
	if resp := e.post(t, "/slack/events", body, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned url_verification answered %d, want 401", resp.StatusCode)
	}
}

// blockingInbox holds every staff message until released.
type blockingInbox struct {
	*connectortest.RecordingInbox
	release chan struct{}
}

func (b *blockingInbox) StaffMessage(ctx context.Context, m bridge.StaffMessage) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return b.RecordingInbox.StaffMessage(ctx, m)
}

func TestEventsAckFirstAndDedupe(t *testing.T) {
	t.Parallel()
	in := &blockingInbox{RecordingInbox: connectortest.NewRecordingInbox(), release: make(chan struct{})}
	now := time.Now()
	e, _ := newRouteEnv(t, "s3cret", now, in)
	body := `{"type":"event_callback","event_id":"Ev1","team_id":"T0FAKE","event":{"type":"message","channel":"C1","user":"` + staffID +
		`","text":"hello &lt;b&gt;","ts":"1700000001.000200","thread_ts":"1700000000.000100"}}`
	// The ack comes back while the bridge is still busy with the message.
	if resp := e.post(t, "/slack/events", body, signed("s3cret", now, body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("event answered %d", resp.StatusCode)
	}
	// Slack's retry of the same event is acknowledged and dropped.
	h := signed("s3cret", now, body)
	h["X-Slack-Retry-Num"] = "1"
	if resp := e.post(t, "/slack/events", body, h); resp.StatusCode != http.StatusOK {
		t.Fatalf("retry answered %d", resp.StatusCode)
	}
	close(in.release)
	m := connectortest.WaitStaffMessage(t, in.RecordingInbox, func(bridge.StaffMessage) bool { return true })
	if m.Text != "hello <b>" || m.Thread.ID != "1700000000.000100" || m.Staff.Name != staffName {
		t.Errorf("staff message %+v", m)
	}
	time.Sleep(100 * time.Millisecond) // give a wrongly duplicated delivery the chance to show
	if n := len(in.StaffMessages()); n != 1 {
		t.Errorf("%d staff messages delivered, want 1 (event_id dedupe)", n)
	}
}
