package slack_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/slack"
)

// Finding 5: a refused bot token makes the desk report itself down with
// the reason, and it tries again with jittered, capped, growing delays
// (it retried every 2 s forever, saying nothing); once the token works
// again it reports up.
func TestRefusedTokenIsDownAndBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.fake.SetTokens("xoxb-rotated-elsewhere", "")
	logs := &connectortest.LogBuffer{}
	health := &connectortest.HealthRecorder{}
	d, err := slack.New(e.cfg, bridge.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Health: health})
	if err != nil {
		t.Fatal(err)
	}
	const minWait, maxWait = 5 * time.Millisecond, 40 * time.Millisecond
	slack.SetBackoff(d, backoff.Policy{Min: minWait, Max: maxWait})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, connectortest.NewRecordingInbox()) }()
	defer func() {
		cancel()
		<-done
	}()

	r := health.WaitFor(t, "slack", bridge.HealthDown, "invalid_auth")
	if strings.Contains(r.Reason, e.cfg.BotToken) {
		t.Errorf("the reason shows the token: %q", r.Reason)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(connectortest.LoggedDelays(logs.String(), slack.MsgAuthRetry)) < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	delays := connectortest.LoggedDelays(logs.String(), slack.MsgAuthRetry)
	if len(delays) < 6 {
		t.Fatalf("only %d retries logged with their delay:\n%s", len(delays), logs)
	}
	connectortest.CheckBackoff(t, delays, minWait, maxWait)

	e.fake.SetTokens(e.cfg.BotToken, "")
	health.WaitFor(t, "slack", bridge.HealthUp, "")
	if !d.Listening() {
		t.Error("reported up but not listening")
	}
}

// The app token refused by Socket Mode is down too, with its own reason.
func TestRefusedAppTokenIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.fake.SetTokens("", "xapp-rotated-elsewhere")
	health := &connectortest.HealthRecorder{}
	d, err := slack.New(e.cfg, bridge.Deps{Logger: quietLogger(), Health: health})
	if err != nil {
		t.Fatal(err)
	}
	slack.SetBackoff(d, backoff.Policy{Min: 5 * time.Millisecond, Max: 40 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, connectortest.NewRecordingInbox()) }()
	defer func() {
		cancel()
		<-done
	}()
	health.WaitFor(t, "slack", bridge.HealthDown, "socket mode")
	e.fake.SetTokens("", e.cfg.AppToken)
	health.WaitFor(t, "slack", bridge.HealthUp, "")
}
