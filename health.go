package main

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
)

// healthBoard keeps each connector's latest health report: it is the
// bridge.HealthReporter main hands every connector. It feeds
// earshot_connector_up and earshot_connector_last_error_timestamp_seconds
// (a connector's series appear with its first report), and decides the
// connectors' part of /readyz: not ready once a required connector has
// been down longer than the grace. Reasons are shown to operators with
// the config's secrets removed. Safe for concurrent use; Report never blocks.
type healthBoard struct {
	grace    time.Duration
	required func(connector string) bool
	redact   func(string) string
	now      func() time.Time

	mu      sync.Mutex
	reports map[string]bridge.HealthReport
}

var (
	_ bridge.HealthReporter = (*healthBoard)(nil)
	_ prometheus.Collector  = (*healthBoard)(nil)
)

var (
	descConnectorUp = prometheus.NewDesc("earshot_connector_up",
		"1 while a connector's link to its platform works (up, or degraded: working but not as configured), 0 while it is down. A connector's series appears with its first report.",
		[]string{"connector"}, nil)
	descConnectorError = prometheus.NewDesc("earshot_connector_last_error_timestamp_seconds",
		"When a connector last reported a problem (down or degraded), as a Unix time; 0 when it never did.",
		[]string{"connector"}, nil)
)

// newHealthBoard makes a board. required nil means every connector is.
func newHealthBoard(grace time.Duration, required []string, redact func(string) string, now func() time.Time) *healthBoard {
	req := func(string) bool { return true }
	if required != nil {
		req = func(c string) bool { return slices.Contains(required, c) }
	}
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &healthBoard{grace: grace, required: req, redact: redact, now: now, reports: map[string]bridge.HealthReport{}}
}

// Report records a connector's state. Since moves only when the state
// changes; LastError is every report of a problem.
func (h *healthBoard) Report(connector string, state bridge.HealthState, reason string) {
	now := h.now()
	reason = h.redact(reason)
	h.mu.Lock()
	defer h.mu.Unlock()
	r, seen := h.reports[connector]
	if !seen || r.State != state {
		r.Since = now
	}
	r.Connector, r.State, r.Reason = connector, state, reason
	if state != bridge.HealthUp {
		r.LastError = now
	}
	h.reports[connector] = r
}

// all returns every report, by connector name.
func (h *healthBoard) all() []bridge.HealthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]bridge.HealthReport, 0, len(h.reports))
	for _, r := range h.reports {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector < out[j].Connector })
	return out
}

// down returns the required connectors down for longer than the grace.
func (h *healthBoard) down() []bridge.HealthReport {
	now := h.now()
	var out []bridge.HealthReport
	for _, r := range h.all() {
		if r.State == bridge.HealthDown && h.required(r.Connector) && now.Sub(r.Since) >= h.grace {
			out = append(out, r)
		}
	}
	return out
}

// Describe implements prometheus.Collector.
func (h *healthBoard) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnectorUp
	ch <- descConnectorError
}

// Collect implements prometheus.Collector.
func (h *healthBoard) Collect(ch chan<- prometheus.Metric) {
	for _, r := range h.all() {
		up := 1.0
		if r.State == bridge.HealthDown {
			up = 0
		}
		last := 0.0
		if !r.LastError.IsZero() {
			last = float64(r.LastError.UnixMilli()) / 1000
		}
		ch <- prometheus.MustNewConstMetric(descConnectorUp, prometheus.GaugeValue, up, r.Connector)
		ch <- prometheus.MustNewConstMetric(descConnectorError, prometheus.GaugeValue, last, r.Connector)
	}
}

// readiness is the answer of /readyz, as JSON.
type readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
	// Down names the required connectors down longer than the grace.
	Down []bridge.HealthReport `json:"down,omitempty"`
	// Connectors is every connector's latest report.
	Connectors []bridge.HealthReport `json:"connectors"`
}

// readinessOf decides /readyz: the engine ready (replayed, running, not
// stopping), every extra condition met, and no required connector down
// for longer than the grace.
func readinessOf(engineReady func() bool, extra func() bool, h *healthBoard) func() readiness {
	return func() readiness {
		r := readiness{Connectors: h.all()}
		switch {
		case !engineReady():
			r.Reason = "the bridge is not running (starting: replaying the journal; or stopping)"
		case extra != nil && !extra():
			r.Reason = "still setting up"
		default:
			if r.Down = h.down(); len(r.Down) > 0 {
				r.Reason = "a required connector has been down for longer than " + h.grace.String()
			}
		}
		r.Ready = r.Reason == ""
		if r.Connectors == nil {
			r.Connectors = []bridge.HealthReport{}
		}
		return r
	}
}

// buildInfo is earshot_build_info{version,revision,goversion} 1.
func buildInfo() prometheus.Collector {
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "earshot_build_info",
		Help:        "Always 1: the version, VCS revision and Go version of the running binary.",
		ConstLabels: prometheus.Labels{"version": versionString(), "revision": revision, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}
