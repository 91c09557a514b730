package bridge

import (
	"bytes"
	"time"
)

// Dump renders every table (as a snapshot would hold them), for tests
// that compare states.
func Dump(b *Bridge) string {
	var buf bytes.Buffer
	if err := writeSnapshot(b.read(), &buf); err != nil {
		return "error: " + err.Error()
	}
	return buf.String()
}

// Gauges renders the state gauges, for tests.
func Gauges(b *Bridge) map[string]float64 {
	out := map[string]float64{}
	for _, g := range b.gauges() {
		out[g.queue+"/"+g.network+"/"+g.status] = g.value
	}
	return out
}

// CheckSLA runs one SLA check now.
func CheckSLA(b *Bridge) error { return b.checkSLA() }

// EncodeEvent, DecodeEvent and ApplyToEmpty expose the journal codec for fuzzing.
func EncodeEvent(ev Event) ([]byte, error)  { return encodeEvent(ev) }
func DecodeEvent(rec []byte) (Event, error) { return decodeEvent(rec) }

// ApplyToEmpty applies evs in order to a fresh store, stopping at the
// first error.
func ApplyToEmpty(evs ...Event) error {
	db, err := newDB()
	if err != nil {
		return err
	}
	tx := db.Txn(true)
	defer tx.Abort()
	for _, ev := range evs {
		if _, err := apply(storeTables{tx: tx}, ev); err != nil {
			return err
		}
	}
	return nil
}

// Idle reports whether the desks have caught up and no publication is in flight.
func Idle(b *Bridge) bool {
	for _, q := range b.work {
		if !q.idle() {
			return false
		}
	}
	if b.snapshotting.Load() {
		return false
	}
	// An incident thread's catch-up waiting out the batch pacing
	// (BatchEvery, wall clock) is work to come.
	b.incidents.mu.Lock()
	for _, sh := range b.incidents.shown {
		if sh.later {
			b.incidents.mu.Unlock()
			return false
		}
	}
	b.incidents.mu.Unlock()
	b.outbox.mu.Lock()
	defer b.outbox.mu.Unlock()
	return len(b.outbox.inflight) == 0
}

// Prune runs one retention pass now.
func Prune(b *Bridge) error { return b.prune() }

// Seq is the journal record the state readers see is at.
func Seq(b *Bridge) uint64 { return b.durable.Load().seq }

// Fold exposes the canonical form the public-speech rules compare.
func Fold(text string) string { return fold(text) }

// Visible exposes whether a text shows anything.
func Visible(text string) bool { return visible(text) }

// Opening reports whether case id has a card being opened on desk (a key
// journaled, no thread yet).
func Opening(b *Bridge, id CaseID, desk, queue string) bool {
	return getOpen(b.read(), id, desk, queue) != nil
}

// Settle does now what the bridge's timers would: one SLA check and the
// release of incident messages whose undo window is over.
func Settle(b *Bridge) {
	_ = b.checkSLA()
	b.releaseDue(time.Time{})
}
