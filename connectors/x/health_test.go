package x

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// healthNetwork is fx's network reporting to a HealthRecorder and logging
// JSON into logs.
func healthNetwork(t *testing.T, fx *fixture, logs *connectortest.LogBuffer) (*Network, *connectortest.HealthRecorder) {
	t.Helper()
	h := &connectortest.HealthRecorder{}
	n, err := New(fx.cfg, bridge.Deps{DataDir: fx.dir, Requests: fx.obs, Logger: slog.New(slog.NewJSONHandler(logs, nil)), Health: h})
	if err != nil {
		t.Fatal(err)
	}
	n.backoffMin, n.backoffMax = 5*time.Millisecond, 40*time.Millisecond
	return n, h
}

// listenBackground runs Listen until the test ends.
func listenBackground(t *testing.T, n *Network) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Listen(ctx, connectortest.NewRecordingInbox()) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Finding 5: X unreachable is down with the reason, retried with growing
// capped delays; once mentions arrive it is up.
func TestUnreachableIsDownThenUp(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.fake.FailReads(503, 6, 0, false) // GET /2/users/me fails six times
	logs := &connectortest.LogBuffer{}
	n, h := healthNetwork(t, fx, logs)
	listenBackground(t, n)
	h.WaitFor(t, "x", bridge.HealthDown, "503")
	h.WaitFor(t, "x", bridge.HealthUp, "")
	delays := connectortest.LoggedDelays(logs.String(), msgConnectRetry)
	if len(delays) != 6 {
		t.Fatalf("%d retries logged with their delay, want 6:\n%s", len(delays), logs)
	}
	connectortest.CheckBackoff(t, delays, 5*time.Millisecond, 40*time.Millisecond)
}

// Credentials X refuses for good: down, saying so, and Listen gives up.
func TestRefusedCredentialsAreDown(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.cfg.RefreshToken, fx.cfg.AccessToken = "revoked-token", "stale-access"
	n, h := healthNetwork(t, fx, &connectortest.LogBuffer{})
	if err := n.Listen(context.Background(), connectortest.NewRecordingInbox()); err == nil {
		t.Fatal("Listen with dead credentials returned nil")
	}
	r := h.WaitFor(t, "x", bridge.HealthDown, "refuses our credentials")
	for _, secret := range []string{"revoked-token", "stale-access", clientSecret} {
		if strings.Contains(r.Reason, secret) {
			t.Errorf("the reason shows a secret: %q", r.Reason)
		}
	}
}

// The keyword stream down while mentions arrive is degraded, not down;
// a mentions poll held back by X's rate limit is degraded too.
func TestStreamDownIsDegraded(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund")
	fx.cfg.RequestTimeout = 300 * time.Millisecond
	n, h := healthNetwork(t, fx, &connectortest.LogBuffer{})
	listenBackground(t, n)
	h.WaitFor(t, "x", bridge.HealthUp, "")
	connectortest.WaitFor(t, 10*time.Second, "the stream", n.Connected)
	fx.fake.HangStreamConnects(2)
	fx.fake.DropStreams()
	h.WaitFor(t, "x", bridge.HealthDegraded, "keyword stream down")
	h.WaitFor(t, "x", bridge.HealthUp, "")

	fx2 := newFixture(t)
	fx2.fake.SetRateLimit("GET /2/users/{id}/mentions", 2, time.Minute)
	n2, h2 := healthNetwork(t, fx2, &connectortest.LogBuffer{})
	listenBackground(t, n2)
	h2.WaitFor(t, "x", bridge.HealthDegraded, "rate limit")
}
