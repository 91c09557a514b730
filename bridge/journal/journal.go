// Package journal is Earshot's append-only event log: framed records in
// segment files, fsync with group commit, snapshots that compact the log,
// and replay on start.
//
// A directory holds segment files journal-<first seq>.log and at most one
// live snapshot snapshot-<seq>.snap (older ones are removed once a newer one
// is safely on disk). A record is framed as
//
//	length uint32 LE | crc32c(payload) uint32 LE | payload
//
// and numbered implicitly: the first record of journal-<n>.log is record n,
// the next n+1, and so on. Open loads the newest snapshot, then replays
// every record after it.
//
// What happens to damage on start:
//   - A torn last record (a crash in the middle of a write: a short header,
//     a length running past the end of the file, or a bad checksum with
//     nothing valid after it) is cut off, and a warning names the file, the
//     offset and how many bytes went.
//   - Anything else (a bad record followed by valid data, a damaged record in
//     an older segment, a missing segment, a damaged snapshot) stops Open with
//     an error naming the file and the offset. Nothing is dropped silently.
//
// Concurrency: Append only copies into a buffer (no I/O) and must be called
// by one writer at a time, in the order the writer applies its events; Sync
// blocks until a record is on disk. One background goroutine writes and
// fsyncs whatever has accumulated, so concurrent writers share an fsync
// (group commit). With an empty Dir nothing is written and Sync returns at
// once: the in-memory mode of tests and demos.
package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// headerSize is the frame header: length and checksum.
const headerSize = 8

// DefaultMaxRecord bounds one record; a length above it is damage.
const DefaultMaxRecord = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append and Sync after Close.
var ErrClosed = errors.New("journal: closed")

// Options configure a journal.
type Options struct {
	// Dir is the data directory; "" keeps nothing (in-memory mode).
	Dir string
	// Logger receives the torn-tail warning and compaction notes; nil discards.
	Logger *slog.Logger
	// OnSync is told how long each fsync took and how many records it made
	// durable (for earshot_journal_fsync_duration_seconds). May be nil.
	OnSync func(d time.Duration, records int)
	// MaxRecord bounds one record; 0 means DefaultMaxRecord.
	MaxRecord int
}

// Journal is an open event log. Its methods are safe for concurrent use,
// but Append's order is the log's order, so one writer calls it.
type Journal struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	file     *os.File // the segment being appended to; nil in memory mode
	buf      []byte   // framed records not yet handed to the flusher
	bufCount int
	appended uint64 // seq of the last record appended
	synced   uint64 // seq of the last record on disk
	failed   error  // sticky: a write or fsync failed, or Close ran
	loaded   bool   // Load (or Open) ran
	wake     chan struct{}
	durable  chan struct{} // closed and replaced whenever synced advances or failed is set

	flusherDone chan struct{}
	stop        chan struct{}
	closeOnce   sync.Once
}

// Stats describe what Open found.
type Stats struct {
	SnapshotSeq uint64 // the snapshot loaded; 0 if none
	Replayed    int    // records replayed after it
	Segments    int    // segment files read
	TornBytes   int64  // bytes cut off a torn tail
}

// New makes a journal for opts.Dir without reading it: Load reads it and
// readies it for appending. It starts the flusher (Close stops it).
func New(opts Options) *Journal {
	if opts.MaxRecord <= 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Journal{
		opts:        opts,
		log:         log,
		wake:        make(chan struct{}, 1),
		durable:     make(chan struct{}),
		flusherDone: make(chan struct{}),
		stop:        make(chan struct{}),
	}
	go j.flusher()
	return j
}

// Open opens (creating) the journal in opts.Dir. If a snapshot exists,
// restore receives its payload and seq first; then replay receives every
// later record in order. Either may return an error to stop Open. Open does
// file I/O and blocks until the whole log is read.
func Open(opts Options, restore func(seq uint64, snapshot []byte) error, replay func(seq uint64, rec []byte) error) (*Journal, Stats, error) {
	j := New(opts)
	st, err := j.loadStats(restore, replay)
	if err != nil {
		j.Close()
		return nil, st, err
	}
	return j, st, nil
}

// Load reads the journal as Open does (the snapshot to restore, then every
// later record to replay) and readies it for appending. It is called once,
// before any Append; it does file I/O and blocks until the whole log is
// read. With an empty Dir there is nothing to read.
func (j *Journal) Load(ctx context.Context, restore func(seq uint64, snapshot []byte) error, replay func(seq uint64, rec []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := j.loadStats(restore, replay)
	return err
}

func (j *Journal) loadStats(restore func(uint64, []byte) error, replay func(uint64, []byte) error) (Stats, error) {
	j.mu.Lock()
	if j.loaded {
		j.mu.Unlock()
		return Stats{}, errors.New("journal: loaded twice")
	}
	j.loaded = true
	j.mu.Unlock()
	if j.opts.Dir == "" {
		return Stats{}, nil
	}
	return j.load(restore, replay)
}

// Append frames recs, one committed group of records, into the write
// buffer and returns the seq of the last. It copies recs (the caller may
// reuse them) and does no I/O; call Sync(seq) to wait until they are on
// disk. It fails once the journal has failed or closed, and before Load.
func (j *Journal) Append(recs ...[]byte) (uint64, error) {
	for _, rec := range recs {
		if len(rec) == 0 {
			return 0, errors.New("journal: empty record")
		}
		if len(rec) > j.opts.MaxRecord {
			return 0, fmt.Errorf("journal: record of %d bytes is over the %d-byte limit", len(rec), j.opts.MaxRecord)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return 0, j.failed
	}
	if !j.loaded {
		return 0, errors.New("journal: append before load")
	}
	if len(recs) == 0 {
		return j.appended, nil
	}
	j.appended += uint64(len(recs))
	if j.file == nil && j.opts.Dir == "" {
		j.synced = j.appended
		return j.appended, nil
	}
	for _, rec := range recs {
		j.buf = appendFrame(j.buf, rec)
	}
	j.bufCount += len(recs)
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return j.appended, nil
}

// Seq returns the seq of the last record appended.
func (j *Journal) Seq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appended
}

// Sync blocks until record seq is on disk, the journal fails, or ctx ends.
func (j *Journal) Sync(ctx context.Context, seq uint64) error {
	for {
		j.mu.Lock()
		if j.synced >= seq {
			j.mu.Unlock()
			return nil
		}
		if j.failed != nil {
			err := j.failed
			j.mu.Unlock()
			return err
		}
		ch := j.durable
		j.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func appendFrame(buf, rec []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(rec, castagnoli))
	buf = append(buf, h[:]...)
	return append(buf, rec...)
}

// flusher writes and fsyncs whatever Append buffered, one batch at a time:
// records appended while an fsync runs go in the next batch.
func (j *Journal) flusher() {
	defer close(j.flusherDone)
	var spare []byte
	for {
		select {
		case <-j.wake:
		case <-j.stop:
			j.flushOnce(&spare) // whatever is left
			return
		}
		j.flushOnce(&spare)
	}
}

// flushOnce writes the pending batch and fsyncs it.
func (j *Journal) flushOnce(spare *[]byte) {
	j.mu.Lock()
	if len(j.buf) == 0 || j.failed != nil {
		j.mu.Unlock()
		return
	}
	batch, count, upto, f := j.buf, j.bufCount, j.appended, j.file
	j.buf, j.bufCount = (*spare)[:0], 0
	j.mu.Unlock()

	start := time.Now()
	_, err := f.Write(batch)
	if err == nil {
		err = f.Sync()
	}
	d := time.Since(start)

	j.mu.Lock()
	if err != nil {
		j.failLocked(fmt.Errorf("journal: write %s: %w", f.Name(), err))
	} else {
		j.synced = upto
		close(j.durable)
		j.durable = make(chan struct{})
	}
	j.mu.Unlock()
	*spare = batch
	if err == nil && j.opts.OnSync != nil {
		j.opts.OnSync(d, count)
	}
}

func (j *Journal) failLocked(err error) {
	if j.failed == nil {
		j.failed = err
	}
	close(j.durable)
	j.durable = make(chan struct{})
}

// Err returns the error that stopped the journal (a write or fsync
// failure), or nil while it works. After Close it returns ErrClosed.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

// flushNow writes and fsyncs everything appended so far; the caller must
// not hold j.mu. Used by Rotate and Close, which run with the writer held.
func (j *Journal) flushNow() error {
	j.mu.Lock()
	seq := j.appended
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return j.Sync(context.Background(), seq)
}

// Rotate makes every record appended so far durable and starts a new
// segment for the records after them. It returns the seq of the last
// record before the new segment: a snapshot of the state at that seq lets
// WriteSnapshot drop the older segments. The caller must hold its writer
// (no Append may run meanwhile). It does file I/O.
func (j *Journal) Rotate() (uint64, error) {
	if err := j.flushNow(); err != nil {
		return 0, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return 0, j.failed
	}
	seq := j.appended
	if j.file == nil {
		return seq, nil
	}
	f, err := createFile(j.opts.Dir, segmentName(seq+1))
	if err != nil {
		j.failLocked(err)
		return 0, err
	}
	old := j.file
	j.file = f
	if err := old.Close(); err != nil {
		j.log.Warn("journal: closing the previous segment", "file", old.Name(), "err", err)
	}
	return seq, nil
}

// WriteSnapshot writes the state at seq (as written by write) to a new
// snapshot file atomically (temporary file, fsync, rename, fsync of the
// directory), then removes the segments it covers and older snapshots.
// seq must come from Rotate. It does file I/O and may run while the writer
// appends.
func (j *Journal) WriteSnapshot(seq uint64, write func(io.Writer) error) error {
	if j.opts.Dir == "" {
		return nil
	}
	var payload bytes.Buffer
	if err := write(&payload); err != nil {
		return fmt.Errorf("journal: encode snapshot: %w", err)
	}
	name := snapshotName(seq)
	tmp := filepath.Join(j.opts.Dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: snapshot: %w", err)
	}
	err = writeSnapshotFile(f, seq, payload.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(j.opts.Dir, name))
	}
	if err == nil {
		err = syncDir(j.opts.Dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: snapshot %s: %w", name, err)
	}
	return j.compact(seq)
}

// compact removes snapshots older than seq and segments whose records are
// all at or before seq (keeping the one being appended to).
func (j *Journal) compact(seq uint64) error {
	snaps, segs, err := listDir(j.opts.Dir)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s < seq {
			j.remove(snapshotName(s))
		}
	}
	j.mu.Lock()
	current := ""
	if j.file != nil {
		current = filepath.Base(j.file.Name())
	}
	j.mu.Unlock()
	for i, first := range segs {
		name := segmentName(first)
		if name == current {
			continue
		}
		// A segment ends where the next begins.
		if i+1 < len(segs) && segs[i+1]-1 <= seq {
			j.remove(name)
		}
	}
	return nil
}

func (j *Journal) remove(name string) {
	if err := os.Remove(filepath.Join(j.opts.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.log.Warn("journal: could not remove a compacted file", "file", name, "err", err)
	}
}

// Close writes and fsyncs everything appended, stops the flusher and closes
// the file. Later Append and Sync calls fail with ErrClosed.
func (j *Journal) Close() error {
	var err error
	j.closeOnce.Do(func() {
		err = j.flushNow()
		if errors.Is(err, ErrClosed) {
			err = nil
		}
		close(j.stop)
		<-j.flusherDone
		j.mu.Lock()
		j.failLocked(ErrClosed)
		f := j.file
		j.file = nil
		j.mu.Unlock()
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// ---- files ----

func segmentName(first uint64) string { return fmt.Sprintf("journal-%020d.log", first) }
func snapshotName(seq uint64) string  { return fmt.Sprintf("snapshot-%020d.snap", seq) }
func parseNum(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix), 10, 64)
	return n, err == nil
}

// listDir returns the snapshot seqs and segment first seqs in dir, ascending.
func listDir(dir string) (snaps, segs []uint64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: read %s: %w", dir, err)
	}
	for _, e := range entries {
		if n, ok := parseNum(e.Name(), "snapshot-", ".snap"); ok {
			snaps = append(snaps, n)
		} else if n, ok := parseNum(e.Name(), "journal-", ".log"); ok {
			segs = append(segs, n)
		}
	}
	slices.Sort(snaps)
	slices.Sort(segs)
	return snaps, segs, nil
}

func createFile(dir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", name, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync dir %s: %w", dir, err)
	}
	return nil
}
