package discord_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
)

// Finding 5: a reset bot token makes the desk report itself down with the
// reason, retrying with growing, capped delays; the gateway refusing the
// token after a drop is down too; both come back up once the token works.
func TestRefusedTokenIsDownAndBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.fake.SetToken("reset-elsewhere")
	logs := &connectortest.LogBuffer{}
	health := &connectortest.HealthRecorder{}
	d, err := discord.New(e.cfg, bridge.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Health: health})
	if err != nil {
		t.Fatal(err)
	}
	const minWait, maxWait = 5 * time.Millisecond, 40 * time.Millisecond
	discord.SetBackoff(d, backoff.Policy{Min: minWait, Max: maxWait})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, connectortest.NewRecordingInbox()) }()
	defer func() {
		cancel()
		<-done
	}()

	health.WaitFor(t, "discord", bridge.HealthDown, "401")
	connectortest.WaitFor(t, 20*time.Second, "six retries", func() bool {
		return len(connectortest.LoggedDelays(logs.String(), discord.MsgAuthRetry)) >= 6
	})
	connectortest.CheckBackoff(t, connectortest.LoggedDelays(logs.String(), discord.MsgAuthRetry), minWait, maxWait)

	e.fake.SetToken(e.cfg.Token)
	health.WaitFor(t, "discord", bridge.HealthUp, "")

	// The gateway drops and then refuses the token: down until it works.
	e.fake.SetToken("reset-again")
	e.fake.DropConnections()
	health.WaitFor(t, "discord", bridge.HealthDown, "gateway")
	e.fake.SetToken(e.cfg.Token)
	health.WaitFor(t, "discord", bridge.HealthUp, "")
}
