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
// or an id. Queue depth, the oldest unclaimed case and the backlogs are
// read from the state at each scrape, so they are right after a replay by
// construction. Every series whose labels the config determines exists
// from the start at zero (see seed), so increase() and rate() see the very
// first event and dashboards show 0 rather than no data.
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
	slaTargets    *prometheus.GaugeVec
	waits         *prometheus.CounterVec
	incident      *incidentMetrics // incident_metrics.go

	bridge atomic.Pointer[Bridge]
}

var (
	_ RequestObserver = (*Metrics)(nil)
	_ WaitObserver    = (*Metrics)(nil)
)

var (
	descCases = prometheus.NewDesc("earshot_cases",
		"Open cases (queue depth) by queue, network and status.", []string{"queue", "network", "status"}, nil)
	descOldest = prometheus.NewDesc("earshot_oldest_unclaimed_case_age_seconds",
		"Age of the oldest unclaimed open case of each queue (0 when none waits; snoozed cases are not counted).", []string{"queue"}, nil)
	descDeskBacklog = prometheus.NewDesc("earshot_desk_backlog",
		"Cases waiting for a desk to catch up, by kind: new_card (its thread is not open there yet), update (a thread to bring up to date), retry (a failed desk call waiting to be tried again).",
		[]string{"desk", "kind"}, nil)
	descOutboxItems = prometheus.NewDesc("earshot_outbox_items",
		"Replies in the outbox that are not settled yet, by state: waiting (in the undo window or a retry's backoff), due (to be published now), attempting (being published).",
		[]string{"network", "state"}, nil)
)

// Kinds of desk work, the values of earshot_desk_backlog's kind label.
const (
	BacklogNewCard = "new_card"
	BacklogUpdate  = "update"
	BacklogRetry   = "retry"
)

// backlogKinds lists the kind label's values.
var backlogKinds = []string{BacklogNewCard, BacklogUpdate, BacklogRetry}

// States of earshot_outbox_items.
const (
	OutboxStateWaiting    = "waiting"
	OutboxStateDue        = "due"
	OutboxStateAttempting = "attempting"
)

var outboxStates = []string{OutboxStateWaiting, OutboxStateDue, OutboxStateAttempting}

// Label values the bridge knows before any event, for seed.
var (
	postResults    = []string{PostOpened, PostFollowUp, PostDuplicate, PostIgnored, PostOwn}
	replyResults   = []string{ReplySent, ReplyFailed, ReplyCancelled, ReplyRefused, ReplyUncertain}
	slaKinds       = []string{SLAFirstResponse, SLAResolution}
	commandResults = []string{"ok", "refused", "error"}
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
		slaTargets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "earshot_queue_sla_seconds",
			Help: "Each queue's configured SLA target in seconds, by kind (first_response, resolution); a queue without a target has no series. The alerts compare with it."},
			[]string{"queue", "kind"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_rate_limit_wait_seconds_total",
			Help: "Time spent waiting because of platforms' rate limits (a Retry-After or reset honoured, our own pacing below the platform's limit), summed over every waiter."},
			[]string{"platform"}),
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
	m.slaTargets = register(reg, m.slaTargets)
	m.waits = register(reg, m.waits)
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

// ObserveWait counts time a connector spent waiting on platform's rate
// limit (connectors call it through the package-level ObserveWait).
func (m *Metrics) ObserveWait(platform string, d time.Duration) {
	if d > 0 {
		m.waits.WithLabelValues(platform).Add(d.Seconds())
	}
}

func (m *Metrics) observeFsync(d time.Duration, _ int) { m.fsync.Observe(d.Seconds()) }

// bind makes the state gauges read b, and seeds the series b's config
// determines.
func (m *Metrics) bind(b *Bridge) {
	m.bridge.Store(b)
	m.seed(b)
	m.incident.zero(b.cfg.Queues, b.networkNames())
}

// CommandLister is the optional side of a Commander that names its
// commands (commands.Registry), so their series exist from the start.
type CommandLister interface {
	CommandNames() []string
}

// seed creates every series whose label values b's config and connectors
// determine, at zero (a counter or histogram born at its first event
// hides that event from increase() and rate()), and sets the SLA targets.
func (m *Metrics) seed(b *Bridge) {
	var networks, desks, commands []string
	for name := range b.networks {
		networks = append(networks, name)
	}
	for name := range b.desks {
		desks = append(desks, name)
	}
	if l, ok := b.commands.(CommandLister); ok {
		commands = append(l.CommandNames(), "unknown")
	}
	for _, n := range networks {
		for _, r := range postResults {
			m.posts.WithLabelValues(n, r)
		}
		for _, r := range replyResults {
			m.replies.WithLabelValues(n, r)
		}
	}
	for _, q := range b.cfg.Queues {
		m.claim.WithLabelValues(q.Name)
		m.resolution.WithLabelValues(q.Name)
		for _, n := range networks {
			m.firstResponse.WithLabelValues(q.Name, n)
		}
		for _, k := range slaKinds {
			m.breaches.WithLabelValues(q.Name, k)
		}
		if q.SLA.FirstResponse > 0 {
			m.slaTargets.WithLabelValues(q.Name, SLAFirstResponse).Set(q.SLA.FirstResponse.Seconds())
		}
		if q.SLA.Resolution > 0 {
			m.slaTargets.WithLabelValues(q.Name, SLAResolution).Set(q.SLA.Resolution.Seconds())
		}
	}
	for _, d := range desks {
		for _, c := range commands {
			for _, r := range commandResults {
				m.commands.WithLabelValues(d, c, r)
			}
		}
	}
	for _, p := range append(networks, desks...) {
		m.waits.WithLabelValues(p)
	}
}

// stateCollector reads queue depth and the oldest unclaimed case from the
// bridge's state at scrape time.
type stateCollector struct{ m *Metrics }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCases
	ch <- descOldest
	ch <- descDeskBacklog
	ch <- descOutboxItems
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	b := s.m.bridge.Load()
	if b == nil || !b.reportsState() {
		return
	}
	for _, g := range b.gauges() {
		if g.status == "" {
			ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, g.value, g.queue)
		} else {
			ch <- prometheus.MustNewConstMetric(descCases, prometheus.GaugeValue, g.value, g.queue, g.network, g.status)
		}
	}
	for desk, kinds := range b.deskBacklog() {
		for _, k := range backlogKinds {
			ch <- prometheus.MustNewConstMetric(descDeskBacklog, prometheus.GaugeValue, float64(kinds[k]), desk, k)
		}
	}
	for network, states := range b.outboxBacklog() {
		for _, st := range outboxStates {
			ch <- prometheus.MustNewConstMetric(descOutboxItems, prometheus.GaugeValue, float64(states[st]), network, st)
		}
	}
}

// deskBacklog counts, per desk, the cases waiting for it by kind (every
// desk and kind present, zero or not).
func (b *Bridge) deskBacklog() map[string]map[string]int {
	tx := b.read()
	out := map[string]map[string]int{}
	for name, q := range b.work {
		counts := map[string]int{}
		queued, retrying := q.waiting()
		counts[BacklogRetry] = retrying
		for _, id := range queued {
			kind := BacklogNewCard
			if c, _ := getCase(tx, id); c != nil {
				for _, t := range threadsOf(tx, id) {
					if t.Desk == name && t.Queue == c.Queue {
						kind = BacklogUpdate
						break
					}
				}
			}
			counts[kind]++
		}
		out[name] = counts
	}
	return out
}

// outboxBacklog counts, per network, the replies not settled yet by state
// (every configured network and state present, zero or not).
func (b *Bridge) outboxBacklog() map[string]map[string]int {
	out := map[string]map[string]int{}
	for name := range b.networks {
		out[name] = map[string]int{}
	}
	count := func(network, state string) {
		if out[network] == nil {
			out[network] = map[string]int{} // a network no longer configured
		}
		out[network][state]++
	}
	tx := b.read()
	now := b.clock.Now()
	if it, err := tx.Get(tableOutbox, indexDue); err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			item := raw.(*OutboxItem)
			if item.Due.After(now) {
				count(item.Network, OutboxStateWaiting)
			} else {
				count(item.Network, OutboxStateDue)
			}
		}
	}
	for _, id := range b.outbox.attempting() {
		if item := getItem(tx, id); item != nil && item.State == OutboxAttempting {
			count(item.Network, OutboxStateAttempting)
		}
	}
	return out
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
