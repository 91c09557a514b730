package bridge

import (
	"context"
	"errors"
	"io"

	"github.com/earshot-dev/earshot/bridge/journal"
)

// Journal is where the bridge makes its events durable: an ordered log
// of records (encoded events, numbered from 1), snapshots that cover a
// prefix of it, and compaction of what a snapshot covers. The bridge
// encodes and decodes the records; a journal only keeps them in order.
// Two implementations: the file journal (bridge/journal, the default)
// and a replicated one on NATS JetStream (store/jetstream), which also
// implements Replicated.
//
// One writer appends (the bridge, with its writer lock held), in the order
// the events are applied; Sync and the other methods may be called
// concurrently.
type Journal interface {
	// Load hands the newest snapshot (its seq and payload) to restore,
	// then every later record, in order, to replay; either may return an
	// error to stop it. It is called before any Append (and again by a
	// replicated journal's process after it lost the leadership, to start
	// over from what the log holds). It does I/O and blocks until read.
	Load(ctx context.Context, restore func(seq uint64, snapshot []byte) error, replay func(seq uint64, rec []byte) error) error
	// Append adds recs, the records of one committed change, and returns
	// the seq of the last. A group is never split: a replicated journal
	// sends it in one message. It copies recs and must not wait for I/O:
	// Sync does.
	Append(recs ...[]byte) (uint64, error)
	// Seq is the seq of the last record appended (or loaded).
	Seq() uint64
	// Sync blocks until record seq is durable (fsynced; acknowledged by
	// the replicas), the journal fails, or ctx ends. Concurrent callers
	// share one write (group commit).
	Sync(ctx context.Context, seq uint64) error
	// Rotate makes every record appended so far durable and returns the
	// seq of the last: a snapshot of the state at that seq may then be
	// written. The caller holds its writer (no Append meanwhile).
	Rotate() (uint64, error)
	// WriteSnapshot saves the state at seq (written by write) and then
	// compacts: what the snapshot covers is removed from the log. seq
	// comes from Rotate. It does I/O and may run while the writer appends.
	WriteSnapshot(seq uint64, write func(io.Writer) error) error
	// Err is the error that stopped the journal, or nil while it works.
	Err() error
	// Close makes what was appended durable and releases the journal
	// (a replicated journal also gives its leadership up). Later Append
	// and Sync calls fail with ErrJournalClosed.
	Close() error
}

// Replicated is a journal several Earshot processes share, of which one
// leads: only the leader appends, runs the listeners, the desk workers,
// the outbox and the timers; the others are hot standbys that apply every
// record the leader appends to their own state.
//
// Appends are fenced: while a process leads, any failure of Append or
// Sync (another process took over and appended, so this one's append was
// refused; an append whose fate is unknown) ends the context Lead
// returned, and the journal refuses every append until Lead returns
// again. The bridge then stops its workers and loads the state again from
// what the log holds.
type Replicated interface {
	Journal
	// Lead blocks while another process leads, handing each group of
	// records it appends to apply (first is the seq of the first record),
	// until this process holds the leadership; then it catches up with
	// the last records, fences the previous leader off (its appends fail
	// from then on) and returns a context that ends when this process
	// loses the leadership. It returns an error when ctx ends first, or
	// when the records cannot be followed (a gap: Load again).
	Lead(ctx context.Context, apply func(first uint64, recs [][]byte) error) (context.Context, error)
}

// ErrJournalClosed is what a journal's Append and Sync return after Close.
var ErrJournalClosed = journal.ErrClosed

// ErrNotLeader is what a change returns on a standby: only the leader
// changes the state.
var ErrNotLeader = errors.New("bridge: this process is a standby; the leader takes changes")

// fileJournal is the default: the file journal in dir ("" keeps nothing).
func (b *Bridge) fileJournal(dir string) Journal {
	return journal.New(journal.Options{Dir: dir, Logger: b.log, OnSync: b.metrics.observeFsync})
}

var _ Journal = (*journal.Journal)(nil)
