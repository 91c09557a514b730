package connectortest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
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
	b, _ := StartStoppableBridge(t, r)
	return b
}

// StartStoppableBridge is StartBridge that also returns stop, which ends
// the bridge's Run (a clean shutdown) and waits for it, for tests that
// restart a bridge on the same data directory. Calling stop is optional
// and safe more than once.
func StartStoppableBridge(t testing.TB, r BridgeRun) (*bridge.Bridge, func()) {
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
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bridge run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	WaitFor(t, 10*time.Second, "bridge ready", func() bool { return b.Ready() && (r.Ready == nil || r.Ready()) })
	return b, stop
}

// CrashImage copies the files of data directory dir as they are on disk
// now: a bridge opened on the copy restarts after a crash at this moment.
func CrashImage(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// ClaimFirstCase waits (within 10 seconds) for the first case thread desk
// shows, claims its case on b as staff, and returns the thread id and the
// card as it was opened.
func ClaimFirstCase(t testing.TB, b *bridge.Bridge, desk *RecordingDesk, staff bridge.Staff) (string, bridge.CaseView) {
	t.Helper()
	WaitFor(t, 10*time.Second, "a case thread", func() bool { return len(desk.Threads()) > 0 })
	thread := desk.Threads()[0]
	cv, _ := desk.Card(thread)
	if _, err := b.Claim(context.Background(), cv.ID, staff); err != nil {
		t.Fatalf("claim %s: %v", cv.ID, err)
	}
	return thread, cv
}
