package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// opened is what Open handed to the callbacks.
type opened struct {
	snapSeq  uint64
	snapshot string
	seqs     []uint64
	recs     []string
}

func open(t testing.TB, dir string, logs io.Writer) (*Journal, *opened, Stats, error) {
	t.Helper()
	o := &opened{}
	if logs == nil {
		logs = io.Discard
	}
	j, st, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		func(seq uint64, snap []byte) error { o.snapSeq, o.snapshot = seq, string(snap); return nil },
		func(seq uint64, rec []byte) error {
			o.seqs = append(o.seqs, seq)
			o.recs = append(o.recs, string(rec))
			return nil
		})
	if err == nil {
		t.Cleanup(func() { j.Close() })
	}
	return j, o, st, err
}

func mustOpen(t testing.TB, dir string) (*Journal, *opened) {
	t.Helper()
	j, o, _, err := open(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j, o
}

func appendAll(t testing.TB, j *Journal, recs ...string) uint64 {
	t.Helper()
	var seq uint64
	for _, r := range recs {
		var err error
		if seq, err = j.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

func recs(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func TestAppendReopenReplay(t *testing.T) {
	dir := t.TempDir()
	j, o := mustOpen(t, dir)
	if len(o.recs) != 0 || o.snapshot != "" {
		t.Fatalf("fresh journal replayed %+v", o)
	}
	if seq := appendAll(t, j, "a", "b", "c"); seq != 3 {
		t.Fatalf("seq = %d, want 3", seq)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	j, o = mustOpen(t, dir)
	if strings.Join(o.recs, ",") != "a,b,c" || fmt.Sprint(o.seqs) != "[1 2 3]" {
		t.Fatalf("replayed %v %v", o.recs, o.seqs)
	}
	if seq := appendAll(t, j, "d"); seq != 4 {
		t.Fatalf("seq after reopen = %d, want 4", seq)
	}
	j.Close()
	_, o = mustOpen(t, dir)
	if strings.Join(o.recs, ",") != "a,b,c,d" {
		t.Fatalf("replayed %v", o.recs)
	}
}

func TestRefusesEmptyAndOversizedRecords(t *testing.T) {
	j, _, err := Open(Options{Dir: t.TempDir(), MaxRecord: 10}, nil, nil)
	t.Cleanup(func() { j.Close() })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(nil); err == nil {
		t.Error("empty record accepted")
	}
	if _, err := j.Append(bytes.Repeat([]byte("x"), 11)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized record: %v", err)
	}
}

func TestInMemoryMode(t *testing.T) {
	j, st, err := Open(Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := appendAll(t, j, "x", "y")
	if seq != 2 || st.Replayed != 0 {
		t.Fatalf("seq %d stats %+v", seq, st)
	}
	if s, err := j.Rotate(); err != nil || s != 2 {
		t.Fatalf("rotate: %d %v", s, err)
	}
	if err := j.WriteSnapshot(2, func(io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// Concurrent writers share fsyncs: many records, fewer syncs, all durable.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	var syncs, synced atomic.Int64
	j, _, err := Open(Options{Dir: dir, OnSync: func(_ time.Duration, n int) { syncs.Add(1); synced.Add(int64(n)) }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 50
	var mu sync.Mutex // the one writer, as the bridge serialises Append
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				mu.Lock()
				seq, err := j.Append([]byte(fmt.Sprintf("w%d-%d", w, i)))
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := j.Sync(context.Background(), seq); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	j.Close()
	if synced.Load() != writers*each {
		t.Errorf("fsyncs made %d records durable, want %d", synced.Load(), writers*each)
	}
	if syncs.Load() >= writers*each {
		t.Errorf("%d fsyncs for %d records: no group commit", syncs.Load(), writers*each)
	}
	t.Logf("%d records in %d fsyncs", writers*each, syncs.Load())
	_, o := mustOpen(t, dir)
	if len(o.recs) != writers*each {
		t.Fatalf("replayed %d records, want %d", len(o.recs), writers*each)
	}
}

// A crash in the middle of writing the last record: cut at every byte
// offset of it, start-up keeps every complete record, warns, and appends
// after them.
func TestTornTailAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	j, _ := mustOpen(t, src)
	appendAll(t, j, "first", "second", "third-and-last")
	j.Close()
	seg := filepath.Join(src, segmentName(1))
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lastStart := len(full) - (headerSize + len("third-and-last"))
	for cut := lastStart; cut < len(full); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		j, o, st, err := open(t, dir, &logs)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if strings.Join(o.recs, ",") != "first,second" {
			t.Fatalf("cut at %d: replayed %v", cut, o.recs)
		}
		if cut > lastStart && (st.TornBytes != int64(cut-lastStart) || !strings.Contains(logs.String(), "torn")) {
			t.Fatalf("cut at %d: torn %d bytes, logs %q", cut, st.TornBytes, logs.String())
		}
		if seq := appendAll(t, j, "after"); seq != 3 {
			t.Fatalf("cut at %d: next seq %d", cut, seq)
		}
		j.Close()
		_, o = mustOpen(t, dir)
		if strings.Join(o.recs, ",") != "first,second,after" {
			t.Fatalf("cut at %d: after repair replayed %v", cut, o.recs)
		}
	}
}

// Damage followed by valid records is not a torn tail: start-up stops and
// names the file and offset.
func TestCorruptMiddleStopsStartup(t *testing.T) {
	for _, tc := range []struct {
		name string
		hurt func(b []byte, off int)
	}{
		{"payload byte", func(b []byte, off int) { b[off+headerSize+1] ^= 0xff }},
		{"checksum", func(b []byte, off int) { b[off+5] ^= 0x01 }},
		{"length past the end", func(b []byte, off int) { b[off+3] = 0x7f }},
		{"zero length", func(b []byte, off int) { copy(b[off:off+4], []byte{0, 0, 0, 0}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _ := mustOpen(t, dir)
			appendAll(t, j, "one", "two", "three", "four")
			j.Close()
			seg := filepath.Join(dir, segmentName(1))
			b, _ := os.ReadFile(seg)
			off := headerSize + len("one") // the second record
			tc.hurt(b, off)
			os.WriteFile(seg, b, 0o600)
			_, _, _, err := open(t, dir, nil)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != seg || ce.Offset != int64(off) {
				t.Fatalf("err = %v, want corruption in %s at %d", err, seg, off)
			}
			if !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), fmt.Sprint(off)) {
				t.Errorf("message does not name file and offset: %v", err)
			}
		})
	}
}

func TestSnapshotCompactsAndReplaysTheTail(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	appendAll(t, j, recs(5, "old")...)
	seq, err := j.Rotate()
	if err != nil || seq != 5 {
		t.Fatalf("rotate = %d, %v", seq, err)
	}
	appendAll(t, j, "new-0", "new-1") // written while the snapshot is made
	if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "state@5"); return err }); err != nil {
		t.Fatal(err)
	}
	j.Close()
	snaps, segs, _ := listDir(dir)
	if fmt.Sprint(snaps) != "[5]" || fmt.Sprint(segs) != "[6]" {
		t.Fatalf("after compaction: snapshots %v segments %v", snaps, segs)
	}
	j, o := mustOpen(t, dir)
	if o.snapSeq != 5 || o.snapshot != "state@5" || strings.Join(o.recs, ",") != "new-0,new-1" || fmt.Sprint(o.seqs) != "[6 7]" {
		t.Fatalf("reopened: %+v", o)
	}
	// A second round keeps only the newest snapshot.
	s2, _ := j.Rotate()
	if err := j.WriteSnapshot(s2, func(w io.Writer) error { _, err := io.WriteString(w, "state@7"); return err }); err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, "newest")
	j.Close()
	snaps, _, _ = listDir(dir)
	if fmt.Sprint(snaps) != "[7]" {
		t.Fatalf("snapshots %v, want [7]", snaps)
	}
	_, o = mustOpen(t, dir)
	if o.snapshot != "state@7" || strings.Join(o.recs, ",") != "newest" {
		t.Fatalf("reopened: %+v", o)
	}
}

func TestDamagedSnapshotOrMissingSegmentStopsStartup(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		j, _ := mustOpen(t, dir)
		appendAll(t, j, recs(3, "a")...)
		seq, _ := j.Rotate()
		appendAll(t, j, "b")
		if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "snap"); return err }); err != nil {
			t.Fatal(err)
		}
		seq, _ = j.Rotate()
		appendAll(t, j, "c")
		j.Close()
		_ = seq
		return dir
	}
	t.Run("snapshot", func(t *testing.T) {
		dir := build(t)
		p := filepath.Join(dir, snapshotName(3))
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 1
		os.WriteFile(p, b, 0o600)
		if _, _, _, err := open(t, dir, nil); !IsCorrupt(err) || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("segment", func(t *testing.T) {
		dir := build(t)
		os.Remove(filepath.Join(dir, segmentName(4)))
		if _, _, _, err := open(t, dir, nil); !IsCorrupt(err) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unfinished snapshot is ignored", func(t *testing.T) {
		dir := build(t)
		os.WriteFile(filepath.Join(dir, snapshotName(9)+".tmp"), []byte("half"), 0o600)
		_, o, _, err := open(t, dir, nil)
		if err != nil || o.snapshot != "snap" || strings.Join(o.recs, ",") != "b,c" {
			t.Fatalf("err %v, opened %+v", err, o)
		}
	})
}

func TestReplayErrorStopsOpen(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	appendAll(t, j, "ok", "bad")
	j.Close()
	_, _, err := Open(Options{Dir: dir}, nil, func(seq uint64, rec []byte) error {
		if string(rec) == "bad" {
			return errors.New("cannot apply")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "record 2") || !strings.Contains(err.Error(), "cannot apply") {
		t.Fatalf("err = %v", err)
	}
}

func TestSyncHonoursContext(t *testing.T) {
	j, _ := mustOpen(t, t.TempDir())
	defer j.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Sync(ctx, 99); !errors.Is(err, context.Canceled) {
		t.Fatalf("sync of a record never appended: %v", err)
	}
}

func FuzzDecodeFrames(f *testing.F) {
	f.Add(EncodeFrame([]byte("hello")))
	f.Add(append(EncodeFrame([]byte("a")), EncodeFrame([]byte(`{"t":"claim"}`))...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeFrames(data, 1<<16)
		var again []byte
		for _, r := range recs {
			again = append(again, EncodeFrame(r)...)
		}
		if err == nil && !bytes.Equal(again, data) {
			t.Fatalf("valid frames did not re-encode to the input")
		}
		if err != nil && !bytes.HasPrefix(data, again) {
			t.Fatalf("records before the damage are not a prefix of the input")
		}
	})
}

func BenchmarkAppendSyncParallel(b *testing.B) {
	j, _ := mustOpen(b, b.TempDir())
	defer j.Close()
	rec := bytes.Repeat([]byte("x"), 300)
	var mu sync.Mutex
	b.SetBytes(int64(len(rec)))
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			seq, err := j.Append(rec)
			mu.Unlock()
			if err == nil {
				err = j.Sync(context.Background(), seq)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
