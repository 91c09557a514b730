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
	mu     sync.Mutex
	queues map[string][]surgeEntry
	fired  map[string]time.Time // queue + term: no suggestion before
	found  chan suggestion
}

type surgeEntry struct {
	at    time.Time
	id    CaseID
	terms []string
}

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
	return &detector{queues: map[string][]surgeEntry{}, fired: map[string]time.Time{}, found: make(chan suggestion, 16)}
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
	entries := d.add(c.Queue, surgeEntry{at: at, id: c.ID, terms: caseTerms(c)}, cfg.Window)
	tx := b.read()
	s, ok := evaluate(entries, cfg, func(terms []string) bool {
		for _, t := range terms[:2] {
			if until, fired := d.fired[c.Queue+"\x00"+t]; fired && until.After(at) {
				return true
			}
		}
		return suppressed(tx, c.Queue, terms, at)
	})
	if ok {
		s.queue, s.at, s.window = c.Queue, at, cfg.Window
		for _, t := range s.terms {
			d.fired[c.Queue+"\x00"+t] = at.Add(cfg.Window)
		}
	}
	d.mu.Unlock()
	if ok {
		select {
		case d.found <- s:
		default: // the loop is behind; the next complaint finds the surge again
			d.mu.Lock()
			for _, t := range s.terms {
				delete(d.fired, c.Queue+"\x00"+t)
			}
			d.mu.Unlock()
		}
	}
}

// add appends e to queue's window and drops what is older than window; d.mu held.
func (d *detector) add(queue string, e surgeEntry, window time.Duration) []surgeEntry {
	entries := append(d.queues[queue], e)
	cut := 0
	for cut < len(entries) && entries[cut].at.Before(e.at.Add(-window)) {
		cut++
	}
	entries = entries[cut:]
	d.queues[queue] = entries
	for k, until := range d.fired {
		if !until.After(e.at) {
			delete(d.fired, k)
		}
	}
	return entries
}

// evaluate finds a cluster of at least cfg.Threshold entries sharing two
// terms that skip does not refuse: the biggest first.
func evaluate(entries []surgeEntry, cfg SurgeConfig, skip func(terms []string) bool) (suggestion, bool) {
	if len(entries) < cfg.Threshold {
		return suggestion{}, false
	}
	df := map[string]int{}
	for _, e := range entries {
		for _, t := range e.terms {
			df[t]++
		}
	}
	var tried []string
	for {
		first := topTerm(df, tried)
		if first == "" || df[first] < cfg.Threshold {
			return suggestion{}, false
		}
		tried = append(tried, first)
		if s, ok := cluster(entries, first, cfg); ok && !skip(s.terms) {
			return s, true
		}
	}
}

// cluster is the suggestion of the entries with term first, when at least
// cfg.Threshold of them share a second term.
func cluster(entries []surgeEntry, first string, cfg SurgeConfig) (suggestion, bool) {
	var with []surgeEntry
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
		d.queues[q.Name] = entries
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
