package bridge

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// The surge detector. Per queue it keeps the new cases of the last window
// (Surge.Window, 10 minutes by default) that no incident took, with their
// terms (incident_terms.go). It suggests an incident when at least
// Surge.Threshold (15) of them share two terms: the term most of them have
// and, among those, the term most of them also have. The suggestion names
// those terms and any other that most of the cluster shares — "47
// complaints in 6 min mention broadband, braga, internet" — so staff can
// see why. It does not suggest again for a term it suggested (or staff
// dismissed) until that suggestion's window has passed, nor for the terms
// of an open incident. Unrelated chatter shares no pair of terms that
// often, so it suggests nothing. The detector lives in memory and is
// rebuilt from the state at start; the suggestions themselves are
// journaled (incident.suggested), so replay never depends on it.

// detector holds the recent unlinked cases per queue.
type detector struct {
	// in takes the new cases from the ingest path, for the incident loop
	// to observe (off the path: a full buffer drops, the detector is a
	// heuristic and the next cases find the surge).
	in chan *Case

	mu     sync.Mutex
	queues map[string]*surgeWindow
	fired  map[string]time.Time // queue + term: no suggestion before
	found  chan suggestion
}

// surgeWindow is one queue's recent cases and how many of them have each
// term, kept as cases come and go (so a complaint costs its own terms,
// not a count over the window).
type surgeWindow struct {
	entries []surgeEntry
	df      map[string]int
	// since counts the cases added since the window was last evaluated,
	// at evaluated: a window of more than smallWindow cases is evaluated at
	// most once a second and every twentieth of its size, not on every
	// case (a cluster costs a pass over the window).
	since     int
	evaluated time.Time
}

// smallWindow is the size up to which a window is evaluated on every case.
const smallWindow = 200

type surgeEntry struct {
	at    time.Time
	id    CaseID
	terms []string
}

// maxSurgeEntries bounds a queue's window (the oldest go first).
const maxSurgeEntries = 20000

// suggestion is what the detector found, for the incident loop to journal.
type suggestion struct {
	queue  string
	terms  []string
	count  int
	span   time.Duration
	at     time.Time
	window time.Duration
}

func newDetector() *detector {
	return &detector{in: make(chan *Case, 4096), queues: map[string]*surgeWindow{}, fired: map[string]time.Time{}, found: make(chan suggestion, 16)}
}

// saw hands a new, unlinked case to the detector; it never blocks.
func (d *detector) saw(c *Case) {
	select {
	case d.in <- c:
	default:
	}
}

// surgeOf is the detector's setting for queue.
func (b *Bridge) surgeOf(queue string) SurgeConfig {
	return b.queues[queue].Surge.withDefaults(b.cfg.Incidents.Surge)
}

// observe adds a new, unlinked case and suggests an incident when its
// queue surges. It does no I/O: a suggestion goes to the incident loop.
func (d *detector) observe(b *Bridge, c *Case) {
	cfg := b.surgeOf(c.Queue)
	if cfg.Off {
		return
	}
	if _, ok := b.desks[b.queues[c.Queue].Desk].(IncidentDesk); !ok {
		return
	}
	at := c.UpdatedAt
	d.mu.Lock()
	w := d.add(c.Queue, surgeEntry{at: at, id: c.ID, terms: caseTerms(c)}, cfg.Window)
	if len(w.entries) > smallWindow && (w.since < len(w.entries)/20 || at.Sub(w.evaluated) < time.Second) {
		d.mu.Unlock()
		return
	}
	w.since, w.evaluated = 0, at
	var tx *memdb.Txn
	s, ok := evaluate(w, cfg, func(term string) bool {
		until, fired := d.fired[c.Queue+"\x00"+term]
		return fired && until.After(at)
	}, func(terms []string) bool {
		if tx == nil {
			tx = b.read()
		}
		return suppressed(tx, c.Queue, terms, at)
	})
	if ok {
		s.queue, s.at, s.window = c.Queue, at, cfg.Window
		until := at.Add(cfg.Window)
		select {
		case d.found <- s:
		default:
			until = at.Add(time.Minute) // the loop is behind: find the surge again in a minute
		}
		for _, t := range s.terms {
			d.fired[c.Queue+"\x00"+t] = until
		}
	}
	d.mu.Unlock()
}

// add appends e to queue's window and drops what is older than window
// (or past maxSurgeEntries); d.mu held.
func (d *detector) add(queue string, e surgeEntry, window time.Duration) *surgeWindow {
	w := d.queues[queue]
	if w == nil {
		w = &surgeWindow{df: map[string]int{}}
		d.queues[queue] = w
	}
	w.put(e)
	cut := 0
	for cut < len(w.entries) && (w.entries[cut].at.Before(e.at.Add(-window)) || len(w.entries)-cut > maxSurgeEntries) {
		for _, t := range w.entries[cut].terms {
			if w.df[t]--; w.df[t] <= 0 {
				delete(w.df, t)
			}
		}
		cut++
	}
	w.entries = w.entries[cut:]
	for k, until := range d.fired {
		if !until.After(e.at) {
			delete(d.fired, k)
		}
	}
	return w
}

// put adds e to the window and its counts.
func (w *surgeWindow) put(e surgeEntry) {
	w.entries = append(w.entries, e)
	for _, t := range e.terms {
		w.df[t]++
	}
	w.since++
}

// evaluate finds a cluster of at least cfg.Threshold entries sharing two
// terms, the biggest first: its first term not fired, the pair not
// suppressed.
func evaluate(w *surgeWindow, cfg SurgeConfig, fired func(term string) bool, suppressed func(terms []string) bool) (suggestion, bool) {
	if len(w.entries) < cfg.Threshold {
		return suggestion{}, false
	}
	var tried []string
	for {
		first := topTerm(w.df, tried)
		if first == "" || w.df[first] < cfg.Threshold {
			return suggestion{}, false
		}
		tried = append(tried, first)
		if fired(first) {
			continue
		}
		if s, ok := cluster(w.entries, first, cfg); ok && !fired(s.terms[1]) && !suppressed(s.terms) {
			return s, true
		}
	}
}

// cluster is the suggestion of the entries with term first, when at least
// cfg.Threshold of them share a second term.
func cluster(entries []surgeEntry, first string, cfg SurgeConfig) (suggestion, bool) {
	with := make([]surgeEntry, 0, len(entries))
	co := map[string]int{}
	for _, e := range entries {
		if slices.Contains(e.terms, first) {
			with = append(with, e)
			for _, t := range e.terms {
				if t != first {
					co[t]++
				}
			}
		}
	}
	second := topTerm(co, nil)
	if second == "" || co[second] < cfg.Threshold {
		return suggestion{}, false
	}
	terms := []string{first, second}
	var both []surgeEntry
	for _, e := range with {
		if slices.Contains(e.terms, second) {
			both = append(both, e)
		}
	}
	for len(terms) < 4 {
		t := topTerm(co, terms)
		if t == "" || co[t]*10 < len(with)*6 {
			break
		}
		terms = append(terms, t)
	}
	return suggestion{terms: terms, count: len(both), span: both[len(both)-1].at.Sub(both[0].at)}, true
}

// topTerm is the term counted most (ties: alphabetical), leaving out skip.
func topTerm(counts map[string]int, skip []string) string {
	best := ""
	for t, n := range counts {
		if slices.Contains(skip, t) {
			continue
		}
		if best == "" || n > counts[best] || n == counts[best] && t < best {
			best = t
		}
	}
	return best
}

// suppressed reports whether the state in tx holds a reason not to
// suggest terms in queue at at: a suggestion (or a dismissed one) sharing
// its two main terms whose window has not passed, or an open incident
// sharing them.
func suppressed(tx *memdb.Txn, queue string, terms []string, at time.Time) bool {
	for _, s := range []IncidentStatus{IncidentSuggested, IncidentDismissed, IncidentOpen} {
		for _, i := range incidentsIn(tx, queue, s) {
			for _, t := range terms[:2] {
				if slices.Contains(i.Terms, t) && (s == IncidentOpen || i.SuggestedUntil.After(at)) {
					return true
				}
			}
		}
	}
	return false
}

// rebuild fills the windows from the state: the unlinked cases opened in
// each queue's window before now.
func (d *detector) rebuild(b *Bridge, now time.Time) {
	tx := b.read()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range b.cfg.Queues {
		cfg := b.surgeOf(q.Name)
		if cfg.Off {
			continue
		}
		var entries []surgeEntry
		for _, s := range append(slices.Clone(OpenStatuses), StatusResolved) {
			for _, c := range casesIn(tx, q.Name, s) {
				if at := c.OpenedAt; c.Incident == "" && at.After(now.Add(-cfg.Window)) && !at.After(now) {
					entries = append(entries, surgeEntry{at: at, id: c.ID, terms: caseTerms(c)})
				}
			}
		}
		slices.SortFunc(entries, func(x, y surgeEntry) int { return x.at.Compare(y.at) })
		w := &surgeWindow{df: map[string]int{}}
		for _, e := range entries {
			w.put(e)
		}
		d.queues[q.Name] = w
	}
}

// suggest journals a suggestion the detector found, unless one of its
// terms was suggested meanwhile.
func (b *Bridge) suggest(s suggestion) error {
	_, err := b.change(func(w *writeTx) error {
		if suppressed(w.Txn, s.queue, s.terms, s.at) {
			return errUnchanged
		}
		id := FormatIncidentID(w.counters().LastIncident + 1)
		mins := max(1, int(s.span.Round(time.Minute)/time.Minute))
		title := fmt.Sprintf("%d complaints in %d min mention %s", s.count, mins, strings.Join(s.terms, ", "))
		_, err := w.emit(Event{Type: EvIncSuggested, Incident: id, Queue: s.queue, Tags: s.terms, Num: s.count, Text: title, Until: s.at.Add(s.window)})
		return err
	})
	if err == errUnchanged {
		return nil
	}
	return err
}
