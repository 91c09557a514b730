package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// Options are what New needs.
type Options struct {
	Config Config
	// DataDir holds the journal; "" keeps state in memory only (tests, demos).
	DataDir string
	// Journal, if set, is used instead of the file journal in DataDir (a
	// replicated journal: store/jetstream). New loads it; Close closes it.
	Journal  Journal
	Networks []Network
	Desks    []Desk
	// Metrics receives the earshot_ metrics; nil registers them nowhere.
	Metrics *Metrics
	// Commander runs staff commands (commands.Registry); nil refuses them.
	Commander Commander
	Logger    *slog.Logger
	// Clock is the time source; nil is the wall clock.
	Clock Clock
	// SnapshotEvery is how many events go between snapshots; 0 means 50000.
	SnapshotEvery int
	// PublishTimeout bounds one publication attempt; 0 means 30s.
	PublishTimeout time.Duration
	// ShutdownTimeout is how long Run may take to stop once its ctx ended,
	// when StopBy did not say; 0 means 25s.
	ShutdownTimeout time.Duration
}

// Bridge is Earshot's core: it turns posts into cases, keeps them in
// go-memdb made durable by the journal, runs staff commands, publishes
// replies through the outbox and keeps the desks' threads up to date.
// It implements Inbox for the connectors and commands.Cases for the staff
// commands. All methods are safe for concurrent use.
type Bridge struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	metrics  *Metrics
	commands Commander
	opts     Options

	networks map[string]Network
	desks    map[string]Desk
	queues   map[string]QueueConfig

	db      *memdb.MemDB
	journal Journal
	// replicated is the journal when several processes share it (one
	// leads); nil for the file journal, where this process always leads.
	replicated Replicated
	// writer serialises changes: a change reads state, journals its events
	// and applies them in one memdb write transaction, so the journal's
	// order is the order of application. Held from the transaction to its
	// commit, not while waiting for the disk.
	writer    sync.Mutex
	encBuf    []byte                      // the record being encoded; used with the writer held
	committed uint64                      // seq of the last record a committed change appended; guarded by writer
	durable   atomic.Pointer[durableView] // what readers see: the state known to be on disk
	// viewMu and viewChanged let awaitDurable wait for a durable view to be
	// published.
	viewMu      sync.Mutex
	viewChanged *sync.Cond

	sinceSnapshot atomic.Int64
	snapshotting  atomic.Bool
	snapshotWG    sync.WaitGroup

	outbox *outboxRunner
	work   map[string]*deskQueue // per desk
	ops    *pendingOps
	opens  *threadOpens // threads being opened, for lookups that must wait for them
	// cardLookups holds, by card key, when looking for a card an earlier
	// try may have posted first failed in this run (see openCard).
	cardLookups sync.Map
	// incidents is the in-memory side of incident mode (incident_desk.go).
	incidents *incidentState

	ingestQ    chan *ingestReq
	ingestDone chan struct{}
	closing    chan struct{}
	closeOnce  sync.Once

	ready   atomic.Bool
	running atomic.Bool
	failed  atomic.Pointer[error]
	// leading is true while this process runs a term as the leader (see
	// leader.go); a replicated journal's standby is not leading.
	leading atomic.Bool

	// stopBy is when Run must have stopped (Unix ns; 0: not said, see StopBy).
	stopBy atomic.Int64
	// publishing is the context of every publication; stopPublishing ends
	// the ones still in flight when the shutdown budget runs out.
	publishing     context.Context
	stopPublishing context.CancelFunc
	// stopAt and stopReserve are the shutdown deadline of the last term and
	// the part of it kept for the snapshot and the journal's close (lead
	// sets them; Run reads them, in the same goroutine).
	stopAt      time.Time
	stopReserve time.Duration
}

var _ Inbox = (*Bridge)(nil)

// New opens the journal in opts.DataDir and replays it, so the bridge
// holds the state it had when it last stopped; it does file I/O and blocks
// until replayed. It starts nothing else: Run does.
func New(opts Options) (*Bridge, error) {
	cfg := opts.Config.withDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("bridge: config: %w", errors.Join(errs...))
	}
	b := &Bridge{
		cfg:        cfg,
		log:        opts.Logger,
		clock:      opts.Clock,
		metrics:    opts.Metrics,
		commands:   opts.Commander,
		opts:       opts,
		networks:   map[string]Network{},
		desks:      map[string]Desk{},
		queues:     map[string]QueueConfig{},
		work:       map[string]*deskQueue{},
		ops:        newPendingOps(),
		opens:      newThreadOpens(),
		incidents:  newIncidentState(),
		ingestQ:    make(chan *ingestReq, maxIngestBatch),
		ingestDone: make(chan struct{}),
		closing:    make(chan struct{}),
	}
	b.viewChanged = sync.NewCond(&b.viewMu)
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.clock == nil {
		b.clock = wallClock{}
	}
	if b.metrics == nil {
		b.metrics = NewMetrics(nil)
	}
	if b.opts.SnapshotEvery <= 0 {
		b.opts.SnapshotEvery = 50000
	}
	if b.opts.PublishTimeout <= 0 {
		b.opts.PublishTimeout = 30 * time.Second
	}
	if b.opts.ShutdownTimeout <= 0 {
		b.opts.ShutdownTimeout = 25 * time.Second
	}
	b.publishing, b.stopPublishing = context.WithCancel(context.Background())
	for _, n := range opts.Networks {
		if _, dup := b.networks[n.Name()]; dup {
			return nil, fmt.Errorf("bridge: two networks are named %q", n.Name())
		}
		b.networks[n.Name()] = n
	}
	for _, d := range opts.Desks {
		if _, dup := b.desks[d.Name()]; dup {
			return nil, fmt.Errorf("bridge: two desks are named %q", d.Name())
		}
		b.desks[d.Name()] = d
		b.work[d.Name()] = newDeskQueue()
	}
	var errs []error
	for i, q := range cfg.Queues {
		b.queues[q.Name] = q
		if _, ok := b.desks[q.Desk]; !ok {
			errs = append(errs, fmt.Errorf("queues[%d].desk: no desk named %q is configured", i, q.Desk))
		}
	}
	for i, w := range cfg.Watch {
		if _, ok := b.networks[w.Network]; !ok {
			errs = append(errs, fmt.Errorf("watch[%d].network: no network named %q is configured", i, w.Network))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bridge: config: %w", errors.Join(errs...))
	}
	for name := range b.networks {
		if !b.watches(name) {
			b.log.Warn("bridge: no watch rule names this network: its posts are ignored", "network", name)
		}
	}

	b.journal = opts.Journal
	if b.journal == nil {
		b.journal = b.fileJournal(opts.DataDir)
	}
	b.replicated, _ = b.journal.(Replicated)
	if err := b.loadJournal(); err != nil {
		b.journal.Close()
		return nil, err
	}
	b.metrics.bind(b)
	b.outbox = newOutboxRunner(b)
	go b.ingestLoop()
	return b, nil
}

// loadJournal restores the snapshot and replays the journal into staging
// tables, then loads them into a new store in one write transaction and
// makes it the bridge's. New calls it, and a replicated journal's process
// again after it lost the leadership (start over from what the log
// holds). The caller holds the writer or runs before anything else.
func (b *Bridge) loadJournal() error {
	stage := newStaging()
	start := time.Now()
	var snapSeq uint64
	replayed := 0
	err := b.journal.Load(context.Background(), func(seq uint64, snap []byte) error {
		snapSeq = seq
		return restoreSnapshot(stage, snap)
	}, func(_ uint64, rec []byte) error {
		ev, err := decodeEvent(rec)
		if err != nil {
			return err
		}
		replayed++
		_, err = apply(stage, ev)
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: open journal: %w", err)
	}
	db, err := newDB()
	if err != nil {
		return err
	}
	tx := db.Txn(true)
	if err := stage.load(tx); err != nil {
		tx.Abort()
		return err
	}
	tx.Commit()
	b.db = db
	b.committed = b.journal.Seq()
	b.durable.Store(&durableView{seq: b.committed, db: db.Snapshot()})
	b.viewMu.Lock()
	b.viewChanged.Broadcast()
	b.viewMu.Unlock()
	if b.opts.DataDir != "" || b.opts.Journal != nil {
		b.log.Info("bridge: state restored", "data_dir", b.opts.DataDir, "snapshot", snapSeq,
			"replayed", replayed, "took", time.Since(start).Round(time.Millisecond))
	}
	b.sinceSnapshot.Store(int64(replayed))
	return nil
}

// Ready reports whether the state is replayed and Run has started the
// listeners, the outbox and the desk workers.
func (b *Bridge) Ready() bool { return b.ready.Load() && b.err() == nil }

func (b *Bridge) err() error {
	if p := b.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail stops the bridge taking changes after the journal broke: memory may
// now hold changes the disk does not, so the process must restart and
// replay what is durable.
func (b *Bridge) fail(err error) {
	if b.failed.CompareAndSwap(nil, &err) {
		b.log.Error("bridge: the journal failed; no more changes are taken (restart to recover what is on disk)", "err", err)
	}
}

// StopBy sets the time by which Run must have stopped once its ctx ends:
// the process's shutdown budget, of which main has spent a part already
// (finishing HTTP requests) while the bridge went on publishing. Call it
// when the shutdown starts, before ending Run's ctx. Without it Run takes
// Options.ShutdownTimeout from the end of its ctx.
func (b *Bridge) StopBy(deadline time.Time) { b.stopBy.Store(deadline.UnixNano()) }

// stopDeadline is when Run must have stopped, asked at the end of its ctx.
func (b *Bridge) stopDeadline() time.Time {
	if ns := b.stopBy.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now().Add(b.opts.ShutdownTimeout)
}

// Run starts the network and desk listeners, the outbox, the desk
// workers, the SLA watch and snapshots, and blocks until ctx ends. Then it
// stops within its budget (StopBy): it stops intake while the outbox goes
// on publishing what is due and the desks catch up, and waits for both
// once the listeners are gone; what is still being published when the
// budget's reserve begins is cut short
// and its outcome journaled (retried at the next start, or shown as
// uncertain where it may have gone out); then it writes a snapshot if time
// is left, and closes the journal.
// It returns an error only when the journal failed. On a replicated
// journal it runs as a hot standby until this process leads, and starts
// all that only then (see leader.go).
func (b *Bridge) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("bridge: Run called twice")
	}
	defer b.Close()
	if b.replicated != nil {
		if err := b.campaign(ctx); err != nil {
			return err
		}
	} else {
		b.leading.Store(true)
		if err := b.recover(); err != nil {
			return err
		}
		b.lead(ctx, ctx)
	}
	b.snapshotWG.Wait()
	if err := b.err(); err != nil {
		return err
	}
	switch {
	case b.sinceSnapshot.Load() == 0 || !b.leading.Load():
	case !b.stopAt.IsZero() && time.Until(b.stopAt) < b.stopReserve/2:
		b.log.Warn("bridge: no snapshot at shutdown: the budget is spent; the next start replays the journal")
	default:
		if err := b.snapshot(); err != nil {
			b.log.Warn("bridge: snapshot at shutdown", "err", err)
		}
	}
	b.leading.Store(false)
	if err := b.Close(); err != nil {
		return fmt.Errorf("bridge: close journal: %w", err)
	}
	b.log.Info("bridge: stopped")
	return nil
}

// lead runs one term: it starts the listeners, the desk workers, the
// outbox, the SLA watch and retention, and blocks until term ends. When
// ctx ended (the process stops), intake stops first, then the outbox
// publishes what is already due and the desks catch up for a moment; when
// only term ended (the leadership was lost), everything stops at once:
// nothing more may be published or journaled.
func (b *Bridge) lead(ctx, term context.Context) {
	intake, stopIntake := context.WithCancel(term)
	defer stopIntake()
	var listeners sync.WaitGroup
	for _, n := range b.networks {
		listeners.Go(func() { b.supervise(intake, "network", n.Name(), n.Listen) })
	}
	for _, d := range b.desks {
		listeners.Go(func() { b.supervise(intake, "desk", d.Name(), d.Listen) })
	}

	work, stopWork := context.WithCancel(context.WithoutCancel(term))
	defer stopWork()
	var workers sync.WaitGroup
	for name, q := range b.work {
		for range b.cfg.DeskWorkers {
			workers.Go(func() { b.deskWorker(work, b.desks[name], q, false) })
		}
		// Two more workers take only what staff caused, so a press shows
		// even while every other worker waits on the desk's pace.
		for range staffWorkers {
			workers.Go(func() { b.deskWorker(work, b.desks[name], q, true) })
		}
	}
	workers.Go(func() { b.outbox.run(work) })
	workers.Go(func() { b.runIncidents(work) })
	workers.Go(func() { b.watchSLA(work) })
	if b.cfg.Retention > 0 {
		workers.Go(func() { b.every(work, retentionEvery, "retention", b.prune) })
	}
	b.markAllDirty()
	b.markIncidentsDirty()
	b.ready.Store(true)
	b.log.Info("bridge: running", "networks", len(b.networks), "desks", len(b.desks), "queues", len(b.cfg.Queues))

	<-term.Done()
	b.ready.Store(false)
	if ctx.Err() == nil {
		// Deposed: nothing more may be published or journaled, so
		// everything stops at once. Publications in flight end by
		// themselves (their outcome can no longer be journaled: the next
		// leader shows them as uncertain, or retries them where the
		// network is idempotent).
		b.log.Warn("bridge: lost the leadership: stopping listeners, desk workers, outbox and timers now")
		stopIntake()
		if !waitUntil(&listeners, time.Now().Add(10*time.Second)) {
			b.log.Warn("bridge: a listener did not stop within 10s; going on")
		}
		stopWork()
		workers.Wait()
		b.outbox.wg.Wait()
		return
	}
	deadline := b.stopDeadline()
	// The reserve is kept for journaling what the cut-off publications
	// became, and for closing the journal.
	reserve := min(time.Second, max(time.Until(deadline), 0)/4)
	cutoff := deadline.Add(-reserve)
	b.log.Info("bridge: stopping: intake first, while the outbox's due work and the desks go on", "within", time.Until(deadline).Round(time.Millisecond))
	b.stopAt, b.stopReserve = deadline, reserve
	stopIntake()
	// The outbox and the desk workers go on working all along; once the
	// listeners stopped (nothing new comes in), wait for both to finish.
	if !waitUntil(&listeners, cutoff) {
		b.log.Warn("bridge: a listener did not stop within the shutdown budget; going on with the shutdown")
	}
	var drains sync.WaitGroup
	drains.Go(func() {
		if !b.outbox.drain(cutoff) {
			b.log.Warn("bridge: the shutdown budget ran out with replies still due or being published; they are cut short and go out at the next start (or show as uncertain where they may have gone out)")
		}
	})
	drains.Go(func() { b.drainDesks(cutoff) })
	drains.Wait()
	b.stopPublishing()
	b.outbox.settle(deadline.Add(-reserve / 2))
	stopWork()
	workers.Wait()
}

// supervise runs listen until ctx ends, restarting it with a growing pause
// when it gives up with an error (connectors reconnect by themselves; an
// error here is one they could not recover from, such as bad credentials).
func (b *Bridge) supervise(ctx context.Context, kind, name string, listen func(context.Context, Inbox) error) {
	wait := time.Second
	for {
		err := listen(ctx, b)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped listening without an error")
		}
		b.log.Error("bridge: "+kind+" stopped listening; trying again", kind, name, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-b.clock.After(wait):
		}
		wait = min(wait*2, 5*time.Minute)
	}
}

// waitUntil waits for wg until the deadline; false when it passed first.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Close releases the journal of a bridge that was never Run (Run closes it
// itself). Safe to call more than once.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() {
		b.stopPublishing()
		close(b.closing)
		<-b.ingestDone
	})
	b.snapshotWG.Wait()
	return b.journal.Close()
}

// ---- changes ----

// writeTx is one change in progress: a memdb write transaction plus the
// events emitted so far (already applied to the transaction).
type writeTx struct {
	*memdb.Txn
	b   *Bridge
	now time.Time
	evs []Event
	fx  []applied
	// meta holds the id counters as this change's events left them,
	// inserted once at commit (flushCounters); nil while unchanged.
	meta *metaRow
}

// counters are the id counters as of this change so far. Read them here,
// not from the transaction: the events' updates wait in w until commit.
func (w *writeTx) counters() metaRow { return storeTables{w.Txn, &w.meta}.lookupMeta() }

// flushCounters writes the counters the change's events moved.
func (w *writeTx) flushCounters() error {
	if w.meta == nil {
		return nil
	}
	if err := w.Insert(tableMeta, w.meta); err != nil {
		return fmt.Errorf("bridge: counters: %w", err)
	}
	return nil
}

// emit applies ev to the transaction and records it for the journal.
func (w *writeTx) emit(ev Event) (applied, error) {
	if ev.At.IsZero() {
		ev.At = w.now
	}
	a, err := apply(storeTables{w.Txn, &w.meta}, ev)
	if err != nil {
		return a, err
	}
	w.evs = append(w.evs, ev)
	w.fx = append(w.fx, a)
	return a, nil
}

// change runs build in a write transaction; the events it emits are
// journaled (in order) and the transaction committed; then, with the
// writer free again (so that other changes share the fsync: group
// commit), change waits until the events are on disk, publishes the state
// they made to readers, reacts to them (desk work, outbox) and returns.
// Readers (read) only ever see durable state, so nothing outside the
// bridge learns of a change before the journal holds it. An error from
// build aborts everything. A build that emits nothing or fails may have
// decided on another change that is committed but not yet durable (a
// claim refused because someone else's claim is in flight, an SLA breach
// already recorded): change returns only once that state is published,
// so its caller never answers ahead of the disk.
func (b *Bridge) change(build func(w *writeTx) error) ([]applied, error) {
	if err := b.err(); err != nil {
		return nil, err
	}
	if b.replicated != nil && !b.leading.Load() {
		return nil, ErrNotLeader
	}
	b.writer.Lock()
	w := &writeTx{Txn: b.db.Txn(true), b: b, now: b.clock.Now()}
	if err := build(w); err != nil {
		w.Abort()
		seen := b.committed
		b.writer.Unlock()
		if werr := b.awaitDurable(seen); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	if len(w.evs) == 0 {
		w.Abort()
		seen := b.committed
		b.writer.Unlock()
		return nil, b.awaitDurable(seen)
	}
	if err := w.flushCounters(); err != nil {
		w.Abort()
		b.writer.Unlock()
		return nil, err
	}
	seq, err := b.appendEvents(w.evs)
	if err != nil {
		w.Abort()
		b.writer.Unlock()
		b.journalFailed(err)
		return nil, fmt.Errorf("bridge: journal: %w", err)
	}
	w.Commit()
	b.committed = seq
	view := &durableView{seq: seq, db: b.db.Snapshot()}
	b.writer.Unlock()

	if err := b.journal.Sync(context.Background(), seq); err != nil {
		b.journalFailed(err)
		return nil, fmt.Errorf("bridge: journal: %w", err)
	}
	b.metrics.journalEvents.Add(float64(len(w.evs)))
	for _, a := range w.fx {
		b.observe(a)
	}
	b.publish(view)
	b.react(w.fx)
	if n := b.sinceSnapshot.Add(int64(len(w.evs))); n >= int64(b.opts.SnapshotEvery) && b.snapshotting.CompareAndSwap(false, true) {
		b.snapshotWG.Go(func() {
			defer b.snapshotting.Store(false)
			if err := b.snapshot(); err != nil {
				b.log.Warn("bridge: snapshot", "err", err)
			}
		})
	}
	return w.fx, nil
}

// appendEvents encodes evs, one change's events, and appends them to the
// journal as one group; it returns the seq of the last. The writer is held.
func (b *Bridge) appendEvents(evs []Event) (uint64, error) {
	buf := b.encBuf[:0]
	ends := make([]int, 0, len(evs))
	for _, ev := range evs {
		var err error
		if buf, err = appendEvent(buf, ev); err != nil {
			return 0, err
		}
		ends = append(ends, len(buf))
	}
	b.encBuf = buf
	recs := make([][]byte, len(evs))
	start := 0
	for i, end := range ends {
		recs[i], start = buf[start:end], end
	}
	return b.journal.Append(recs...) // copies recs
}

// journalFailed reacts to a journal error: the file journal's failure
// stops the bridge (memory may hold what the disk does not); a replicated
// journal's failure ends the leadership instead (the journal ends the
// term itself, and the state is loaded again from the log).
func (b *Bridge) journalFailed(err error) {
	if b.replicated != nil || errors.Is(err, ErrJournalClosed) || errors.Is(err, ErrNotLeader) {
		return
	}
	b.fail(err)
}

// durableView is the store as of a journal record known to be on disk.
type durableView struct {
	seq uint64
	db  *memdb.MemDB
}

// publish makes v what readers see, unless a later view is out already
// (fsyncs are in order: a later record on disk means this one is too).
func (b *Bridge) publish(v *durableView) {
	for {
		cur := b.durable.Load()
		if cur != nil && cur.seq >= v.seq {
			return
		}
		if b.durable.CompareAndSwap(cur, v) {
			b.viewMu.Lock()
			b.viewChanged.Broadcast()
			b.viewMu.Unlock()
			return
		}
	}
}

// awaitDurable blocks until readers see the state as of journal record
// seq: until it is on disk and the change that wrote it has published it
// (that change does nothing that blocks between its fsync and publishing).
// It fails only when the journal does.
func (b *Bridge) awaitDurable(seq uint64) error {
	if b.durable.Load().seq >= seq {
		return nil
	}
	if err := b.journal.Sync(context.Background(), seq); err != nil {
		return fmt.Errorf("bridge: journal: %w", err)
	}
	b.viewMu.Lock()
	defer b.viewMu.Unlock()
	for b.durable.Load().seq < seq {
		b.viewChanged.Wait()
	}
	return nil
}

// read returns a read transaction on the durable state: a consistent,
// immutable view that holds only changes the journal has on disk.
func (b *Bridge) read() *memdb.Txn { return b.durable.Load().db.Txn(false) }

// Clock is the bridge's time source; tests inject a manual one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
	// At returns a channel that receives once the clock shows t or later
	// (at once if it already does). A wait for a moment must use At, not
	// After(t.Sub(Now())): the clock may move between the two calls.
	At(t time.Time) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (wallClock) At(t time.Time) <-chan time.Time        { return time.After(time.Until(t)) }
