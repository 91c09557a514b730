package jetstream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the replicated journal's part of the earshot_ metrics
// (earshot_leader itself is main's: it holds for the file journal too).
type metrics struct {
	lag       prometheus.Gauge
	renewals  *prometheus.CounterVec
	failovers prometheus.Counter
	publish   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "earshot_journal_lag_events",
			Help: "On a standby: records the leader appended that this process has not applied yet (0 on the leader)."}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_lease_renewals_total",
			Help: "Renewals of the leader lease by this process, by result (ok, failed)."}, []string{"result"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "earshot_failovers_total",
			Help: "Times this process took the leadership over (a standby became the leader)."}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "earshot_journal_publish_duration_seconds",
			Help:    "Time from publishing a group of records to the stream's acknowledgement (each makes a group durable on the replicas).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
	}
	m.renewals.WithLabelValues("ok")
	m.renewals.WithLabelValues("failed")
	if reg == nil {
		return m
	}
	m.lag = register(reg, m.lag)
	m.renewals = register(reg, m.renewals)
	m.failovers = register(reg, m.failovers)
	m.publish = register(reg, m.publish)
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

// RegisterMetrics registers the replicated journal's metrics on reg at
// zero, so dashboards and alerts find them on every Earshot, the file
// store's included (a journal opened later on reg reuses them).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }
