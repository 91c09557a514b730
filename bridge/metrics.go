package bridge

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the earshot_ metrics of DESIGN.md's contract, on an injected
// registry. Label values are bounded: queue, network, desk and platform
// names from the config, fixed results and kinds; never a handle, a text
// or an id. Queue depth and the oldest unclaimed case are read from the
// state at each scrape, so they are right after a replay by construction.
type Metrics struct {
	posts         *prometheus.CounterVec
	firstResponse *prometheus.HistogramVec
	claim         *prometheus.HistogramVec
	resolution    *prometheus.HistogramVec
	replies       *prometheus.CounterVec
	breaches      *prometheus.CounterVec
	commands      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	journalEvents prometheus.Counter
	fsync         prometheus.Histogram
	incident      *incidentMetrics // incident_metrics.go

	bridge atomic.Pointer[Bridge]
}

var _ RequestObserver = (*Metrics)(nil)

var (
	descCases = prometheus.NewDesc("earshot_cases",
		"Open cases (queue depth) by queue, network and status.", []string{"queue", "network", "status"}, nil)
	descOldest = prometheus.NewDesc("earshot_oldest_unclaimed_case_age_seconds",
		"Age of the oldest unclaimed open case of each queue (0 when none waits; snoozed cases are not counted).", []string{"queue"}, nil)
)

// NewMetrics makes the metrics and registers them on reg (nil: nowhere).
// Registering twice on one registry reuses what is there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	minutes := []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}
	m := &Metrics{
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_posts_total",
			Help: "Posts received from networks, by what they became."}, []string{"network", "result"}),
		firstResponse: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_first_response_seconds",
			Help: "Time from a customer's post to the first published answer.", Buckets: minutes}, []string{"queue", "network"}),
		claim: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_claim_seconds",
			Help:    "Time from a case opening to its first claim.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400}}, []string{"queue"}),
		resolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_resolution_seconds",
			Help:    "Time from a case opening to its resolution.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800}}, []string{"queue"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_replies_total",
			Help: "Staff replies by fate: sent, failed, cancelled (deleted in the undo window), refused (a safety rule stopped it), uncertain."},
			[]string{"network", "result"}),
		breaches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_sla_breaches_total",
			Help: "SLA deadlines missed, each counted once per case."}, []string{"queue", "kind"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_commands_total",
			Help: "Staff commands by result."}, []string{"desk", "command", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_platform_requests_total",
			Help: "Requests made to platforms, by outcome."}, []string{"platform", "op", "outcome"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_platform_request_duration_seconds",
			Help:    "Duration of requests made to platforms.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"platform", "op"}),
		journalEvents: prometheus.NewCounter(prometheus.CounterOpts{Name: "earshot_journal_events_total",
			Help: "Events appended to the journal."}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "earshot_journal_fsync_duration_seconds",
			Help:    "Duration of journal fsyncs (each makes a group of events durable).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
	}
	m.incident = newIncidentMetrics(reg)
	if reg == nil {
		return m
	}
	register(reg, prometheus.Collector(incidentCollector{m}))
	m.posts = register(reg, m.posts)
	m.firstResponse = register(reg, m.firstResponse)
	m.claim = register(reg, m.claim)
	m.resolution = register(reg, m.resolution)
	m.replies = register(reg, m.replies)
	m.breaches = register(reg, m.breaches)
	m.commands = register(reg, m.commands)
	m.requests = register(reg, m.requests)
	m.requestTime = register(reg, m.requestTime)
	m.journalEvents = register(reg, m.journalEvents)
	m.fsync = register(reg, m.fsync)
	register(reg, prometheus.Collector(stateCollector{m}))
	return m
}

// register registers c, or returns the collector already registered in its place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// ObserveRequest counts one platform request (connectors call it).
func (m *Metrics) ObserveRequest(platform, op, outcome string, d time.Duration) {
	m.requests.WithLabelValues(platform, op, outcome).Inc()
	m.requestTime.WithLabelValues(platform, op).Observe(d.Seconds())
}

func (m *Metrics) observeFsync(d time.Duration, _ int) { m.fsync.Observe(d.Seconds()) }

// bind makes the state gauges read b.
func (m *Metrics) bind(b *Bridge) {
	m.bridge.Store(b)
	m.incident.zero(b.cfg.Queues, b.networkNames())
}

// stateCollector reads queue depth and the oldest unclaimed case from the
// bridge's state at scrape time.
type stateCollector struct{ m *Metrics }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCases
	ch <- descOldest
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	b := s.m.bridge.Load()
	if b == nil {
		return
	}
	for _, g := range b.gauges() {
		if g.status == "" {
			ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, g.value, g.queue)
		} else {
			ch <- prometheus.MustNewConstMetric(descCases, prometheus.GaugeValue, g.value, g.queue, g.network, g.status)
		}
	}
}

// gauge is one value of the state gauges: status "" is the oldest age.
type gauge struct {
	queue, network, status string
	value                  float64
}

// gauges computes queue depth per queue, network and open status (zero
// for every configured combination, so dashboards show 0 rather than no
// data) and the oldest unclaimed age per queue, from one read view.
func (b *Bridge) gauges() []gauge {
	tx := b.read()
	now := b.clock.Now()
	var out []gauge
	for _, q := range b.cfg.Queues {
		counts := map[[2]string]int{}
		oldest := time.Time{}
		for _, s := range OpenStatuses {
			for _, c := range casesIn(tx, q.Name, s) {
				counts[[2]string{c.Network, string(s)}]++
				if c.Assignee == "" && !c.Snoozed(now) && (oldest.IsZero() || c.OpenedAt.Before(oldest)) {
					oldest = c.OpenedAt
				}
			}
		}
		for name := range b.networks {
			for _, s := range OpenStatuses {
				k := [2]string{name, string(s)}
				out = append(out, gauge{queue: q.Name, network: name, status: string(s), value: float64(counts[k])})
				delete(counts, k)
			}
		}
		for k, n := range counts { // a network no longer configured
			out = append(out, gauge{queue: q.Name, network: k[0], status: k[1], value: float64(n)})
		}
		age := 0.0
		if !oldest.IsZero() {
			age = max(now.Sub(oldest).Seconds(), 0)
		}
		out = append(out, gauge{queue: q.Name, value: age})
	}
	return out
}
