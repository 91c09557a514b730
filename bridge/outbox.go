package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The outbox is where public speech is guarded. A reply is queued with
// its due time (the undo window); an edit inside the window changes its
// text and a delete cancels it. When due, the scheduler journals an
// attempt, then publishes; the outcome is journaled too. So each attempt
// is on disk before the network hears of it, and after a crash an attempt
// without an outcome is retried only on an Idempotent network; elsewhere it
// is shown as uncertain, for staff to check and send again. Retryable
// errors are retried with backoff (honouring the network's retry-after);
// after the last try, or on a refusal, the reply is failed, visibly, with
// a Retry button. A case's replies go one at a time, in order.

// Results of a reply: the values of earshot_replies_total's result label.
const (
	ReplySent      = "sent"
	ReplyFailed    = "failed"
	ReplyCancelled = "cancelled"
	ReplyRefused   = "refused"
	ReplyUncertain = "uncertain"
)

// maxAttemptsInFlight bounds concurrent publications.
const maxAttemptsInFlight = 16

// itemSpec is a reply to queue.
type itemSpec struct {
	by      Staff
	text    string
	private bool
	msg     MessageRef    // the staff message, if any
	thread  ThreadRef     // where it was written
	delay   time.Duration // the undo window
	command string        // the text command it was typed with ("!reply"), if any
	// An incident's items: its incident and what the item is for
	// (incident.go); network names the network of a status post, which
	// has no case.
	incident IncidentID
	purpose  string
	network  string
}

// enqueue emits a new outbox item for c (nil for an incident's status post).
func (b *Bridge) enqueue(w *writeTx, c *Case, s itemSpec) (*OutboxItem, error) {
	m := w.counters()
	seq := m.LastOutbox + 1
	id, network := CaseID(""), s.network
	if c != nil {
		id, network = c.ID, c.Network
	}
	it := &OutboxItem{
		ID: fmt.Sprintf("ob-%d", seq), Seq: seq, Case: id, Network: network, Staff: s.by,
		Message: s.msg, Thread: s.thread, Text: s.text, Private: s.private, Command: s.command, Key: newKey(),
		State: OutboxQueued, Due: w.now.Add(s.delay), CreatedAt: w.now, Incident: s.incident, Purpose: s.purpose,
	}
	a, err := w.emit(Event{Type: EvQueued, Item: it})
	return a.item, err
}

// newKey is a random idempotency key: unique across data directories, so a
// reset never makes a network drop a new reply as a repeat.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "earshot-" + hex.EncodeToString(b[:])
}

// tooLong explains a text over the network's limit, or one the network
// refuses whatever its length (TextLimits.Refuse), or returns "".
func (b *Bridge) tooLong(c *Case, text string, private bool) string {
	n, ok := b.networks[c.Network]
	if !ok {
		return fmt.Sprintf("%s is not connected, so nothing can be published.", networkTitle(c.Network))
	}
	lim := n.Limits()
	if lim.Refuse != nil {
		if why := lim.Refuse(strings.TrimSpace(text), private); why != "" {
			return why
		}
	}
	count, limit, fits := lim.Check(strings.TrimSpace(text), private)
	if fits {
		return ""
	}
	unit := lim.Unit
	if unit == "" {
		unit = "characters"
	}
	kind := "a reply"
	if private {
		kind = "a direct message"
	}
	return fmt.Sprintf("It is %d %s and %s allows %d for %s. Nothing was cut; shorten it and send it again.",
		count, unit, networkTitle(c.Network), limit, kind)
}

// activeThread is the thread of c in its current queue, if it has one yet.
func (b *Bridge) activeThread(w *writeTx, c *Case) ThreadRef {
	for _, t := range threadsOf(w.Txn, c.ID) {
		if t.Queue == c.Queue {
			return t.ref()
		}
	}
	return ThreadRef{}
}

// outboxRunner publishes due items.
type outboxRunner struct {
	b    *Bridge
	wake chan struct{}
	pace *publishPacer // per network (pace.go)

	mu       sync.Mutex
	inflight map[CaseID]string // a case's item being attempted
	wg       sync.WaitGroup
}

func newOutboxRunner(b *Bridge) *outboxRunner {
	pace, warnings := newPublishPacer(b.networks, b.cfg.Pacing)
	for _, w := range warnings {
		b.log.Warn("bridge: " + w)
	}
	return &outboxRunner{b: b, wake: make(chan struct{}, 1), inflight: map[CaseID]string{}, pace: pace}
}

// eta is how long pending publications per network take at their pace.
func (o *outboxRunner) eta(pending map[string]int) time.Duration {
	return o.pace.eta(pending, o.b.clock.Now())
}

// poke makes the scheduler look again (an item was queued or finished).
func (o *outboxRunner) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run dispatches due items until ctx ends.
func (o *outboxRunner) run(ctx context.Context) {
	for {
		next := o.dispatch()
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = o.b.clock.At(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-timer:
		}
	}
}

// dispatch starts an attempt for every due item whose case has none in
// flight and whose network's pace allows one now (staff's own replies
// before an incident's), and returns when to look again (zero: nothing
// queued).
func (o *outboxRunner) dispatch() time.Time {
	b := o.b
	now := b.clock.Now()
	tx := b.read()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if b.publishing.Err() != nil {
		return time.Time{} // the shutdown cut publishing: the rest waits for the next start
	}
	for _, fanOut := range []bool{false, true} {
		it, err := tx.Get(tableOutbox, indexDue)
		if err != nil {
			return next
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			item := raw.(*OutboxItem)
			if item.Due.After(now) {
				later(item.Due)
				break
			}
			if _, busy := o.inflight[item.Case]; busy || (item.Incident != "") != fanOut {
				continue
			}
			if len(o.inflight) >= maxAttemptsInFlight {
				return next // a finishing attempt pokes
			}
			if wait := o.pace.take(item.Network, now); wait > 0 {
				later(now.Add(wait))
				continue
			}
			o.inflight[item.Case] = item.ID
			id, cid := item.ID, item.Case
			o.wg.Go(func() {
				b.attempt(id)
				o.mu.Lock()
				delete(o.inflight, cid)
				o.mu.Unlock()
				o.poke()
			})
		}
	}
	return next
}

// drain waits, until the deadline at most, until nothing due is left to
// publish and no attempt is in flight, and says whether that happened;
// items still in their undo window stay queued for the next start.
func (o *outboxRunner) drain(deadline time.Time) bool {
	for time.Now().Before(deadline) {
		o.poke()
		o.mu.Lock()
		busy := len(o.inflight) > 0
		o.mu.Unlock()
		if !busy && !o.anyDue() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// settle waits, until the deadline at most, for the attempts in flight
// to journal their outcome (after stopPublishing they end at once).
func (o *outboxRunner) settle(deadline time.Time) {
	if !waitUntil(&o.wg, deadline) {
		o.b.log.Warn("bridge: stopped with publications still in flight; they will show as uncertain or be retried at the next start")
	}
}

// attempting lists the items being attempted now.
func (o *outboxRunner) attempting() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids := make([]string, 0, len(o.inflight))
	for _, id := range o.inflight {
		ids = append(ids, id)
	}
	return ids
}

func (o *outboxRunner) anyDue() bool {
	now := o.b.clock.Now()
	for _, it := range rows[OutboxItem](o.b.read(), tableOutbox, indexDue) {
		if it.Due.After(now) {
			return false
		}
		if o.pace.ready(it.Network, now) {
			return true // due, and its network takes it now (a paced one waits for the next start)
		}
	}
	return false
}

// attempt publishes item id once: journal the attempt, publish, journal
// the outcome. Checks made again at the last moment: the author still
// holds the claim, and the text still fits.
func (b *Bridge) attempt(id string) {
	var item OutboxItem
	var reply Reply
	var net Network
	_, err := b.change(func(w *writeTx) error {
		it := getItem(w.Txn, id)
		if it == nil || it.State != OutboxQueued || it.Due.After(w.now) {
			return errUnchanged
		}
		if it.Incident != "" {
			var err error
			item, reply, net, err = b.incidentAttempt(w, it)
			return err
		}
		cs, _ := getCase(w.Txn, it.Case)
		if cs == nil {
			_, err := w.emit(Event{Type: EvFailed, ID: id, Text: "The case is gone."})
			return err
		}
		if cs.Assignee != it.Staff.Key() {
			reason := fmt.Sprintf("You no longer hold the claim on %s, so nothing was published.", cs.ID)
			if cs.AssigneeName != "" {
				reason = fmt.Sprintf("%s holds the claim on %s now, so nothing was published.", cs.AssigneeName, cs.ID)
			}
			_, err := w.emit(Event{Type: EvCancelled, ID: id, Text: reason, Flag: true})
			return err
		}
		if reason := b.tooLong(cs, it.Text, it.Private); reason != "" {
			_, err := w.emit(Event{Type: EvCancelled, ID: id, Text: reason, Flag: true})
			return err
		}
		net = b.networks[cs.Network]
		a, err := w.emit(Event{Type: EvAttempt, ID: id})
		if err == nil {
			item = *a.item
			reply = Reply{Case: cs.ID, Network: cs.Network, InReplyTo: cs.Last.ID, InRef: cs.Last.Ref, To: cs.Customer,
				Text: strings.TrimSpace(item.Text), Private: item.Private, IdempotencyKey: item.Key}
		}
		return err
	})
	if err != nil || net == nil {
		if err != nil && err != errUnchanged {
			b.log.Error("bridge: outbox attempt not journaled; nothing was published", "outbox", id, "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(b.publishing, b.opts.PublishTimeout)
	ref, perr := net.Publish(ctx, reply)
	cancel()
	b.outbox.pace.observe(item.Network, perr, b.clock.Now())
	outcome := b.outcome(item, ref, perr)
	if _, err := b.change(func(w *writeTx) error { _, err := w.emit(outcome); return err }); err != nil {
		b.log.Error("bridge: outbox outcome not journaled (the attempt will show as uncertain after a restart)", "outbox", id, "err", err)
	}
}

// outcome turns a publication result into its event.
func (b *Bridge) outcome(it OutboxItem, ref PostRef, err error) Event {
	if err == nil {
		if ref.Network == "" {
			ref.Network = it.Network
		}
		// A warning for staff goes with the event (its Text), not the ref.
		warning := ref.Warning
		ref.Warning = ""
		return Event{Type: EvSent, ID: it.ID, Ref: &ref, Text: warning}
	}
	pe := AsPublishError(err)
	reason := pe.Reason
	if reason == "" {
		reason = networkTitle(it.Network) + " did not take it"
	}
	_, idempotent := b.networks[it.Network].(Idempotent)
	if idempotent {
		idempotent = b.networks[it.Network].(Idempotent).Idempotent()
	}
	switch {
	case pe.MaybeSent && (!idempotent || !pe.Retryable):
		// An Idempotent network may still have a path without idempotency
		// (Bluesky's DMs): it says so by not calling the attempt retryable.
		return Event{Type: EvUncertain, ID: it.ID, Text: "It may or may not have been published (" + reason + "). Check the conversation, then send again if it is not there."}
	case pe.Retryable && it.Attempts < b.cfg.Retry.Attempts:
		wait := b.cfg.Retry.Backoff << max(it.Attempts-1, 0)
		if wait <= 0 || wait > b.cfg.Retry.MaxWait {
			wait = b.cfg.Retry.MaxWait
		}
		wait = max(wait, pe.RetryAfter)
		// The reply is held back this long by the network's rate limit.
		b.metrics.ObserveWait(it.Network, pe.RetryAfter)
		b.log.Info("bridge: publication failed; trying again", "outbox", it.ID, "network", it.Network, "attempt", it.Attempts, "in", wait, "err", err)
		return Event{Type: EvRetrying, ID: it.ID, Until: b.clock.Now().Add(wait), Text: reason}
	}
	b.log.Warn("bridge: publication failed", "outbox", it.ID, "network", it.Network, "attempts", it.Attempts, "err", err)
	if pe.Retryable {
		reason = fmt.Sprintf("%s (gave up after %d tries)", reason, it.Attempts)
	}
	return Event{Type: EvFailed, ID: it.ID, Text: capitalize(reason) + "."}
}

// recover settles the outbox after a restart: an attempt without outcome
// is retried on an Idempotent network and shown as uncertain elsewhere; an
// item whose undo window ran out while Earshot was down gets a fresh
// window, so a delete made meanwhile (and delivered late) still counts.
func (b *Bridge) recover() error {
	_, err := b.change(func(w *writeTx) error {
		it, err := w.Get(tableOutbox, indexID)
		if err != nil {
			return err
		}
		var evs []Event
		for raw := it.Next(); raw != nil; raw = it.Next() {
			item := raw.(*OutboxItem)
			switch item.State {
			case OutboxAttempting:
				if idem, ok := b.networks[item.Network].(Idempotent); ok && idem.Idempotent() {
					evs = append(evs, Event{Type: EvRequeued, ID: item.ID, Until: w.now})
				} else {
					evs = append(evs, Event{Type: EvUncertain, ID: item.ID,
						Text: "Earshot stopped while publishing this, so it may or may not have gone out. Check the conversation, then send again if it is not there."})
				}
			case OutboxQueued:
				if item.Due.Before(w.now) {
					evs = append(evs, Event{Type: EvRequeued, ID: item.ID, Until: w.now.Add(b.cfg.UndoWindow)})
				}
			}
		}
		for _, ev := range evs {
			if _, err := w.emit(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bridge: recover the outbox: %w", err)
	}
	return nil
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
