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

	"github.com/earshot-dev/earshot/bridge/journal"
)

// Options are what New needs.
type Options struct {
	Config Config
	// DataDir holds the journal; "" keeps state in memory only (tests, demos).
	DataDir  string
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
	journal *journal.Journal
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
	// incidents is the in-memory side of incident mode (incident_desk.go).
	incidents *incidentState

	ingestQ    chan *ingestReq
	ingestDone chan struct{}
	closing    chan struct{}
	closeOnce  sync.Once

	ready   atomic.Bool
	running atomic.Bool
	failed  atomic.Pointer[error]
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

	db, err := newDB()
	if err != nil {
		return nil, err
	}
	b.db = db
	if err := b.openJournal(); err != nil {
		return nil, err
	}
	b.metrics.bind(b)
	b.outbox = newOutboxRunner(b)
	go b.ingestLoop()
	return b, nil
}

// openJournal restores the snapshot and replays the journal into staging
// tables, then loads them into the store in one write transaction.
func (b *Bridge) openJournal() error {
	stage := newStaging()
	start := time.Now()
	j, st, err := journal.Open(journal.Options{
		Dir:    b.opts.DataDir,
		Logger: b.log,
		OnSync: b.metrics.observeFsync,
	}, func(_ uint64, snap []byte) error {
		return restoreSnapshot(stage, snap)
	}, func(_ uint64, rec []byte) error {
		ev, err := decodeEvent(rec)
		if err != nil {
			return err
		}
		_, err = apply(stage, ev)
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: open journal: %w", err)
	}
	tx := b.db.Txn(true)
	if err := stage.load(tx); err != nil {
		tx.Abort()
		j.Close()
		return err
	}
	tx.Commit()
	b.journal = j
	b.committed = j.Seq()
	b.durable.Store(&durableView{seq: b.committed, db: b.db.Snapshot()})
	if b.opts.DataDir != "" {
		b.log.Info("bridge: state restored", "data_dir", b.opts.DataDir, "snapshot", st.SnapshotSeq,
			"replayed", st.Replayed, "took", time.Since(start).Round(time.Millisecond))
	}
	b.sinceSnapshot.Store(int64(st.Replayed))
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

// Run starts the network and desk listeners, the outbox, the desk
// workers, the SLA watch and snapshots, and blocks until ctx ends. Then it
// stops intake, publishes what is already due, lets the desks catch up for
// a moment, writes a snapshot and closes the journal. It returns an error
// only when the journal failed.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("bridge: Run called twice")
	}
	defer b.Close()
	if err := b.recover(); err != nil {
		return err
	}

	intake, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	var listeners sync.WaitGroup
	for _, n := range b.networks {
		listeners.Go(func() { b.supervise(intake, "network", n.Name(), n.Listen) })
	}
	for _, d := range b.desks {
		listeners.Go(func() { b.supervise(intake, "desk", d.Name(), d.Listen) })
	}

	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
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

	<-ctx.Done()
	b.ready.Store(false)
	b.log.Info("bridge: stopping: intake first, then the outbox's due work")
	stopIntake()
	if !waitTimeout(&listeners, 10*time.Second) {
		b.log.Warn("bridge: a listener did not stop within 10s; going on with the shutdown")
	}
	b.outbox.drain(15 * time.Second)
	b.drainDesks(5 * time.Second)
	stopWork()
	workers.Wait()
	b.snapshotWG.Wait()
	if err := b.err(); err != nil {
		return err
	}
	if b.sinceSnapshot.Load() > 0 {
		if err := b.snapshot(); err != nil {
			b.log.Warn("bridge: snapshot at shutdown", "err", err)
		}
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("bridge: close journal: %w", err)
	}
	b.log.Info("bridge: stopped")
	return nil
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

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Close releases the journal of a bridge that was never Run (Run closes it
// itself). Safe to call more than once.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() {
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
	var seq uint64
	for _, ev := range w.evs {
		rec, err := appendEvent(b.encBuf[:0], ev)
		if err == nil {
			b.encBuf = rec
			seq, err = b.journal.Append(rec) // copies rec
		}
		if err != nil {
			w.Abort()
			b.writer.Unlock()
			if !errors.Is(err, journal.ErrClosed) {
				b.fail(err)
			}
			return nil, fmt.Errorf("bridge: journal: %w", err)
		}
	}
	w.Commit()
	b.committed = seq
	view := &durableView{seq: seq, db: b.db.Snapshot()}
	b.writer.Unlock()

	if err := b.journal.Sync(context.Background(), seq); err != nil {
		if !errors.Is(err, journal.ErrClosed) {
			b.fail(err)
		}
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
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
