package bridge_test

import (
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// Finding 6, in the bridge: Run stops within the budget StopBy gives even
// when a network holds a due reply: the publication is cut short at the
// budget's reserve, its outcome journaled (not sent, so it goes again), and
// the next start publishes it.
func TestRunStopsWithinItsBudget(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand my router is dead")
	tb.MustClaim(v.ID, Ana)
	held := tb.Net.Hold()
	msg := tb.Say(th, Ana, "A technician comes tomorrow.")
	tb.Clock.Advance(11 * time.Second)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the reply was not attempted")
	}

	const budget = 1500 * time.Millisecond
	start := time.Now()
	tb.Bridge.StopBy(start.Add(budget))
	if err := tb.Stop(); err != nil {
		t.Fatal(err)
	}
	// Run's own deadline is the budget: a margin for the scheduler only.
	if took := time.Since(start); took > budget+time.Second {
		t.Errorf("Run took %v to stop, budget %v", took, budget)
	}
	if len(tb.Net.Published()) != 0 {
		t.Fatal("the held reply went out")
	}

	tb.Net.Release()
	after := tb.Restart()
	it, ok := after.OutboxFor(msg)
	if !ok || (it.State != bridge.OutboxQueued && it.State != bridge.OutboxSent) {
		t.Fatalf("after the restart the cut reply is %+v (found %v), want queued to go again", it, ok)
	}
	after.Clock.Advance(time.Minute)
	after.WaitFor("the cut reply to go out", func() bool { return len(after.Net.Published()) == 1 })
}
