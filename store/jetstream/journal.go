package jetstream

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	nj "github.com/nats-io/nats.go/jetstream"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/bridge/journal"
)

// Message headers of the journal's messages.
const (
	hdrRecord = "Earshot-Record" // seq of the message's first record
	hdrCount  = "Earshot-Count"  // records in the message (0: a fence marker)
	hdrHolder = "Earshot-Holder" // the process that appended it
	hdrFence  = "Earshot-Fence"  // "1" on the marker a new leader appends first
)

// ErrNotLeader is what Append returns while this process does not lead.
var ErrNotLeader = bridge.ErrNotLeader

// errFenced is why appends stopped when another process appended first.
var errFenced = errors.New("jetstream: another process appended to the journal: this one no longer leads")

// Journal is the replicated journal. It implements bridge.Replicated.
// Its methods are safe for concurrent use; Append's order is the log's.
type Journal struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	ownsNC bool
	js     nj.JetStream
	stream nj.Stream
	obs    nj.ObjectStore
	kv     nj.KeyValue
	m      *metrics
	// maxMsg bounds one message's payload (the server's max_payload less
	// room for headers).
	maxMsg int

	mu         sync.Mutex
	loaded     bool
	leading    bool
	lastStream uint64  // stream seq of the last message known to be in the stream
	appended   uint64  // seq of the last record appended (or loaded, or followed)
	synced     uint64  // seq of the last record the stream acknowledged
	pending    []group // groups waiting to be published, in order
	failed     error   // why appends stop: not leading, fenced, unknown fate, closed
	durable    chan struct{}
	rotated    [2]uint64 // Rotate's record seq and the stream seq it ends at
	leadCancel context.CancelCauseFunc
	leaseRev   uint64
	leaseDone  chan struct{} // closed when the renewal loop ended
	closed     bool

	wake        chan struct{}
	stop        chan struct{}
	flusherDone chan struct{}
	closeOnce   sync.Once
}

// group is one Append: framed records.
type group struct {
	first  uint64
	count  int
	frames []byte
}

var _ bridge.Replicated = (*Journal)(nil)

// Open connects to the cluster (unless cfg.Conn is given), creates the
// stream and buckets if they are missing, and returns the journal, not
// yet loaded (the bridge calls Load). It does network I/O, bounded by
// ctx and cfg.Timeout.
func Open(ctx context.Context, cfg Config) (*Journal, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("jetstream: config: %w", errors.Join(errs...))
	}
	cfg = cfg.withDefaults()
	j := &Journal{
		cfg:         cfg,
		log:         cfg.Logger,
		m:           newMetrics(cfg.Registerer),
		failed:      ErrNotLeader,
		durable:     make(chan struct{}),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	j.nc = cfg.Conn
	if j.nc == nil {
		nc, err := cfg.connect()
		if err != nil {
			return nil, err
		}
		j.nc, j.ownsNC = nc, true
	}
	js, err := nj.New(j.nc)
	for err == nil {
		// A cluster that is forming or electing answers late or "not
		// available": try again while ctx allows.
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		j.stream, j.obs, j.kv, err = ensure(cctx, js, cfg)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		cfg.Logger.Warn("jetstream: the stream and buckets are not ready; trying again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
			err = nil
		}
	}
	if err != nil {
		if j.ownsNC {
			j.nc.Close()
		}
		return nil, err
	}
	j.js = js
	j.maxMsg = int(j.nc.MaxPayload()) - 4<<10
	go j.flusher()
	return j, nil
}

// Holder is the name this process uses in the lease and its messages.
func (j *Journal) Holder() string { return j.cfg.Holder }

// ---- reading ----

// Load restores the newest snapshot and replays every record after it
// from the stream. It resets the journal to a standby that has read the
// log up to its end (Lead then follows and campaigns). It does network I/O.
func (j *Journal) Load(ctx context.Context, restore func(seq uint64, snap []byte) error, replay func(seq uint64, rec []byte) error) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return journal.ErrClosed
	}
	if j.leading {
		j.mu.Unlock()
		return errors.New("jetstream: load while leading")
	}
	j.loaded, j.pending = false, nil
	j.mu.Unlock()

	snapSeq, streamSeq, err := j.loadSnapshot(ctx, restore)
	if err != nil {
		return err
	}
	next := snapSeq + 1
	last, err := j.readStream(ctx, streamSeq+1, 0, func(m streamMsg) error {
		first, recs, err := m.records(next, j.cfg.Stream)
		if err != nil {
			return err
		}
		for i, rec := range recs {
			if err := replay(first+uint64(i), rec); err != nil {
				return fmt.Errorf("jetstream: replay record %d (stream %s, message %d): %w", first+uint64(i), j.cfg.Stream, m.seq, err)
			}
		}
		next = first + uint64(len(recs))
		return nil
	})
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastStream = max(last, streamSeq)
	j.appended, j.synced = next-1, next-1
	j.loaded = true
	j.failed = ErrNotLeader
	return nil
}

// loadSnapshot hands the newest snapshot to restore and returns the
// record seq it covers and the stream seq it ends at (0, 0: none).
func (j *Journal) loadSnapshot(ctx context.Context, restore func(uint64, []byte) error) (uint64, uint64, error) {
	snaps, err := j.snapshots(ctx)
	if err != nil || len(snaps) == 0 {
		return 0, 0, err
	}
	s := snaps[len(snaps)-1]
	cctx, cancel := context.WithTimeout(ctx, 4*j.cfg.Timeout)
	data, err := j.obs.GetBytes(cctx, s.name)
	cancel()
	if err != nil {
		return 0, 0, fmt.Errorf("jetstream: read snapshot %s: %w", s.name, err)
	}
	if err := restore(s.record, data); err != nil {
		return 0, 0, fmt.Errorf("jetstream: restore snapshot %s: %w", s.name, err)
	}
	return s.record, s.stream, nil
}

// snapshotInfo is one snapshot object.
type snapshotInfo struct {
	name           string
	record, stream uint64
}

// snapshots lists the snapshot objects, oldest first.
func (j *Journal) snapshots(ctx context.Context) ([]snapshotInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	defer cancel()
	infos, err := j.obs.List(cctx)
	if errors.Is(err, nj.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: list snapshots: %w", err)
	}
	var out []snapshotInfo
	for _, info := range infos {
		rec, ok := strings.CutPrefix(info.Name, "snapshot-")
		if !ok || info.Deleted {
			continue
		}
		r, err1 := strconv.ParseUint(rec, 10, 64)
		s, err2 := strconv.ParseUint(info.Metadata["stream_seq"], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("jetstream: snapshot object %q has no record or stream sequence", info.Name)
		}
		out = append(out, snapshotInfo{name: info.Name, record: r, stream: s})
	}
	slices.SortFunc(out, func(a, b snapshotInfo) int { return cmp.Compare(a.record, b.record) })
	return out, nil
}

// DamageError says where the stream is damaged: a message that is not a
// valid group of records, or records missing between the snapshot and the
// stream. Load stops on it, as the file journal stops on a damaged file.
type DamageError struct {
	Stream  string
	Message uint64 // the stream sequence of the message
	Reason  string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("jetstream: stream %s is damaged at message %d: %s (start-up stopped so nothing is lost; restore the stream and its snapshots from a backup, or import an export with earshot journal import)", e.Stream, e.Message, e.Reason)
}

// IsDamaged reports whether err is damage found by Load.
func IsDamaged(err error) bool {
	var de *DamageError
	return errors.As(err, &de)
}

// streamMsg is one journal message as read from the stream.
type streamMsg struct {
	seq     uint64
	header  nats.Header
	data    []byte
	pending uint64 // messages after it when it was delivered
}

// records checks that m continues the log at record next and returns its
// first seq and records (none for a fence marker).
func (m streamMsg) records(next uint64, stream string) (uint64, [][]byte, error) {
	first, err1 := strconv.ParseUint(m.header.Get(hdrRecord), 10, 64)
	count, err2 := strconv.Atoi(m.header.Get(hdrCount))
	if err1 != nil || err2 != nil || count < 0 {
		return 0, nil, &DamageError{Stream: stream, Message: m.seq, Reason: "a message without Earshot-Record and Earshot-Count headers (not Earshot's journal?)"}
	}
	if first != next {
		if first+uint64(count) <= next {
			return next, nil, nil // covered by the snapshot already (a purge that did not happen)
		}
		return 0, nil, &DamageError{Stream: stream, Message: m.seq,
			Reason: fmt.Sprintf("record %d was expected, the message starts at record %d (records are missing: restore the stream and snapshots together)", next, first)}
	}
	recs, err := journal.DecodeFrames(m.data, 0)
	if err != nil {
		return 0, nil, &DamageError{Stream: stream, Message: m.seq, Reason: "damaged records: " + err.Error()}
	}
	if len(recs) != count {
		return 0, nil, &DamageError{Stream: stream, Message: m.seq, Reason: fmt.Sprintf("the message says %d records and holds %d", count, len(recs))}
	}
	return first, recs, nil
}

// readStream hands every message from stream seq from up to the stream's
// last (as of the call; upTo > 0: up to that one) to each, and returns
// the stream seq of the last handed. It does network I/O.
func (j *Journal) readStream(ctx context.Context, from, upTo uint64, each func(streamMsg) error) (uint64, error) {
	if upTo == 0 {
		cctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
		info, err := j.stream.Info(cctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("jetstream: stream %s: %w", j.cfg.Stream, err)
		}
		upTo = info.State.LastSeq
	}
	if upTo < from {
		return 0, nil
	}
	msgs, stop, err := j.follow(ctx, from)
	if err != nil {
		return 0, err
	}
	defer stop()
	var last uint64
	idle := time.NewTimer(4 * j.cfg.Timeout)
	defer idle.Stop()
	for last < upTo {
		select {
		case m, ok := <-msgs:
			if !ok {
				return last, fmt.Errorf("jetstream: reading stream %s stopped at message %d of %d", j.cfg.Stream, last, upTo)
			}
			if err := each(m); err != nil {
				return last, err
			}
			last = m.seq
			idle.Reset(4 * j.cfg.Timeout)
		case <-idle.C:
			return last, fmt.Errorf("jetstream: reading stream %s: no message for %s (at %d of %d)", j.cfg.Stream, 4*j.cfg.Timeout, last, upTo)
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
	return last, nil
}

// follow delivers the stream's messages from stream seq from, in order,
// on the returned channel, until stop is called (then the channel closes).
func (j *Journal) follow(ctx context.Context, from uint64) (<-chan streamMsg, func(), error) {
	cctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	cons, err := j.js.OrderedConsumer(cctx, j.cfg.Stream, nj.OrderedConsumerConfig{
		DeliverPolicy: nj.DeliverByStartSequencePolicy,
		OptStartSeq:   max(from, 1),
	})
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: follow stream %s: %w", j.cfg.Stream, err)
	}
	it, err := cons.Messages(nj.PullMaxMessages(512))
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: follow stream %s: %w", j.cfg.Stream, err)
	}
	out := make(chan streamMsg, 64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(out)
		for {
			msg, err := it.Next()
			if err != nil {
				return // stopped, or the consumer gave up (the reader notices)
			}
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			m := streamMsg{seq: md.Sequence.Stream, header: msg.Headers(), data: msg.Data(), pending: md.NumPending}
			select {
			case out <- m:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			it.Stop()
			<-finished
		})
	}
	return out, stop, nil
}

// ---- appending ----

// Append queues recs, one committed group, and returns the seq of the
// last. It does no I/O; Sync waits for the acknowledgement. It fails
// while this process does not lead.
func (j *Journal) Append(recs ...[]byte) (uint64, error) {
	size := 0
	for _, rec := range recs {
		if len(rec) == 0 {
			return 0, errors.New("jetstream: empty record")
		}
		size += len(rec) + 8
	}
	if size > j.maxMsg {
		return 0, fmt.Errorf("jetstream: a change of %d bytes is over the %d bytes one message may hold (the server's max_payload)", size, j.maxMsg)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return 0, j.failed
	}
	if len(recs) == 0 {
		return j.appended, nil
	}
	g := group{first: j.appended + 1, count: len(recs), frames: make([]byte, 0, size)}
	for _, rec := range recs {
		g.frames = append(g.frames, journal.EncodeFrame(rec)...)
	}
	j.appended += uint64(len(recs))
	j.pending = append(j.pending, g)
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return j.appended, nil
}

// Seq is the seq of the last record appended, loaded or followed.
func (j *Journal) Seq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appended
}

// Sync blocks until record seq is acknowledged by the stream, the journal
// fails (this process lost the leadership), or ctx ends.
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

// Err is why appends stop (nil while this process leads).
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return journal.ErrClosed
	}
	if j.leading {
		return j.failed
	}
	return nil
}

// flusher publishes pending groups, one message at a time: groups
// appended while a message waits for its acknowledgement go together in
// the next (group commit).
func (j *Journal) flusher() {
	defer close(j.flusherDone)
	for {
		select {
		case <-j.wake:
		case <-j.stop:
			return
		}
		for j.flushOnce() {
		}
	}
}

// flushOnce publishes one message of pending groups; it reports whether
// more are pending.
func (j *Journal) flushOnce() bool {
	j.mu.Lock()
	if len(j.pending) == 0 || j.failed != nil {
		j.mu.Unlock()
		return false
	}
	n, size, count := 0, 0, 0
	for _, g := range j.pending {
		if n > 0 && size+len(g.frames) > j.maxMsg {
			break
		}
		n++
		size += len(g.frames)
		count += g.count
	}
	groups := j.pending[:n:n]
	first, expect := groups[0].first, j.lastStream
	j.mu.Unlock()

	data := make([]byte, 0, size)
	for _, g := range groups {
		data = append(data, g.frames...)
	}
	start := time.Now()
	seq, err := j.publish(first, count, data, expect, false)
	j.m.publish.Observe(time.Since(start).Seconds())

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return false // stepped down meanwhile: pending was failed already
	}
	if err != nil {
		j.stepDownLocked(err)
		return false
	}
	j.lastStream = seq
	j.synced = first + uint64(count) - 1
	j.pending = j.pending[n:]
	close(j.durable)
	j.durable = make(chan struct{})
	return len(j.pending) > 0
}

// publish sends one message of count records from first, fenced on the
// stream's last sequence being expect, and returns its stream sequence.
func (j *Journal) publish(first uint64, count int, data []byte, expect uint64, fence bool) (uint64, error) {
	msg := nats.NewMsg(j.cfg.subject())
	msg.Data = data
	msg.Header.Set(hdrRecord, strconv.FormatUint(first, 10))
	msg.Header.Set(hdrCount, strconv.Itoa(count))
	msg.Header.Set(hdrHolder, j.cfg.Holder)
	if fence {
		msg.Header.Set(hdrFence, "1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
	defer cancel()
	ack, err := j.js.PublishMsg(ctx, msg, nj.WithExpectLastSequence(expect))
	if err != nil {
		if wrongLastSequence(err) {
			return 0, fmt.Errorf("%w (%v)", errFenced, err)
		}
		return 0, fmt.Errorf("jetstream: append to %s (its fate is unknown: the state is loaded again from the stream): %w", j.cfg.Stream, err)
	}
	return ack.Sequence, nil
}

// wrongLastSequence reports whether err is the stream refusing a publish
// because another message came first.
func wrongLastSequence(err error) bool {
	var apiErr *nj.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == nj.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == nj.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// Rotate waits until everything appended is acknowledged and returns the
// seq of the last record; the snapshot of the state at that seq is
// written by WriteSnapshot. The caller holds the bridge's writer.
func (j *Journal) Rotate() (uint64, error) {
	j.mu.Lock()
	seq := j.appended
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*j.cfg.Timeout)
	defer cancel()
	if err := j.Sync(ctx, seq); err != nil {
		return 0, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return 0, j.failed
	}
	j.rotated = [2]uint64{seq, j.lastStream}
	return seq, nil
}

// WriteSnapshot saves the state at seq (from Rotate) as an object, then
// removes older snapshots and purges the messages it covers. A lagging
// standby that finds its next messages purged loads the snapshot.
func (j *Journal) WriteSnapshot(seq uint64, write func(io.Writer) error) error {
	j.mu.Lock()
	rotated := j.rotated
	j.mu.Unlock()
	if rotated[0] != seq {
		return fmt.Errorf("jetstream: snapshot at record %d, but the last Rotate was at %d", seq, rotated[0])
	}
	var payload bytes.Buffer
	if err := write(&payload); err != nil {
		return fmt.Errorf("jetstream: encode snapshot: %w", err)
	}
	return j.putSnapshot(context.Background(), seq, rotated[1], payload.Bytes())
}

// putSnapshot stores a snapshot of the state at record seq, which ends at
// stream seq streamSeq, and compacts what it covers.
func (j *Journal) putSnapshot(ctx context.Context, seq, streamSeq uint64, payload []byte) error {
	name := fmt.Sprintf("snapshot-%020d", seq)
	cctx, cancel := context.WithTimeout(ctx, 4*j.cfg.Timeout)
	defer cancel()
	_, err := j.obs.Put(cctx, nj.ObjectMeta{
		Name:     name,
		Metadata: map[string]string{"stream_seq": strconv.FormatUint(streamSeq, 10), "holder": j.cfg.Holder},
	}, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("jetstream: write snapshot %s: %w", name, err)
	}
	snaps, err := j.snapshots(cctx)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.record < seq {
			if err := j.obs.Delete(cctx, s.name); err != nil && !errors.Is(err, nj.ErrObjectNotFound) {
				j.log.Warn("jetstream: could not remove an older snapshot", "snapshot", s.name, "err", err)
			}
		}
	}
	if err := j.stream.Purge(cctx, nj.WithPurgeSequence(streamSeq+1)); err != nil {
		return fmt.Errorf("jetstream: compact stream %s below %d: %w", j.cfg.Stream, streamSeq+1, err)
	}
	return nil
}

// Close waits (a while) for what was appended, gives the lease up if this
// process holds it (a standby takes over at once), and disconnects.
func (j *Journal) Close() error {
	var err error
	j.closeOnce.Do(func() {
		j.mu.Lock()
		seq, leading := j.appended, j.leading
		j.mu.Unlock()
		if leading {
			ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
			if serr := j.Sync(ctx, seq); serr != nil && !errors.Is(serr, ErrNotLeader) {
				err = fmt.Errorf("jetstream: close: %w", serr)
			}
			cancel()
		}
		j.mu.Lock()
		j.closed = true
		j.stepDownLocked(journal.ErrClosed)
		leaseDone := j.leaseDone
		j.mu.Unlock()
		if leaseDone != nil {
			<-leaseDone
		}
		close(j.stop)
		<-j.flusherDone
		if j.ownsNC {
			j.nc.Close()
		}
	})
	return err
}
