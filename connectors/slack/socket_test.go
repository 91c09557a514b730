package slack_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// The fake drops the socket (disconnect envelope, then close); the desk
// reconnects by itself and misses nothing said meanwhile.
func TestSocketReconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	th, err := e.desk.OpenThread(context.Background(), channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	e.fake.Say(staffID, channel, th.ID, "before")
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Text == "before" })
	e.fake.DropSockets()
	e.fake.Say(staffID, channel, th.ID, "while away")
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Text == "while away" })
	if e.fake.Connects() < 2 {
		t.Errorf("%d socket connections, want a reconnect", e.fake.Connects())
	}
}

// Wrong tokens: Check fails without echoing them, and Listen's retries log
// no secret.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	f, err := slackfake.New(slackfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	logs := &connectortest.LogBuffer{}
	cfg := slack.Config{BotToken: "xoxb-wrong-bot-token-123", AppToken: "xapp-wrong-app-token-456", APIURL: f.APIURL()}
	d, err := slack.New(cfg, bridge.Deps{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Check(context.Background())
	if err == nil {
		t.Fatal("Check passed with a wrong token")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := d.Listen(ctx, connectortest.NewRecordingInbox()); err != nil {
		t.Errorf("Listen returned %v when its context ended", err)
	}
	for _, s := range []string{cfg.BotToken, cfg.AppToken} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Errorf("secret %q leaked: err %q logs %q", s, err, logs.String())
		}
	}
	if _, err := slack.New(slack.Config{BotToken: "x", Mode: "carrier-pigeon"}, bridge.Deps{}); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if _, err := slack.New(slack.Config{BotToken: "x"}, bridge.Deps{}); err == nil {
		t.Error("socket mode without an app token was accepted")
	}
}

// When chat.postEphemeral is refused (the user is unknown to the channel),
// the answer goes to the command's response_url instead.
func TestPrivateAnswerFallsBackToResponseURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	in := connectortest.NewRecordingInbox()
	in.Respond = func(inv bridge.Invocation) bridge.Response {
		return bridge.Response{Private: true, Text: "nothing to claim"}
	}
	listen(t, e.desk, in)
	e.fake.Slash("U9GHOST", channel, "/claim", "")
	connectortest.WaitFor(t, 10*time.Second, "the answer by response_url", func() bool {
		for _, eph := range e.fake.Ephemerals("U9GHOST") {
			if eph.Text == "nothing to claim" {
				return true
			}
		}
		return false
	})
}

// A message, its edit and its delete reach the bridge in that order even
// when they arrive back to back.
func TestThreadMessagesKeepOrder(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"socket", "http"} {
		e := newEnv(t, envOpts{mode: mode})
		in := connectortest.NewRecordingInbox()
		listen(t, e.desk, in)
		th, err := e.desk.OpenThread(context.Background(), channel, connectortest.SuiteCase("E-1"))
		if err != nil {
			t.Fatal(err)
		}
		const n = 10
		for range n {
			ts := e.fake.Say(staffID, channel, th.ID, "v1")
			_ = e.fake.Edit(channel, ts, "v2")
			_ = e.fake.Delete(channel, ts)
		}
		connectortest.WaitFor(t, 10*time.Second, "every change", func() bool { return len(in.StaffMessages()) == 3*n })
		kinds := map[string][]bridge.MessageKind{}
		for _, m := range in.StaffMessages() {
			kinds[m.Message.ID] = append(kinds[m.Message.ID], m.Kind)
		}
		for id, k := range kinds {
			if len(k) != 3 || k[0] != bridge.MessageNew || k[1] != bridge.MessageEdited || k[2] != bridge.MessageDeleted {
				t.Errorf("%s: message %s changes arrived as %v", mode, id, k)
			}
		}
	}
}

func TestCheckAndMetrics(t *testing.T) {
	t.Parallel()
	f, err := slackfake.New(slackfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	obs := &connectortest.RequestCounter{}
	d, err := slack.New(slack.Config{BotToken: f.Options().BotToken, AppToken: f.Options().AppToken, APIURL: f.APIURL()},
		bridge.Deps{Logger: quietLogger(), Requests: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	f.FailNext(429, 1, time.Millisecond)
	if _, err := d.OpenThread(context.Background(), "C1", connectortest.SuiteCase("E-1")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"slack auth.test ok", "slack apps.connections.open ok", "slack chat.postMessage rate_limited", "slack chat.postMessage ok"} {
		if obs.Count(k) != 1 {
			t.Errorf("%q observed %d times, want 1", k, obs.Count(k))
		}
	}
	bad, _ := slack.New(slack.Config{BotToken: f.Options().BotToken, AppToken: "xapp-wrong", APIURL: f.APIURL()}, bridge.Deps{Logger: quietLogger()})
	if err := bad.Check(context.Background()); err == nil || strings.Contains(err.Error(), "xapp-wrong") {
		t.Errorf("Check with a wrong app token: %v", err)
	}
}

// Socket Mode redelivers envelopes not acknowledged in time; the desk hands
// each event over once (event_id dedupe).
func TestSocketRedeliveryDeduped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{ackWait: time.Microsecond})
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	th, err := e.desk.OpenThread(context.Background(), channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		e.fake.Say(staffID, channel, th.ID, "line "+string(rune('a'+i)))
	}
	connectortest.WaitFor(t, 10*time.Second, "every line", func() bool { return len(in.StaffMessages()) >= n })
	time.Sleep(200 * time.Millisecond) // let duplicates show if they pass
	if got := len(in.StaffMessages()); got != n {
		t.Errorf("%d staff messages, want %d", got, n)
	}
	if e.fake.Redelivered() == 0 {
		t.Log("the fake redelivered nothing this time: dedupe not exercised")
	}
}

// After a restart the desk no longer remembers which mark it showed: it
// reads the reactions back and still leaves exactly one mark.
func TestMarkAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	th, err := e.desk.OpenThread(ctx, channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	ts := e.fake.Say(staffID, channel, th.ID, "hello")
	m := bridge.MessageRef{Desk: "slack", Channel: channel, Thread: th.ID, ID: ts, Author: staffID}
	if err := e.desk.Mark(ctx, m, bridge.Delivery{State: bridge.DeliveryFailed, Reason: "down", Retry: "ob-1"}); err != nil {
		t.Fatal(err)
	}
	fresh, err := slack.New(e.cfg, bridge.Deps{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Mark(ctx, m, bridge.Delivery{State: bridge.DeliverySent, Link: "https://x.example/1"}); err != nil {
		t.Fatal(err)
	}
	msg, _ := e.fake.Message(channel, ts)
	if len(msg.Reactions) != 1 || msg.Reactions[0].Name != "white_check_mark" {
		t.Errorf("reactions after restart: %+v, want only the sent mark", msg.Reactions)
	}
}
