package bridge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// listedCommander is a Commander that names its commands.
type listedCommander struct{}

func (listedCommander) Run(context.Context, bridge.Invocation) bridge.Response {
	return bridge.Response{OK: true, Command: "claim"}
}
func (listedCommander) CommandNames() []string { return []string{"claim", "resolve"} }

// Finding 3: every counter and histogram whose labels the config decides
// exists at zero before its first event, so increase() sees a burst from
// zero (a series born at 12 shows an increase of 0), and the SLA targets
// are series of their own.
func TestSeriesExistAtZeroFromTheStart(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b, err := bridge.New(bridge.Options{Config: DefaultConfig(), Networks: []bridge.Network{NewNetwork("net")},
		Desks: []bridge.Desk{NewDesk("desk")}, Metrics: bridge.NewMetrics(reg), Commander: listedCommander{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tb := &TestBridge{Bridge: b, T: t, Registry: reg}
	zero := []struct {
		name   string
		labels map[string]string
	}{
		{"earshot_replies_total", map[string]string{"network": "net", "result": "failed"}},
		{"earshot_replies_total", map[string]string{"network": "net", "result": "uncertain"}},
		{"earshot_replies_total", map[string]string{"network": "net", "result": "sent"}},
		{"earshot_posts_total", map[string]string{"network": "net", "result": "opened"}},
		{"earshot_posts_total", map[string]string{"network": "net", "result": "ignored"}},
		{"earshot_sla_breaches_total", map[string]string{"queue": "support", "kind": "first_response"}},
		{"earshot_sla_breaches_total", map[string]string{"queue": "billing", "kind": "resolution"}},
		{"earshot_first_response_seconds", map[string]string{"queue": "billing", "network": "net"}},
		{"earshot_claim_seconds", map[string]string{"queue": "support"}},
		{"earshot_resolution_seconds", map[string]string{"queue": "billing"}},
		{"earshot_commands_total", map[string]string{"desk": "desk", "command": "resolve", "result": "refused"}},
		{"earshot_commands_total", map[string]string{"desk": "desk", "command": "unknown", "result": "error"}},
		{"earshot_rate_limit_wait_seconds_total", map[string]string{"platform": "net"}},
		{"earshot_rate_limit_wait_seconds_total", map[string]string{"platform": "desk"}},
		{"earshot_desk_backlog", map[string]string{"desk": "desk", "kind": "new_card"}},
		{"earshot_desk_backlog", map[string]string{"desk": "desk", "kind": "retry"}},
		{"earshot_outbox_items", map[string]string{"network": "net", "state": "due"}},
		{"earshot_outbox_items", map[string]string{"network": "net", "state": "attempting"}},
	}
	for _, z := range zero {
		if _, ok := metricValue(tb, z.name, z.labels); !ok {
			t.Errorf("%s%v does not exist before its first event", z.name, z.labels)
		} else if v := value(tb, z.name, z.labels); v != 0 {
			t.Errorf("%s%v = %v before any event", z.name, z.labels, v)
		}
	}
	targets := map[[2]string]float64{
		{"support", "first_response"}: 900, {"support", "resolution"}: 4 * 3600, {"billing", "first_response"}: 3600,
	}
	for k, want := range targets {
		if got := value(tb, "earshot_queue_sla_seconds", map[string]string{"queue": k[0], "kind": k[1]}); got != want {
			t.Errorf("earshot_queue_sla_seconds{queue=%q,kind=%q} = %v, want %v", k[0], k[1], got, want)
		}
	}
	if _, ok := metricValue(tb, "earshot_queue_sla_seconds", map[string]string{"queue": "billing", "kind": "resolution"}); ok {
		t.Error("billing has no resolution target, yet it has a series")
	}
}

// The backlog gauges count what waits: cards to open, threads to update,
// desk calls to retry; replies in their undo window, due, being published.
func TestBacklogMetrics(t *testing.T) {
	t.Parallel()
	// No desk workers run: every case waits for its card.
	idle := NewTestBridge(t, NotRunning())
	for _, who := range []string{"ana", "bo", "cy"} {
		if err := idle.Bridge.Post(context.Background(), Mention(Customer(who), "@brand help")); err != nil {
			t.Fatal(err)
		}
	}
	if got := value(idle, "earshot_desk_backlog", map[string]string{"desk": "desk", "kind": "new_card"}); got != 3 {
		t.Errorf("new cards waiting = %v, want 3", got)
	}

	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand where is my refund")
	tb.MustClaim(v.ID, Ana)
	tb.Say(th, Ana, "We are on it.")
	outbox := func(state string) float64 {
		return value(tb, "earshot_outbox_items", map[string]string{"network": "net", "state": state})
	}
	tb.WaitFor("the reply waits in its undo window", func() bool { return outbox("waiting") == 1 })
	// A card the desk refused to open waits for its retry (on the test's clock).
	tb.Desk.FailNext(errors.New("desk down"))
	if err := tb.Bridge.Post(context.Background(), Mention(Customer("bo"), "@brand me too")); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the failed card waits for its retry", func() bool {
		return value(tb, "earshot_desk_backlog", map[string]string{"desk": "desk", "kind": "retry"}) == 1
	})
	held := tb.Net.Hold()
	tb.Clock.Advance(11 * time.Second)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the reply was not attempted")
	}
	if got, w := outbox("attempting"), outbox("waiting"); got != 1 || w != 0 {
		t.Errorf("attempting %v waiting %v, want 1 and 0", got, w)
	}
	tb.Net.Release()
	tb.WaitFor("the outbox empties", func() bool { return outbox("attempting") == 0 && outbox("due") == 0 })
}

// Connectors' rate-limit waits add up per platform.
func TestRateLimitWaitsAreCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := bridge.NewMetrics(reg)
	bridge.ObserveWait(m, "slack", 1500*time.Millisecond)
	bridge.ObserveWait(m, "slack", 500*time.Millisecond)
	bridge.ObserveWait(bridge.NopObserver{}, "slack", time.Second) // counts nothing, panics not
	tb := &TestBridge{T: t, Registry: reg}
	if got := value(tb, "earshot_rate_limit_wait_seconds_total", map[string]string{"platform": "slack"}); got != 2 {
		t.Errorf("slack waited %vs, want 2", got)
	}
}
