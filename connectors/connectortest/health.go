package connectortest

// health.go holds what connector tests use to check a connector's health
// reports and its reconnect delays.

import (
	"bufio"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// HealthRecorder is a bridge.HealthReporter that keeps every report in
// order. The zero value is ready. Safe for concurrent use.
type HealthRecorder struct {
	mu      sync.Mutex
	reports []bridge.HealthReport
	changed chan struct{}
}

var _ bridge.HealthReporter = (*HealthRecorder)(nil)

// Report records one report.
func (h *HealthRecorder) Report(connector string, state bridge.HealthState, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, bridge.HealthReport{Connector: connector, State: state, Reason: reason, Since: time.Now()})
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
}

// Reports returns a copy of every report so far.
func (h *HealthRecorder) Reports() []bridge.HealthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bridge.HealthReport(nil), h.reports...)
}

// Last returns connector's latest report; ok is false before its first.
func (h *HealthRecorder) Last(connector string) (r bridge.HealthReport, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.reports) - 1; i >= 0; i-- {
		if h.reports[i].Connector == connector {
			return h.reports[i], true
		}
	}
	return r, false
}

// WaitFor waits (at most 20 s) until connector's latest report is state
// and its reason contains reason, and returns that report.
func (h *HealthRecorder) WaitFor(tb testing.TB, connector string, state bridge.HealthState, reason string) bridge.HealthReport {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for {
		h.mu.Lock()
		var last bridge.HealthReport
		for i := len(h.reports) - 1; i >= 0; i-- {
			if h.reports[i].Connector == connector {
				last = h.reports[i]
				break
			}
		}
		if last.State == state && strings.Contains(last.Reason, reason) {
			h.mu.Unlock()
			return last
		}
		if h.changed == nil {
			h.changed = make(chan struct{})
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			tb.Fatalf("%s never reported %s with a reason containing %q; reports: %+v", connector, state, reason, h.Reports())
			return last
		}
	}
}

// LoggedDelays reads JSON log lines (slog.NewJSONHandler) and returns the
// "in" duration of every line whose message is msg: the waits a
// connector announced before trying again.
func LoggedDelays(logs, msg string) []time.Duration {
	var out []time.Duration
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			In  *int64 `json:"in"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg && line.In != nil {
			out = append(out, time.Duration(*line.In))
		}
	}
	return out
}

// CheckBackoff fails tb unless delays follow connectors/internal/backoff
// from min to max: the i-th delay within [m/2, m] where m is min doubled
// i times and capped at max (no platform floor involved).
func CheckBackoff(tb testing.TB, delays []time.Duration, min, max time.Duration) {
	tb.Helper()
	m := min
	for i, d := range delays {
		if d < m/2 || d > m {
			tb.Errorf("delay %d is %v, want within [%v, %v] (all: %v)", i, d, m/2, m, delays)
		}
		m = min2(2*m, max)
	}
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}
