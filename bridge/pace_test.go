package bridge_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// paced is a bridge whose network allows 5 publications a minute.
func paced(t *testing.T, opts ...Option) *TestBridge {
	net := NewNetwork("net")
	net.SetBudget(bridge.Budget{Requests: 5, Per: time.Minute})
	return NewTestBridge(t, append([]Option{WithNetwork(net), withIncidents()}, opts...)...)
}

// An acknowledgement to many goes at the network's pace: a window's budget
// at once, then one as each comes back; nothing is attempted early (so no
// 429, no retry, no failure), the card tells when all will be out, and a
// staff member's own reply overtakes the waiting fan-out.
func TestFanOutIsPacedPerNetwork(t *testing.T) {
	t.Parallel()
	tb := paced(t)
	const n = 12
	v, th := declaredOutage(tb, n)
	tb.Say(th.Ref, Ana, "We know; engineers are on it.")
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("the first window's five", func() bool { return len(tb.Net.Published()) == 5 })
	th = incidentThread(tb, v.ID, "the ETA on the card", func(th Thread) bool {
		p := th.Incident.Progress
		return p.Sent == 5 && p.Pending == n-5 && p.ETA > 0
	})
	if eta := th.Incident.Progress.ETA; eta < 80*time.Second || eta > 85*time.Second {
		t.Errorf("ETA %v, want 7 more at one per 12 s (84 s)", eta)
	}
	if got := len(tb.Net.Attempts()); got != 5 {
		t.Fatalf("%d attempts, want 5: the rest wait for their turn", got)
	}

	// A claimer's own reply, written now, goes before the waiting fan-out.
	mine, mth, _ := tb.Complain("zoe", "@brand where is my refund")
	tb.MustClaim(mine.ID, Bea)
	m := tb.Say(mth, Bea, "Your refund left today.")
	tb.Clock.Advance(10 * time.Second) // its undo window
	tb.Clock.Advance(2 * time.Second)  // one turn
	tb.WaitFor("Bea's reply", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	if got := len(tb.Net.Published()); got != 6 {
		t.Errorf("%d published, want 6: the turn went to the staff reply", got)
	}
	for k := 0; len(tb.Net.Published()) < n+1 && k < 100; k++ {
		tb.Clock.Advance(12 * time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	tb.WaitFor("everyone", func() bool { return len(tb.Net.Published()) == n+1 })
	if got := len(tb.Net.Attempts()); got != n+1 {
		t.Errorf("%d attempts for %d publications", got, n+1)
	}
}

// A network that says "rate limited, wait" holds its whole lane until
// then: the other waiting items are not attempted (each would earn a 429
// and burn a try).
func TestRateLimitHoldsTheLane(t *testing.T) {
	t.Parallel()
	net := NewNetwork("net")
	net.SetBudget(bridge.Budget{Requests: 1, Per: time.Second})
	tb := NewTestBridge(t, WithNetwork(net), withIncidents())
	v, th := declaredOutage(tb, 6)
	tb.Net.FailNext(bridge.Retryable(errors.New("429"), time.Minute))
	tb.Say(th.Ref, Ana, "We know.")
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("the first attempt answered", func() bool {
		it := incidentItems(tb, v.ID)
		return len(it) == 6 && it[0].State == bridge.OutboxQueued && it[0].Attempts == 1
	})
	// The budget would allow one a second; the network said a minute.
	for range 5 {
		tb.Clock.Advance(10 * time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(tb.Net.Attempts()); got != 1 {
		t.Errorf("%d attempts during the network's hold, want 1", got)
	}
	for k := 0; k < 50 && len(tb.Net.Published()) < 6; k++ {
		tb.Clock.Advance(2 * time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	tb.WaitFor("everyone", func() bool { v, _ := tb.Incident(string(v.ID)); return v.Progress.Sent == 6 })
	if got := len(tb.Net.Attempts()); got != 7 {
		t.Errorf("%d attempts, want 7 (one 429, then six)", got)
	}
}

// incidentItems lists incident id's outbox items, by id.
func incidentItems(tb *TestBridge, id bridge.IncidentID) []bridge.OutboxItem {
	var out []bridge.OutboxItem
	for k := 1; k < 1000; k++ {
		it, ok := tb.Outbox(fmt.Sprintf("ob-%d", k))
		if !ok {
			break
		}
		if it.Incident == id {
			out = append(out, it)
		}
	}
	return out
}

// The config may pace a network lower than it allows, not higher.
func TestPacingConfig(t *testing.T) {
	t.Parallel()
	lower := paced(t, WithConfig(func(c *bridge.Config) { c.Pacing = map[string]bridge.Budget{"net": {Requests: 2, Per: time.Minute}} }))
	if got := lower.Budgets()["net"]; got != (bridge.Budget{Requests: 2, Per: time.Minute}) {
		t.Errorf("lower budget: %v", got)
	}
	higher := paced(t, WithConfig(func(c *bridge.Config) { c.Pacing = map[string]bridge.Budget{"net": {Requests: 50, Per: time.Minute}} }))
	if got := higher.Budgets()["net"]; got != (bridge.Budget{Requests: 5, Per: time.Minute}) {
		t.Errorf("a budget above the network's was used: %v", got)
	}
	errs := bridge.Config{Queues: DefaultConfig().Queues, Pacing: map[string]bridge.Budget{"net": {Requests: 0, Per: time.Minute}}}.Validate()
	if len(errs) != 1 || errs[0].Error() != "outbox.pacing.net: requests and per must both be positive" {
		t.Errorf("validation: %v", errs)
	}
}
