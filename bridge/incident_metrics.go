package bridge

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The incident metrics, a block of their own beside the contract's:
//
//	earshot_incidents{queue,status}                     gauge: incidents by status (read at scrape)
//	earshot_incident_cases{queue}                       gauge: cases linked to open incidents
//	earshot_incident_suggestion_age_seconds{queue}      gauge: age of the oldest suggestion nobody answered (0: none)
//	earshot_incident_suggestions_total{queue}           counter: suggestions made by the detector
//	earshot_incident_replies_total{network,purpose,result} counter: an incident's items by fate (purpose ack, closing, status)
//	earshot_incident_ack_seconds{queue}                 histogram: from declaration until every linked complainant had the acknowledgement
//
// Label values are bounded: queue and network names from the config,
// fixed purposes and results. Every series of a known label value exists
// from the start, at zero.
type incidentMetrics struct {
	suggestions *prometheus.CounterVec
	replies     *prometheus.CounterVec
	ackTime     *prometheus.HistogramVec

	mu    sync.Mutex
	acked map[IncidentID]bool // observed once per process
}

var (
	descIncidents = prometheus.NewDesc("earshot_incidents",
		"Incidents by queue and status (suggested, open, resolved, dismissed).", []string{"queue", "status"}, nil)
	descIncidentCases = prometheus.NewDesc("earshot_incident_cases",
		"Cases linked to open incidents, by queue.", []string{"queue"}, nil)
	descSuggestionAge = prometheus.NewDesc("earshot_incident_suggestion_age_seconds",
		"Age of the oldest incident suggestion nobody declared or dismissed, by queue (0 when none waits).", []string{"queue"}, nil)
)

// incidentPurposes and incidentResults are the label values made at zero.
var (
	incidentPurposes = []string{PurposeAck, PurposeClosing, PurposeStatus}
	incidentResults  = []string{ReplySent, ReplyFailed, ReplyCancelled, ReplyRefused, ReplyUncertain}
)

func newIncidentMetrics(reg prometheus.Registerer) *incidentMetrics {
	m := &incidentMetrics{
		suggestions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_incident_suggestions_total",
			Help: "Incidents the surge detector suggested, by queue."}, []string{"queue"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_incident_replies_total",
			Help: "An incident's publications by purpose (ack: the acknowledgement, closing: the closing message, status: the public status thread) and fate."},
			[]string{"network", "purpose", "result"}),
		ackTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_incident_ack_seconds",
			Help:    "Time from an incident's declaration until every linked complainant had its acknowledgement.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800}}, []string{"queue"}),
		acked: map[IncidentID]bool{},
	}
	if reg != nil {
		m.suggestions = register(reg, m.suggestions)
		m.replies = register(reg, m.replies)
		m.ackTime = register(reg, m.ackTime)
	}
	return m
}

// zero makes every series of the known queues and networks at zero.
func (m *incidentMetrics) zero(queues []QueueConfig, networks []string) {
	for _, q := range queues {
		m.suggestions.WithLabelValues(q.Name)
		m.ackTime.WithLabelValues(q.Name)
	}
	for _, n := range networks {
		for _, p := range incidentPurposes {
			for _, r := range incidentResults {
				m.replies.WithLabelValues(n, p, r)
			}
		}
	}
}

// incidentCollector reads the incident gauges from the state at scrape time.
type incidentCollector struct{ m *Metrics }

func (c incidentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descIncidents
	ch <- descIncidentCases
	ch <- descSuggestionAge
}

func (c incidentCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.m.bridge.Load()
	if b == nil {
		return
	}
	tx := b.read()
	now := b.clock.Now()
	for _, q := range b.cfg.Queues {
		linked, oldest := 0, time.Time{}
		for _, s := range IncidentStatuses {
			list := incidentsIn(tx, q.Name, s)
			ch <- prometheus.MustNewConstMetric(descIncidents, prometheus.GaugeValue, float64(len(list)), q.Name, string(s))
			for _, i := range list {
				switch s {
				case IncidentOpen:
					linked += len(linkedCases(tx, i.ID))
				case IncidentSuggested:
					if oldest.IsZero() || i.CreatedAt.Before(oldest) {
						oldest = i.CreatedAt
					}
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(descIncidentCases, prometheus.GaugeValue, float64(linked), q.Name)
		age := 0.0
		if !oldest.IsZero() {
			age = max(now.Sub(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descSuggestionAge, prometheus.GaugeValue, age, q.Name)
	}
}

// observeAllAcked records, once, the time from declaration until every
// complainant linked to incident id had the acknowledgement sent.
func (b *Bridge) observeAllAcked(id IncidentID) {
	m := b.metrics.incident
	m.mu.Lock()
	done := m.acked[id]
	m.mu.Unlock()
	if done {
		return
	}
	tx := b.read()
	i := getIncident(tx, id)
	if i == nil || i.DeclaredAt.IsZero() {
		return
	}
	p := b.progress(tx, i, len(linkedCases(tx, id)))
	if p.Purpose != PurposeAck || p.Pending > 0 || p.Sent == 0 || p.Sent < p.Total-p.Cancelled-p.Failed-p.Uncertain {
		return
	}
	m.mu.Lock()
	if !m.acked[id] {
		m.acked[id] = true
		m.ackTime.WithLabelValues(i.Queue).Observe(b.clock.Now().Sub(i.DeclaredAt).Seconds())
	}
	m.mu.Unlock()
}
