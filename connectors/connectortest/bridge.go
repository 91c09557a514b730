package connectortest

import (
	"context"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// BridgeRun says how StartBridge runs the real core for a connector's
// end-to-end test.
type BridgeRun struct {
	// Options for bridge.New; DataDir is a fresh temporary directory when "".
	Options bridge.Options
	// Bind, when set, is called with the new bridge before it runs: for a
	// Commander that needs it (commands.Registry.Bind).
	Bind func(*bridge.Bridge)
	// Ready, when set, is the connector's own readiness (a desk listening,
	// a stream connected) that StartBridge waits for besides the bridge's.
	Ready func() bool
}

// StartBridge makes the real core from r.Options and runs it until the
// test ends (its Run must then end without an error). It returns once the
// bridge and r.Ready say they are ready, within 10 seconds.
func StartBridge(t testing.TB, r BridgeRun) *bridge.Bridge {
	t.Helper()
	if r.Options.DataDir == "" {
		r.Options.DataDir = t.TempDir()
	}
	b, err := bridge.New(r.Options)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bind != nil {
		r.Bind(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge run: %v", err)
		}
	})
	WaitFor(t, 10*time.Second, "bridge ready", func() bool { return b.Ready() && (r.Ready == nil || r.Ready()) })
	return b
}
