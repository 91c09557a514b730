package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// Results of ingesting a post: the values of earshot_posts_total's result label.
const (
	PostOpened    = "opened"
	PostFollowUp  = "follow_up"
	PostDuplicate = "duplicate"
	PostIgnored   = "ignored"
	PostOwn       = "own"
)

// Post takes a post from a network: a duplicate or one of our own is
// dropped; a post in a known conversation of the same customer joins its
// case (reopening it within the queue's reopen window after a resolve, else
// opening a new case linked to it); any other post opens a case when a
// watch rule matches it. It returns once the change is journaled and on
// disk; the desk learns of it afterwards. An error means the post was not
// taken (the connector may deliver it again: duplicates are harmless).
func (b *Bridge) Post(ctx context.Context, p Post) error {
	if p.Network == "" || p.ID == "" {
		return errors.New("bridge: post: network and id are required")
	}
	if _, ok := b.networks[p.Network]; !ok {
		return fmt.Errorf("bridge: post: unknown network %q", p.Network)
	}
	if p.FromUs {
		b.metrics.posts.WithLabelValues(p.Network, PostOwn).Inc()
		return nil
	}
	r := &ingestReq{post: p, done: make(chan struct{})}
	select {
	case b.ingestQ <- r:
	case <-b.closing:
		return errors.New("bridge: post: the bridge has stopped")
	case <-ctx.Done():
		return fmt.Errorf("bridge: post %s/%s: %w", p.Network, p.ID, ctx.Err())
	}
	<-r.done // never abandoned: the post may be journaled already
	if r.err != nil {
		return fmt.Errorf("bridge: post %s/%s: %w", p.Network, p.ID, r.err)
	}
	b.metrics.posts.WithLabelValues(p.Network, r.result).Inc()
	return nil
}

// ingestReq is one post waiting for the ingest batcher.
type ingestReq struct {
	post   Post
	result string
	err    error
	done   chan struct{}
}

// maxIngestBatch bounds the posts applied in one write transaction.
const maxIngestBatch = 512

// ingestLoop applies posts in batches: whatever arrived while the last
// batch was written goes into one write transaction and one fsync. In a
// surge that shares the cost of the store's copy-on-write and the disk
// between hundreds of posts; a lone post goes straight through. It runs
// from New until Close.
func (b *Bridge) ingestLoop() {
	defer close(b.ingestDone)
	batch := make([]*ingestReq, 0, maxIngestBatch)
	for {
		select {
		case r := <-b.ingestQ:
			batch = append(batch[:0], r)
		case <-b.closing:
			return
		}
		if len(b.ingestQ) == 0 {
			// Let the connectors' goroutines that are ready to deliver do
			// so before the batch closes: on one core the one that woke
			// this loop would otherwise be the whole batch.
			runtime.Gosched()
		}
	more:
		for len(batch) < maxIngestBatch {
			select {
			case r := <-b.ingestQ:
				batch = append(batch, r)
			default:
				break more
			}
		}
		_, err := b.change(func(w *writeTx) error {
			for _, r := range batch {
				if r.result, r.err = b.ingest(w, r.post); r.err != nil {
					return r.err
				}
			}
			return nil
		})
		for _, r := range batch {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
}

// ingest decides what p is and emits the event for it.
func (b *Bridge) ingest(w *writeTx, p Post) (string, error) {
	if seen := getPost(w.Txn, p.Network, p.ID); seen != nil {
		if seen.Own {
			return PostOwn, nil
		}
		return PostDuplicate, nil
	}
	if target := b.knownCase(w, p); target != nil {
		if target.Status.Open() {
			_, err := w.emit(Event{Type: EvFollowUp, Case: target.ID, Post: &p})
			return PostFollowUp, err
		}
		if w.now.Sub(target.ResolvedAt) <= b.queues[target.Queue].ReopenWindow {
			_, err := w.emit(Event{Type: EvFollowUp, Case: target.ID, Post: &p, Flag: true})
			return PostFollowUp, err
		}
		// Resolved too long ago: a new case, linked to the old one.
		return PostOpened, b.open(w, p, []CaseID{target.ID})
	}
	if !b.watched(p) {
		return PostIgnored, nil
	}
	if open := b.openCaseOf(w, p); open != nil {
		// One customer, one open case: a new post of someone whose case
		// is open in the queue it would land in joins that case.
		_, err := w.emit(Event{Type: EvFollowUp, Case: open.ID, Post: &p})
		return PostFollowUp, err
	}
	return PostOpened, b.open(w, p, nil)
}

// openCaseOf is the customer's open case, on p's network, in the queue p
// would be routed to (or escalated from it), when that queue keeps one
// case per customer (the default); the newest when there are several.
func (b *Bridge) openCaseOf(w *writeTx, p Post) *Case {
	queue, _, _ := b.route(p)
	if b.queues[queue].SeparateCases {
		return nil
	}
	cases := casesOfCustomer(w.Txn, p.Network, p.Author.ID)
	for n := len(cases) - 1; n >= 0; n-- {
		if c := cases[n]; c.Status.Open() && (c.Queue == queue || c.Origin == queue) {
			return c
		}
	}
	return nil
}

// knownCase finds the case p continues: the case of the post it replies
// to (ours or the customer's), else the customer's case in the same
// conversation, else, for a direct message, the customer's latest case on
// the network. Only the same customer continues a case: someone else
// replying in the thread is a new complaint, if a watch rule says so.
func (b *Bridge) knownCase(w *writeTx, p Post) *Case {
	if p.InReplyTo != "" {
		if parent := getPost(w.Txn, p.Network, p.InReplyTo); parent != nil {
			if c, _ := getCase(w.Txn, parent.Case); c != nil && c.Customer.ID == p.Author.ID {
				return c
			}
		}
	}
	if c := latestCase(w.Txn, p.Network, p.Author.ID, p.ConversationKey()); c != nil {
		return c
	}
	if p.Direct {
		if cases := casesOfCustomer(w.Txn, p.Network, p.Author.ID); len(cases) > 0 {
			return cases[len(cases)-1]
		}
	}
	return nil
}

// open emits a new case for p.
func (b *Bridge) open(w *writeTx, p Post, previous []CaseID) error {
	queue, priority, tags := b.route(p)
	m := w.counters()
	id := FormatCaseID(b.cfg.CaseIDPrefix, m.LastCase+1)
	a, err := w.emit(Event{Type: EvOpened, Case: id, Post: &p, Queue: queue, Num: priority, Tags: tags, Previous: previous})
	if err != nil {
		return err
	}
	return b.joinIncident(w, a.after) // incident_send.go
}
