package bridge

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// Desk work: keeping each desk's threads in step with the cases. Work is
// per case and idempotent: "catch case E-42 up" opens its thread where it
// has none, shows the customer's follow-ups the thread has not shown yet,
// posts waiting lines, marks staff messages with their delivery, and
// re-renders cards older than the case. How far a thread has caught up is
// journaled (thread.synced), so a restart redoes only what is missing.
// Cases wait in a queue per desk, most urgent first (priority, then age):
// in a surge the important ones reach the desk first and none is lost.

// deskCallTimeout bounds one desk call.
const deskCallTimeout = 30 * time.Second

// deskQueue is a desk's cases waiting to be caught up, most urgent first.
// A case is never worked by two workers at once. Work a staff member
// caused waits in a lane of its own that goes first (lane.go).
type deskQueue struct {
	mu     sync.Mutex
	h      caseHeap
	queued map[CaseID]bool
	busy   map[CaseID]bool
	again  map[CaseID]entry // kicked while busy
	fails  map[CaseID]int
	ready  chan struct{}
	staff  staffLane
}

type entry struct {
	id       CaseID
	priority int
	seq      uint64
	staff    bool // in the staff lane
}

type caseHeap []entry

func (h caseHeap) Len() int { return len(h) }
func (h caseHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h caseHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *caseHeap) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *caseHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newDeskQueue() *deskQueue {
	return &deskQueue{queued: map[CaseID]bool{}, busy: map[CaseID]bool{}, again: map[CaseID]entry{},
		fails: map[CaseID]int{}, ready: make(chan struct{}, 1), staff: newStaffLane()}
}

func (q *deskQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push asks for case id to be caught up.
func (q *deskQueue) push(id CaseID, priority int, seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := entry{id: id, priority: priority, seq: seq}
	if q.busy[id] {
		if !q.again[id].staff {
			q.again[id] = e
		}
		return
	}
	if q.queued[id] {
		return
	}
	q.queued[id] = true
	heap.Push(&q.h, e)
	q.signal()
}

// pop blocks until a case is waiting (or ctx ends) and takes it: the
// staff lane's first, then the most urgent other one. With staffOnly it
// takes only staff work (a worker kept free for it).
func (q *deskQueue) pop(ctx context.Context, staffOnly bool) (entry, bool) {
	for {
		q.mu.Lock()
		if e, ok := q.popStaff(); ok {
			q.mu.Unlock()
			return e, true
		}
		for q.h.Len() > 0 && !staffOnly {
			e := heap.Pop(&q.h).(entry)
			delete(q.queued, e.id)
			if q.busy[e.id] { // taken by the staff lane meanwhile
				if _, ok := q.again[e.id]; !ok {
					q.again[e.id] = e
				}
				continue
			}
			q.busy[e.id] = true
			if q.h.Len() > 0 {
				q.signal() // wake another worker
			}
			q.mu.Unlock()
			return e, true
		}
		q.mu.Unlock()
		bulk := q.ready
		if staffOnly {
			bulk = nil // never take the other workers' wake-ups
		}
		select {
		case <-bulk:
		case <-q.staff.ready:
		case <-ctx.Done():
			return entry{}, false
		}
	}
}

// done ends work on e; a failed case comes back after a growing pause.
func (q *deskQueue) done(e entry, failed bool) (retryIn time.Duration) {
	q.mu.Lock()
	delete(q.busy, e.id)
	if failed {
		q.fails[e.id]++
		retryIn = min(time.Second<<min(q.fails[e.id]-1, 7), 2*time.Minute)
		delete(q.again, e.id)
		q.mu.Unlock()
		return retryIn
	}
	delete(q.fails, e.id)
	again, ok := q.again[e.id]
	delete(q.again, e.id)
	q.mu.Unlock()
	switch {
	case ok && again.staff:
		q.pushStaff(again.id, again.priority, again.seq)
	case ok:
		q.push(again.id, again.priority, again.seq)
	}
	return 0
}

// waiting lists the cases queued (not being worked), and counts the failed
// ones waiting to be tried again (queued again or not yet); for the
// backlog metric.
func (q *deskQueue) waiting() (queued []CaseID, retrying int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.h {
		if q.fails[e.id] > 0 {
			retrying++
			continue
		}
		queued = append(queued, e.id)
	}
	for id := range q.fails {
		if !q.queued[id] && !q.busy[id] {
			retrying++
		}
	}
	return queued, retrying
}

// idle reports whether nothing waits and nothing is being worked.
func (q *deskQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.h.Len() == 0 && len(q.busy) == 0 && q.staff.len() == 0
}

// deskWorker catches cases up on one desk until ctx ends; with staffOnly
// it does only work staff caused.
func (b *Bridge) deskWorker(ctx context.Context, d Desk, q *deskQueue, staffOnly bool) {
	for {
		e, ok := q.pop(ctx, staffOnly)
		if !ok {
			return
		}
		err := b.syncWork(ctx, d, e)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("bridge: desk could not catch up with a case; trying again", "desk", d.Name(), "case", string(e.id), "err", err)
		}
		if wait := q.done(e, err != nil); wait > 0 {
			go func() {
				select {
				case <-ctx.Done():
				case <-b.clock.After(wait):
					q.requeue(e)
				}
			}()
		}
	}
}

// drainDesks waits (until the deadline at most) for the desks to catch up.
func (b *Bridge) drainDesks(deadline time.Time) {
	for time.Now().Before(deadline) {
		idle := true
		for _, q := range b.work {
			idle = idle && q.idle()
		}
		if idle {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// markAllDirty queues every case some desk has to catch up with: at
// start, this redoes whatever a crash interrupted.
func (b *Bridge) markAllDirty() {
	tx := b.read()
	it, err := tx.Get(tableCases, indexID)
	if err != nil {
		return
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*Case)
		for name, q := range b.work {
			if b.needsSync(tx, name, c) {
				q.push(c.ID, c.Priority, c.Seq)
			}
		}
	}
}

// needsSync reports whether desk is behind on c.
func (b *Bridge) needsSync(tx *memdb.Txn, desk string, c *Case) bool {
	threads := threadsOf(tx, c.ID)
	active := false
	for _, t := range threads {
		if t.Desk != desk {
			continue
		}
		if t.CardVersion < c.Version {
			return true
		}
		if t.Queue == c.Queue {
			active = true
			if t.PostsShown < c.PostCount && c.Incident == "" {
				return true
			}
		}
	}
	if !active && b.queues[c.Queue].Desk == desk && c.Incident == "" {
		return true
	}
	for _, it := range itemsOf(tx, c.ID) {
		if it.Marked != it.deliveryState() && (it.Message.Desk == desk || it.Message.ID == "" && it.Thread.Desk == desk) {
			return true
		}
	}
	return false
}

// syncCase catches desk d up with case id. It does desk I/O, one call at a
// time, and journals the progress; an error leaves the rest for a retry.
func (b *Bridge) syncCase(ctx context.Context, d Desk, id CaseID) error {
	desk := d.Name()
	tx := b.read()
	c, _ := getCase(tx, id)
	if c == nil {
		b.ops.take(desk, id)
		return nil
	}
	if !b.ops.has(desk, id) && !b.needsSync(tx, desk, c) {
		return nil // another desk's change, or caught up already
	}
	view := b.view(tx, c)
	call := func(f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, deskCallTimeout)
		defer cancel()
		return f(cctx)
	}

	// 1. The thread in the queue the case is in now.
	var threads []*threadRow // copies: rows in the store are never changed
	for _, t := range threadsOf(tx, id) {
		if t.Desk == desk {
			row := *t
			threads = append(threads, &row)
		}
	}
	var active *threadRow
	for _, t := range threads {
		if t.Queue == c.Queue {
			active = t
		}
	}
	// A case linked to an incident has no card of its own: the incident's
	// thread lists it and shows its follow-ups (incident_desk.go).
	if q := b.queues[c.Queue]; active == nil && q.Desk == desk && c.Incident == "" {
		// From the moment the desk shows the card until the thread is
		// journaled, staff may already act in it: they wait (see thread).
		opened := b.opens.begin(desk)
		defer opened()
		ref, fresh, err := b.openCard(tx, d, c, q, view, call)
		if err != nil {
			return err
		}
		// The first thread shows the customer's follow-ups; a team's thread
		// opened at an escalation starts from now (the card has the story).
		shown := c.PostCount
		if len(threadsOf(tx, id)) == 0 {
			shown = 1
		}
		// A card found again shows what it showed then: it is re-rendered below.
		version := c.Version
		if !fresh {
			version = 0
		}
		if _, err := b.change(func(w *writeTx) error {
			_, err := w.emit(Event{Type: EvThread, Case: id, Thread: &ref, Queue: c.Queue, Version: version, Num: shown})
			return err
		}); err != nil {
			return err
		}
		opened()
		active = &threadRow{Desk: ref.Desk, ID: ref.ID, Channel: ref.Channel, Case: id, Queue: c.Queue, CardVersion: version, PostsShown: shown}
		threads = append(threads, active)
	}

	// 2. The customer's follow-ups the active thread has not shown.
	if active != nil && active.PostsShown < c.PostCount && c.Incident == "" {
		shown := active.PostsShown
		var failed error
		for _, p := range followUpPosts(tx, id, shown) {
			post := *p.Post
			err := call(func(ctx context.Context) error {
				_, err := d.Post(ctx, active.ref(), DeskMessage{Kind: DeskCustomer, Author: &post.Author, Text: post.Text, Link: post.URL})
				return err
			})
			if err != nil {
				failed = fmt.Errorf("show a follow-up: %w", err)
				break
			}
			shown = p.N + 1
		}
		if shown > active.PostsShown {
			if err := b.synced(active, 0, shown); err != nil {
				return err
			}
			active.PostsShown = shown
		}
		if failed != nil {
			return failed
		}
	}

	// 3. Cards older than the case: first, as they are what a staff
	// member who just pressed a button looks at; lines may wait their turn
	// in the desk's pace. A card that cannot be updated does not hold up
	// the lines and marks: its error is returned at the end (a retry).
	var cardErr error
	for _, t := range threads {
		if t.CardVersion >= c.Version {
			continue
		}
		if err := call(func(ctx context.Context) error { return d.UpdateCard(ctx, t.ref(), view) }); err != nil {
			cardErr = fmt.Errorf("update card: %w", err)
			continue
		}
		if err := b.synced(t, c.Version, 0); err != nil {
			return err
		}
	}

	// 4. Lines, private answers and marks waiting for this desk.
	if err := b.runOps(ctx, d, c, threads, call); err != nil {
		return err
	}

	// 5. Marks that follow replies in the outbox.
	for _, it := range itemsOf(tx, id) {
		want := it.deliveryState()
		if it.Marked == want {
			continue
		}
		switch {
		case it.Message.ID != "" && it.Message.Desk == desk:
			if err := call(func(ctx context.Context) error { return d.Mark(ctx, it.Message, it.Delivery(c)) }); err != nil {
				return fmt.Errorf("mark %s: %w", it.ID, err)
			}
		case it.Message.ID == "" && it.Thread.Desk == desk:
			if line := itemLine(it, b.cfg.CommandPrefix); line != "" && !it.Thread.IsZero() {
				if err := call(func(ctx context.Context) error {
					_, err := d.Post(ctx, it.Thread, DeskMessage{Kind: DeskNotice, Text: line, Link: it.Sent.URL})
					return err
				}); err != nil {
					return fmt.Errorf("tell about %s: %w", it.ID, err)
				}
			}
		default:
			continue
		}
		if _, err := b.change(func(w *writeTx) error {
			// The item may have moved while the desk was being told (an
			// edit inside the undo window resets its mark): the desk then
			// shows what it was, not what it is, and journaling the mark
			// would hide the change for good. The change kicked this case,
			// so the next pass shows it.
			if now := getItem(w.Txn, it.ID); now == nil || !now.showsAs(it) {
				return errUnchanged
			}
			_, err := w.emit(Event{Type: EvMarked, ID: it.ID, State: want})
			return err
		}); err != nil && !errors.Is(err, errUnchanged) {
			return err
		}
	}
	return cardErr
}

// openCard shows case c's card in queue q on desk d and returns its
// thread; fresh is false when it adopted a card an earlier try had posted.
// On a ThreadFinder desk the key is journaled before the desk is asked
// (thread.opening), and a key journaled by an earlier try that ended
// without its thread (a crash, a lost answer, an error) makes the desk
// look for that card first: a card is shown once, whatever happens
// between the desk posting it and the bridge journaling its thread.
func (b *Bridge) openCard(tx *memdb.Txn, d Desk, c *Case, q QueueConfig, view CaseView, call func(func(context.Context) error) error) (ref ThreadRef, fresh bool, err error) {
	desk := d.Name()
	finder, keyed := d.(ThreadFinder)
	if !keyed {
		if err := call(func(ctx context.Context) (err error) { ref, err = d.OpenThread(ctx, q.Channel, view); return err }); err != nil {
			return ref, false, fmt.Errorf("open thread in %s: %w", q.Name, err)
		}
		return withDefaults(ref, desk, q.Channel), true, nil
	}
	intent := getOpen(tx, c.ID, desk, c.Queue)
	if intent != nil {
		found := false
		err := call(func(ctx context.Context) (err error) {
			ref, found, err = finder.FindThread(ctx, intent.Channel, view, intent.Key, intent.At)
			return err
		})
		switch {
		case err != nil && b.failingSince(intent.Key) < giveUpLooking:
			return ref, false, fmt.Errorf("look for the card of an earlier try in %s: %w", q.Name, err)
		case err != nil:
			// A card shown twice is better than a customer never answered.
			b.log.Warn("bridge: still cannot look for the card an earlier try may have posted; posting it again", "desk", desk, "case", string(c.ID), "err", err)
		case found:
			b.log.Info("bridge: found the card an earlier try posted; adopting it", "desk", desk, "case", string(c.ID), "queue", q.Name)
			return withDefaults(ref, desk, intent.Channel), false, nil
		}
		if intent.Channel != q.Channel {
			intent = nil // the queue moved channels since: a new key for the new place
		}
	}
	if intent == nil {
		intent = &openRow{Case: c.ID, Desk: desk, Queue: c.Queue, Channel: q.Channel, Key: newCardKey()}
		if _, err := b.change(func(w *writeTx) error {
			_, err := w.emit(Event{Type: EvOpening, Case: c.ID, Thread: &ThreadRef{Desk: desk, Channel: q.Channel}, Queue: c.Queue, ID: intent.Key})
			return err
		}); err != nil {
			return ref, false, err
		}
	}
	if err := call(func(ctx context.Context) (err error) {
		ref, err = finder.OpenThreadKeyed(ctx, q.Channel, view, intent.Key)
		return err
	}); err != nil {
		return ref, false, fmt.Errorf("open thread in %s: %w", q.Name, err)
	}
	return withDefaults(ref, desk, q.Channel), true, nil
}

// giveUpLooking is how long the desk may fail to look for a card an
// earlier try may have posted before the card is posted again.
const giveUpLooking = 10 * time.Minute

// failingSince records a failed look for the card with key and says for
// how long looks for it have failed in this run.
func (b *Bridge) failingSince(key string) time.Duration {
	now := b.clock.Now()
	first, _ := b.cardLookups.LoadOrStore(key, now)
	return now.Sub(first.(time.Time))
}

// withDefaults fills the desk and channel a desk left out of ref.
func withDefaults(ref ThreadRef, desk, channel string) ThreadRef {
	if ref.Desk == "" {
		ref.Desk = desk
	}
	if ref.Channel == "" {
		ref.Channel = channel
	}
	return ref
}

// newCardKey is a random key for a card: 20 hex digits, unique across
// data directories (Discord takes nonces of up to 25 characters).
func newCardKey() string {
	var k [10]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(k[:])
}

// threadOpens counts, per desk, the threads being opened: from asking the
// desk until the thread.opened event is published. Staff may act in a new
// thread as soon as its card shows, which is before the desk has even
// answered us; a lookup of a thread not known yet waits while its desk has
// opens in flight.
type threadOpens struct {
	mu       sync.Mutex
	inflight map[string]int
	changed  chan struct{} // closed and replaced whenever an open ends
}

func newThreadOpens() *threadOpens {
	return &threadOpens{inflight: map[string]int{}, changed: make(chan struct{})}
}

// begin counts an open on desk; end (idempotent) ends it.
func (o *threadOpens) begin(desk string) (end func()) {
	o.mu.Lock()
	o.inflight[desk]++
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			o.inflight[desk]--
			close(o.changed)
			o.changed = make(chan struct{})
			o.mu.Unlock()
		})
	}
}

// watch reports whether desk has opens in flight, and a channel closed
// when one ends.
func (o *threadOpens) watch(desk string) (<-chan struct{}, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed, o.inflight[desk] > 0
}

// thread finds a thread's row, waiting (at most a few seconds) while its
// desk is opening threads: a staff member pressing a button on a brand-new
// card, or a desk delivering fast, must not find the thread unknown.
func (b *Bridge) thread(desk, id string) (*threadRow, *memdb.Txn) {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		tx := b.read()
		if row := getThread(tx, desk, id); row != nil {
			return row, tx
		}
		changed, busy := b.opens.watch(desk)
		if !busy {
			// The open that made this thread may have ended between the
			// read above and the watch: an open ends only after its thread
			// is published, so one more read decides.
			tx = b.read()
			return getThread(tx, desk, id), tx
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, tx
		}
	}
}

// synced journals how far thread t has caught up.
func (b *Bridge) synced(t *threadRow, version uint64, shown int) error {
	ref := t.ref()
	_, err := b.change(func(w *writeTx) error {
		_, err := w.emit(Event{Type: EvSynced, Thread: &ref, Version: version, Num: shown})
		return err
	})
	return err
}

// runOps does the waiting best-effort ops of case c on desk d, in order;
// what is left after a failure waits for the retry.
func (b *Bridge) runOps(ctx context.Context, d Desk, c *Case, threads []*threadRow, call func(func(context.Context) error) error) error {
	ops := b.ops.take(d.Name(), c.ID)
	for i, op := range ops {
		t := op.thread
		if t.IsZero() {
			for _, row := range threads {
				if row.Queue == op.queue {
					t = row.ref()
				}
			}
		}
		var err error
		switch op.kind {
		case opMark:
			err = call(func(ctx context.Context) error { return d.Mark(ctx, op.message, op.delivery) })
		case opNotice:
			if t.IsZero() {
				continue // that queue has no thread on this desk (yet): the card tells
			}
			err = call(func(ctx context.Context) error { _, err := d.Post(ctx, t, op.msg); return err })
		case opNotify:
			if n, ok := d.(Notifier); ok {
				err = call(func(ctx context.Context) error { return n.Notify(ctx, t.Channel, t, op.staffID, op.msg.Text) })
			} else if !t.IsZero() {
				err = call(func(ctx context.Context) error { _, err := d.Post(ctx, t, op.msg); return err })
			}
		}
		if err != nil {
			b.ops.putBack(d.Name(), c.ID, ops[i:])
			return fmt.Errorf("desk line: %w", err)
		}
	}
	return nil
}

// itemLine is what a thread shows about a reply sent by command (it has
// no message of its own to mark).
func itemLine(it *OutboxItem, prefix string) string {
	what := "reply"
	if it.Private {
		what = "direct message"
	}
	switch it.State {
	case OutboxSent:
		return fmt.Sprintf("%s's %s was published: “%s”", it.Staff.Display(), what, shorten(it.Text, 200))
	case OutboxFailed:
		return fmt.Sprintf("%s's %s was not published: %s Send it again with `%sretry %s`.", it.Staff.Display(), what, it.Reason, prefix, it.ID)
	case OutboxUncertain:
		return fmt.Sprintf("%s's %s may not have been published: %s Send it again with `%sretry %s`.", it.Staff.Display(), what, it.Reason, prefix, it.ID)
	case OutboxCancelled:
		if it.Reason != "" {
			return fmt.Sprintf("%s's %s was not published: %s", it.Staff.Display(), what, it.Reason)
		}
	}
	return ""
}
