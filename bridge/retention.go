package bridge

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// Retention keeps the state (and so the memory, the snapshots and the
// start-up time) bounded: a case resolved longer ago than
// Config.Retention is forgotten, with its threads, its posts (the
// customer's and our replies) and its outbox items, by a journaled
// case.pruned event, so a replay forgets it too. Afterwards the customer's
// history no longer lists it, a post of it delivered again would open a
// new case, and the desk's thread stays as it was (its buttons answer that
// the case is gone). A case with a reply still queued or being attempted
// is kept until that settles.

// retentionEvery is how often resolved cases are checked against the
// retention.
const retentionEvery = time.Hour

// pruneBatch bounds the cases one change forgets, so a first run over a
// large backlog does not hold the writer for long.
const pruneBatch = 500

// prune forgets every case past the retention. It does journal I/O.
func (b *Bridge) prune() error {
	if b.cfg.Retention <= 0 {
		return nil
	}
	cutoff := b.clock.Now().Add(-b.cfg.Retention)
	tx := b.read()
	var due []*Case
	for _, q := range b.cfg.Queues {
		for _, c := range casesIn(tx, q.Name, StatusResolved) {
			if prunable(tx, c, cutoff) {
				due = append(due, c)
			}
		}
	}
	slices.SortFunc(due, func(x, y *Case) int { return cmp.Compare(x.Seq, y.Seq) })
	for batch := range slices.Chunk(due, pruneBatch) {
		if _, err := b.change(func(w *writeTx) error {
			for _, c := range batch {
				now, _ := getCase(w.Txn, c.ID)
				if now == nil || !prunable(w.Txn, now, cutoff) {
					continue // changed since the scan
				}
				if _, err := w.emit(Event{Type: EvPruned, Case: c.ID}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(due) > 0 {
		b.log.Info("bridge: forgot resolved cases past the retention", "cases", len(due), "retention", b.cfg.Retention)
	}
	return nil
}

// prunable reports whether case c was resolved before cutoff and has no
// reply still queued or being attempted.
func prunable(tx *memdb.Txn, c *Case, cutoff time.Time) bool {
	if c.Status != StatusResolved || c.ResolvedAt.IsZero() || !c.ResolvedAt.Before(cutoff) {
		return false
	}
	for _, it := range itemsOf(tx, c.ID) {
		if it.State == OutboxQueued || it.State == OutboxAttempting {
			return false
		}
	}
	return true
}

// forgotten reports whether case id existed and was pruned: ids are made
// from a counter that only grows and nothing else removes a case, so a
// number of ours the counter has passed without a case is a pruned one.
func (b *Bridge) forgotten(tx *memdb.Txn, id CaseID) bool {
	prefix, _, _ := strings.Cut(string(id), "-")
	n, ok := caseNumber(id)
	return ok && n > 0 && strings.EqualFold(prefix, b.cfg.CaseIDPrefix) &&
		n <= getMeta(tx).LastCase && findCase(tx, id) == nil
}

// Forgotten reports whether case id was forgotten under the retention
// (so staff can be told why it is not there).
func (b *Bridge) Forgotten(id CaseID) bool { return b.forgotten(b.read(), id) }

// noCase is the refusal for a case id that finds no case.
func (b *Bridge) noCase(tx *memdb.Txn, id CaseID) error {
	if b.forgotten(tx, id) {
		return Userf("%s", ForgottenText(id))
	}
	return Userf("There is no case %s.", id)
}

// ForgottenText tells staff that case id was forgotten under the retention.
func ForgottenText(id CaseID) string {
	return fmt.Sprintf("Case %s was resolved long enough ago to be forgotten (retention); its thread stays as a record. If the customer writes again, a new case opens.", id)
}
