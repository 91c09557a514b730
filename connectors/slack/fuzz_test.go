package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// fuzz_test.go fuzzes what Slack sends us as a whole: the HTTP routes
// (Events API, slash commands, interactivity) past the signature, and
// Socket Mode envelopes through slack-go's socket client, each seeded with
// the envelopes slackfake delivered for a real flow.

// captureFlow runs a staff flow against a listening desk (a card, a press,
// a thread message edited and deleted, slash commands) and returns what the
// fake delivered for it.
func captureFlow(tb testing.TB, e *env) []slackfake.Delivery {
	tb.Helper()
	th, err := e.desk.OpenThread(context.Background(), channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		tb.Fatal(err)
	}
	before := len(e.fake.Delivered())
	if err := e.fake.Press(staffID, channel, th.ID, "earshot:claim", ""); err != nil {
		tb.Fatal(err)
	}
	ts := e.fake.Say(staffID, channel, th.ID, "Sorry Ana &lt;3 a new parcel is on its way")
	_ = e.fake.Edit(channel, ts, "Sorry Ana, a new parcel is on its way today")
	_ = e.fake.Delete(channel, ts)
	e.fake.Slash(staffID, channel, "/earshot", "reply E-1 \"quoted\" text")
	e.fake.Slash(staffID, channel, "/claim", "E-1")
	if err := e.fake.Press(staffID, channel, th.ID, "earshot:escalate", "billing"); err != nil {
		e.fake.Slash(staffID, channel, "/escalate", "E-1 billing")
	}
	const want = 7
	connectortest.WaitFor(tb, 10*time.Second, "the flow's deliveries", func() bool { return len(e.fake.Delivered())-before >= want })
	return e.fake.Delivered()[before:]
}

// FuzzHTTPRoutes: any body on any of the three routes, signed or not, gets
// a documented answer (never a 5xx but 503, never 401 when signed) and
// never a panic, on a listening desk whose handlers run on after the ack.
func FuzzHTTPRoutes(f *testing.F) {
	clock := atomic.Int64{}
	clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	e := newEnv(f, envOpts{mode: "http", now: now})
	connectortest.RunListen(f, e.desk, connectortest.NopInbox{}, e.desk.Listening)
	paths := []string{"/slack/events", "/slack/commands", "/slack/interactive"}
	for _, d := range captureFlow(f, e) {
		for i, p := range paths {
			if p == d.Path {
				f.Add(uint8(i), d.Body, true)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"token":"x","challenge":"c","type":"url_verification"}`), true)
	f.Add(uint8(1), []byte("command=%2Fearshot&text=%FF"), true)
	f.Add(uint8(2), []byte("payload=%7B%7D"), false)
	routes := e.desk.Routes()
	secret := e.cfg.SigningSecret
	f.Fuzz(func(t *testing.T, route uint8, body []byte, sign bool) {
		// Each request at its own minute: replays of earlier inputs are
		// still exercised (the same input twice in a row), memory stays flat.
		at := time.Unix(clock.Add(61), 0)
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if sign {
			for k, v := range signed(secret, at, string(body)) {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		routes["POST "+path].ServeHTTP(rec, req)
		switch code := rec.Code; {
		case !sign && code != http.StatusUnauthorized:
			t.Fatalf("unsigned %s answered %d", path, code)
		case sign && code != http.StatusOK && code != http.StatusBadRequest && code != http.StatusConflict && code != http.StatusServiceUnavailable:
			t.Fatalf("signed %s answered %d %q for %q", path, code, rec.Body, body)
		}
	})
}

// FuzzSocketEnvelopes: any envelope (valid JSON) written on the Socket Mode
// connection is read by slack-go and handled by the desk without a panic
// and without stopping the read loop: an envelope sent after it is still
// acknowledged.
func FuzzSocketEnvelopes(f *testing.F) {
	e := newEnv(f, envOpts{})
	connectortest.RunListen(f, e.desk, connectortest.NopInbox{}, e.desk.Listening)
	for _, d := range captureFlow(f, e) {
		if len(d.Frame) > 0 {
			f.Add(d.Frame)
		}
	}
	f.Add([]byte(`{"type":"hello","num_connections":1}`))
	f.Add([]byte(`{"envelope_id":"x","type":"slash_commands","payload":{"command":7}}`))
	f.Add([]byte(`{"envelope_id":"y","type":"interactive","payload":{"type":"block_actions","actions":[{}]}}`))
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, frame []byte) {
		var head struct {
			Type string `json:"type"`
		}
		if !json.Valid(frame) || (json.Unmarshal(frame, &head) == nil && strings.EqualFold(head.Type, "disconnect")) {
			return // not an envelope slack-go can read whole, or a reconnect: nothing of ours to test
		}
		deadline := time.Now().Add(15 * time.Second)
		for e.fake.SendRaw(frame) != nil {
			if time.Now().After(deadline) {
				t.Fatal("no Socket Mode connection")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The read loop is in order: once an envelope sent after the
		// frame is acknowledged, the frame was handled.
		for {
			id := fmt.Sprintf("sentinel-%d", seq.Add(1))
			sentinel := fmt.Sprintf(`{"envelope_id":%q,"type":"events_api","accepts_response_payload":false,`+
				`"payload":{"type":"event_callback","event_id":"Ev%s","event":{"type":"reaction_added"}}}`, id, id)
			if e.fake.SendRaw([]byte(sentinel)) == nil {
				wait := time.Now().Add(500 * time.Millisecond)
				for !e.fake.Acked(id) && time.Now().Before(wait) {
					time.Sleep(time.Millisecond)
				}
				if e.fake.Acked(id) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the desk stopped reading envelopes after %q", frame)
			}
		}
	})
}
