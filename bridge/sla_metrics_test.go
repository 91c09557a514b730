package bridge_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// Each SLA breach is counted once, restarts included, and shown in the thread.
func TestSLABreachesCountedOnce(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand no internet")
	// Advancing the clock also wakes the bridge's own SLA watcher: it and
	// the explicit checks race to journal each breach, and a check that
	// finds the breach already recorded must not return before that record
	// is durable and counted (change waits for what it decided on).
	tb.Clock.Advance(16 * time.Minute)
	for range 3 {
		if err := bridge.CheckSLA(tb.Bridge); err != nil {
			t.Fatal(err)
		}
	}
	breaches := func(tb *TestBridge, kind string) float64 {
		return value(tb, "earshot_sla_breaches_total", map[string]string{"queue": "support", "kind": kind})
	}
	if got := breaches(tb, "first_response"); got != 1 {
		t.Fatalf("first-response breaches %v, want 1", got)
	}
	tb.WaitFor("the SLA line", func() bool { return tb.Desk.HasMessage(th.ID, "first response is overdue") })
	c, _ := tb.Case(v.ID)
	if !c.FirstResponseBreached || c.ResolutionBreached {
		t.Errorf("flags %+v", c.Case)
	}
	after := tb.Restart()
	after.Clock.Advance(4 * time.Hour)
	if err := bridge.CheckSLA(after.Bridge); err != nil {
		t.Fatal(err)
	}
	if got := breaches(after, "first_response"); got != 0 {
		t.Errorf("the first-response breach was counted again after a restart (%v)", got)
	}
	if got := breaches(after, "resolution"); got != 1 {
		t.Errorf("resolution breaches %v, want 1", got)
	}
	// An answered case breaches no first-response SLA.
	v2, th2, _ := after.Complain("bo", "@brand hi")
	after.MustClaim(v2.ID, Ana)
	after.Say(th2, Ana, "Hello!")
	after.Clock.Advance(11 * time.Second)
	after.WaitFor("answered", func() bool { c, _ := after.Case(v2.ID); return !c.RespondedAt.IsZero() })
	after.Clock.Advance(time.Hour)
	_ = bridge.CheckSLA(after.Bridge)
	if c, _ := after.Case(v2.ID); c.FirstResponseBreached {
		t.Error("an answered case breached its first-response SLA")
	}
}

// The metrics contract of DESIGN.md: names, types and label names; queue
// depth and the oldest unclaimed age from the state.
func TestMetricsContract(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand one")
	tb.Complain("bo", "@brand two")
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "Hi Ana")
	tb.Clock.Advance(10 * time.Minute)
	tb.WaitFor("sent", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	if _, err := tb.Resolve(ctx, v.ID, Ana, ""); err != nil {
		t.Fatal(err)
	}
	tb.Metrics.ObserveRequest("net", "publish", bridge.OutcomeOK, 30*time.Millisecond)

	want := map[string]struct{ typ, labels string }{
		"earshot_cases": {"GAUGE", "network,queue,status"},
		"earshot_oldest_unclaimed_case_age_seconds": {"GAUGE", "queue"},
		"earshot_posts_total":                       {"COUNTER", "network,result"},
		"earshot_first_response_seconds":            {"HISTOGRAM", "network,queue"},
		"earshot_claim_seconds":                     {"HISTOGRAM", "queue"},
		"earshot_resolution_seconds":                {"HISTOGRAM", "queue"},
		"earshot_replies_total":                     {"COUNTER", "network,result"},
		"earshot_platform_requests_total":           {"COUNTER", "op,outcome,platform"},
		"earshot_platform_request_duration_seconds": {"HISTOGRAM", "op,platform"},
		"earshot_journal_events_total":              {"COUNTER", ""},
		"earshot_journal_fsync_duration_seconds":    {"HISTOGRAM", ""},
		"earshot_queue_sla_seconds":                 {"GAUGE", "kind,queue"},
		"earshot_desk_backlog":                      {"GAUGE", "desk,kind"},
		"earshot_outbox_items":                      {"GAUGE", "network,state"},
		"earshot_rate_limit_wait_seconds_total":     {"COUNTER", "platform"},
		// Incidents (incident_metrics.go).
		"earshot_incidents":                       {"GAUGE", "queue,status"},
		"earshot_incident_cases":                  {"GAUGE", "queue"},
		"earshot_incident_suggestion_age_seconds": {"GAUGE", "queue"},
		"earshot_incident_suggestions_total":      {"COUNTER", "queue"},
		"earshot_incident_replies_total":          {"COUNTER", "network,purpose,result"},
		"earshot_incident_ack_seconds":            {"HISTOGRAM", "queue"},
	}
	fams, err := tb.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		w, ok := want[f.GetName()]
		if !ok {
			if strings.HasPrefix(f.GetName(), "earshot_") && f.GetName() != "earshot_sla_breaches_total" && f.GetName() != "earshot_commands_total" {
				t.Errorf("%s is not in the contract", f.GetName())
			}
			continue
		}
		seen[f.GetName()] = true
		if f.GetType().String() != w.typ {
			t.Errorf("%s is a %s, want %s", f.GetName(), f.GetType(), w.typ)
		}
		for _, m := range f.GetMetric() {
			if got := labelNames(m); got != w.labels {
				t.Errorf("%s has labels %q, want %q", f.GetName(), got, w.labels)
			}
		}
	}
	var missing []string
	for name := range want {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("missing after traffic: %v", missing)
	}
	// Depth: bo's case is new; Ana's is resolved (not counted). Every
	// queue, network and open status has a series, zero or not.
	if got := value(tb, "earshot_cases", map[string]string{"queue": "support", "network": "net", "status": "new"}); got != 1 {
		t.Errorf("new cases %v, want 1", got)
	}
	for _, s := range []string{"claimed", "escalated", "waiting"} {
		if _, ok := metricValue(tb, "earshot_cases", map[string]string{"queue": "billing", "network": "net", "status": s}); !ok {
			t.Errorf("no zero series for billing/%s", s)
		}
	}
	if age := value(tb, "earshot_oldest_unclaimed_case_age_seconds", map[string]string{"queue": "support"}); age != 600 {
		t.Errorf("oldest unclaimed age %v, want 600", age)
	}
	if got := value(tb, "earshot_first_response_seconds", map[string]string{"queue": "support", "network": "net"}); got != 1 {
		t.Errorf("first responses observed %v", got)
	}
	if got := value(tb, "earshot_journal_events_total", nil); got < 5 {
		t.Errorf("journal events %v", got)
	}
}

// A crash cut the journal in the middle of its last record: the bridge
// starts with every complete record, warns, and goes on.
func TestBridgeStartsAfterATornJournal(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	tb.Complain("ana", "@brand one")
	tb.Complain("bo", "@brand two")
	tb.WaitFor("settled", func() bool { return bridge.Idle(tb.Bridge) })
	image := tb.CrashImage()
	segs, _ := filepath.Glob(filepath.Join(image, "journal-*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	data, _ := os.ReadFile(segs[0])
	if err := os.WriteFile(segs[0], data[:len(data)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{}
	after := NewTestBridge(t, WithDataDir(image), NotRunning(), WithLogs(logs))
	if _, ok := after.Case("E-2"); !ok {
		t.Error("the complete records before the torn one are lost")
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Errorf("no warning about the torn record:\n%s", logs.String())
	}
	// Damage in the middle stops start-up.
	data[20] ^= 0xff
	os.WriteFile(segs[0], data, 0o600)
	_, err := bridge.New(bridge.Options{Config: DefaultConfig(), DataDir: image,
		Networks: []bridge.Network{NewNetwork("net")}, Desks: []bridge.Desk{NewDesk("desk")}})
	if err == nil || !strings.Contains(err.Error(), segs[0]) || !strings.Contains(err.Error(), "offset") {
		t.Errorf("damaged journal: %v", err)
	}
}

// syncWriter collects logs from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Bad configs name the problem.
func TestNewRefusesBadWiring(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Queues[0].Desk = "slack"
	cfg.Watch[0].Network = "x"
	_, err := bridge.New(bridge.Options{Config: cfg, Networks: []bridge.Network{NewNetwork("net")}, Desks: []bridge.Desk{NewDesk("desk")}})
	if err == nil || !strings.Contains(err.Error(), `queues[0].desk: no desk named "slack"`) || !strings.Contains(err.Error(), `watch[0].network: no network named "x"`) {
		t.Errorf("err = %v", err)
	}
	_, err = bridge.New(bridge.Options{Config: bridge.Config{}})
	if err == nil || !strings.Contains(err.Error(), "at least one queue") {
		t.Errorf("empty config: %v", err)
	}
}
