// Package journaltest is the conformance suite every bridge.Journal
// passes: the file journal (bridge/journal) and the replicated one
// (store/jetstream) run the same tests against real storage.
package journaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Opener opens a new handle on one storage (a directory, a stream), as a
// process starting on it would; the suite loads it.
type Opener func(t *testing.T) bridge.Journal

// Run runs the suite. fresh returns an Opener on new, empty storage.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	t.Run("AppendReadBack", func(t *testing.T) { t.Parallel(); appendReadBack(t, fresh(t)) })
	t.Run("GroupCommit", func(t *testing.T) { t.Parallel(); groupCommit(t, fresh(t)) })
	t.Run("SnapshotCompaction", func(t *testing.T) { t.Parallel(); snapshotCompaction(t, fresh(t)) })
	t.Run("BadInput", func(t *testing.T) { t.Parallel(); badInput(t, fresh(t)) })
	t.Run("Closed", func(t *testing.T) { t.Parallel(); closed(t, fresh(t)) })
	t.Run("RestoreErrorStopsLoad", func(t *testing.T) { t.Parallel(); restoreError(t, fresh(t)) })
}

// Loaded is what Load handed over.
type Loaded struct {
	SnapshotSeq uint64
	Snapshot    []byte
	Seqs        []uint64
	Records     [][]byte
}

// Open opens a handle with o, loads it, and (for a replicated journal)
// waits until it leads, so it may append. Cleanup closes it.
func Open(t *testing.T, o Opener) (bridge.Journal, Loaded) {
	t.Helper()
	j := o(t)
	t.Cleanup(func() { j.Close() })
	var l Loaded
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := j.Load(ctx, func(seq uint64, snap []byte) error {
		l.SnapshotSeq, l.Snapshot = seq, bytes.Clone(snap)
		return nil
	}, func(seq uint64, rec []byte) error {
		l.Seqs, l.Records = append(l.Seqs, seq), append(l.Records, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		t.Fatalf("journaltest: load: %v", err)
	}
	if r, ok := j.(bridge.Replicated); ok {
		if _, err := r.Lead(ctx, func(uint64, [][]byte) error { return errors.New("journaltest: nobody else appends") }); err != nil {
			t.Fatalf("journaltest: lead: %v", err)
		}
	}
	return j, l
}

func rec(i int) []byte {
	return fmt.Appendf(nil, "record %d: %s", i, bytes.Repeat([]byte{byte(i)}, i%40))
}

func mustAppend(t *testing.T, j bridge.Journal, recs ...[]byte) uint64 {
	t.Helper()
	seq, err := j.Append(recs...)
	if err != nil {
		t.Fatalf("journaltest: append: %v", err)
	}
	return seq
}

func mustSync(t *testing.T, j bridge.Journal, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.Sync(ctx, seq); err != nil {
		t.Fatalf("journaltest: sync %d: %v", seq, err)
	}
}

func mustClose(t *testing.T, j bridge.Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("journaltest: close: %v", err)
	}
}

// checkRecords fails unless l replayed records from..to, as rec made them.
func checkRecords(t *testing.T, l Loaded, from, to int) {
	t.Helper()
	if len(l.Records) != to-from+1 {
		t.Fatalf("journaltest: replayed %d records, want %d (%d to %d)", len(l.Records), to-from+1, from, to)
	}
	for i, r := range l.Records {
		n := from + i
		if l.Seqs[i] != uint64(n) || !bytes.Equal(r, rec(n)) {
			t.Fatalf("journaltest: record %d is seq %d %q, want seq %d %q", i, l.Seqs[i], r, n, rec(n))
		}
	}
}

// Groups of records get consecutive seqs, are durable after Sync, and
// come back in order, with the same bytes, after a restart; appends
// continue after them.
func appendReadBack(t *testing.T, o Opener) {
	j, l := Open(t, o)
	if len(l.Records) != 0 || l.Snapshot != nil || j.Seq() != 0 {
		t.Fatalf("a new journal loaded %d records, snapshot %v, seq %d", len(l.Records), l.Snapshot != nil, j.Seq())
	}
	if got := mustAppend(t, j, rec(1)); got != 1 {
		t.Fatalf("first seq %d, want 1", got)
	}
	if got := mustAppend(t, j, rec(2), rec(3), rec(4)); got != 4 {
		t.Fatalf("a group of three ends at seq %d, want 4", got)
	}
	if got := mustAppend(t, j, rec(5)); got != 5 || j.Seq() != 5 {
		t.Fatalf("seq %d / Seq() %d, want 5", got, j.Seq())
	}
	mustSync(t, j, 5)
	mustClose(t, j)

	j, l = Open(t, o)
	checkRecords(t, l, 1, 5)
	if j.Seq() != 5 {
		t.Fatalf("Seq() after load is %d, want 5", j.Seq())
	}
	if got := mustAppend(t, j, rec(6)); got != 6 {
		t.Fatalf("the append after a restart got seq %d, want 6", got)
	}
	mustSync(t, j, 6)
	mustClose(t, j)
	_, l = Open(t, o)
	checkRecords(t, l, 1, 6)
}

// Concurrent Syncs on many small groups all return, each once its group
// is durable, and the log keeps the writer's order.
func groupCommit(t *testing.T, o Opener) {
	j, _ := Open(t, o)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		seq := mustAppend(t, j, rec(i))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := j.Sync(ctx, seq); err != nil {
				errs <- fmt.Errorf("sync %d: %w", seq, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustClose(t, j)
	_, l := Open(t, o)
	checkRecords(t, l, 1, n)
}

// A snapshot at Rotate's seq is what a restart restores, followed only by
// the records after it; a later snapshot compacts again.
func snapshotCompaction(t *testing.T, o Opener) {
	j, _ := Open(t, o)
	for i := 1; i <= 10; i++ {
		mustAppend(t, j, rec(i))
	}
	seq, err := j.Rotate()
	if err != nil || seq != 10 {
		t.Fatalf("rotate: %d, %v; want 10", seq, err)
	}
	if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "state@10"); return err }); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for i := 11; i <= 15; i++ {
		mustAppend(t, j, rec(i))
	}
	mustSync(t, j, 15)
	mustClose(t, j)

	j, l := Open(t, o)
	if l.SnapshotSeq != 10 || string(l.Snapshot) != "state@10" {
		t.Fatalf("restored snapshot %d %q, want 10 state@10", l.SnapshotSeq, l.Snapshot)
	}
	checkRecords(t, l, 11, 15)
	seq, err = j.Rotate()
	if err != nil || seq != 15 {
		t.Fatalf("rotate: %d, %v; want 15", seq, err)
	}
	if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "state@15"); return err }); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	mustClose(t, j)

	j, l = Open(t, o)
	if l.SnapshotSeq != 15 || string(l.Snapshot) != "state@15" || len(l.Records) != 0 {
		t.Fatalf("restored snapshot %d %q and %d records, want 15 state@15 and none", l.SnapshotSeq, l.Snapshot, len(l.Records))
	}
	if got := mustAppend(t, j, rec(16)); got != 16 {
		t.Fatalf("the append after a snapshot got seq %d, want 16", got)
	}
	mustSync(t, j, 16)
	mustClose(t, j)
	_, l = Open(t, o)
	checkRecords(t, l, 16, 16)
}

// An empty record is refused with nothing appended; a failed snapshot
// encoder leaves the journal as it was.
func badInput(t *testing.T, o Opener) {
	j, _ := Open(t, o)
	mustAppend(t, j, rec(1))
	if _, err := j.Append(rec(2), nil); err == nil {
		t.Fatal("a group with an empty record was taken")
	}
	if j.Seq() != 1 {
		t.Fatalf("Seq() is %d after a refused append, want 1", j.Seq())
	}
	seq, err := j.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := j.WriteSnapshot(seq, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("a failing snapshot encoder gave %v, want boom", err)
	}
	mustAppend(t, j, rec(2))
	mustSync(t, j, 2)
	mustClose(t, j)
	_, l := Open(t, o)
	if l.Snapshot != nil {
		t.Fatal("a failed snapshot was restored")
	}
	checkRecords(t, l, 1, 2)
}

// After Close, appends and syncs fail with ErrJournalClosed, and what was
// appended before is durable.
func closed(t *testing.T, o Opener) {
	j, _ := Open(t, o)
	seq := mustAppend(t, j, rec(1), rec(2))
	mustClose(t, j) // no Sync: Close makes it durable
	if _, err := j.Append(rec(3)); !errors.Is(err, bridge.ErrJournalClosed) {
		t.Fatalf("append after close: %v, want ErrJournalClosed", err)
	}
	if err := j.Sync(context.Background(), seq+1); !errors.Is(err, bridge.ErrJournalClosed) {
		t.Fatalf("sync after close: %v, want ErrJournalClosed", err)
	}
	_, l := Open(t, o)
	checkRecords(t, l, 1, 2)
}

// An error from restore or replay stops Load and comes back from it.
func restoreError(t *testing.T, o Opener) {
	j, _ := Open(t, o)
	mustAppend(t, j, rec(1))
	seq, err := j.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "s"); return err }); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, j, rec(2))
	mustSync(t, j, 2)
	mustClose(t, j)

	boom := errors.New("boom")
	for _, which := range []string{"restore", "replay"} {
		j := o(t)
		err := j.Load(context.Background(), func(uint64, []byte) error {
			if which == "restore" {
				return boom
			}
			return nil
		}, func(uint64, []byte) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("%s error: Load returned %v", which, err)
		}
		j.Close()
	}
}
