package bridge

import (
	"context"
	"fmt"
	"time"
)

// Leadership on a replicated journal. Several Earshot processes share the
// journal; one leads. A standby follows the log: every group of records
// the leader appends is applied to the standby's own store, as the leader
// applied it, so the standby is hot. When the leader's lease runs out
// (it died, or it was cut off), a standby's Lead returns: it has caught up
// with the last records and fenced the old leader off; it then settles the
// outbox as a restart would (an attempt without an outcome is retried on
// an Idempotent network and shown as uncertain elsewhere) and starts a
// term: listeners, desk workers, outbox, SLA watch, retention. A term ends
// when the process stops (then it drains, snapshots and gives the lease
// up in Close) or when the leadership is lost (an append refused): then
// everything stops at once, the state is loaded again from the log, and
// the process is a standby again.

// Leading reports whether this process runs the listeners, the desk
// workers and the outbox: always once Run runs on the file journal; on a
// replicated journal, only while it holds the leadership.
func (b *Bridge) Leading() bool { return b.leading.Load() }

// reportsState says whether this process exports the state gauges (queue
// depth, oldest unclaimed case): the leader does, standbys do not, so that
// sums over replicas count each case once.
func (b *Bridge) reportsState() bool { return b.replicated == nil || b.leading.Load() }

// campaign is Run on a replicated journal: standby until this process
// leads, a term while it leads, standby again if it loses the leadership,
// until ctx ends. It returns an error only for a failure that is not the
// journal's (a bug: restarting the process is then the way out).
func (b *Bridge) campaign(ctx context.Context) error {
	wait := time.Second
	for {
		b.log.Info("bridge: standby: following the leader's journal")
		leadCtx, err := b.replicated.Lead(ctx, b.follow)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b.log.Warn("bridge: standby cannot follow the journal; loading the state again", "err", err, "in", wait)
			if !sleepCtx(ctx, wait) {
				return nil
			}
			wait = min(wait*2, 30*time.Second)
			b.reload()
			continue
		}
		wait = time.Second
		b.log.Info("bridge: this process leads now", "seq", b.journal.Seq())
		b.leading.Store(true)
		term, stop := context.WithCancel(ctx)
		stopAfter := context.AfterFunc(leadCtx, stop)
		if err := b.recover(); err != nil {
			stopAfter()
			stop()
			if leadCtx.Err() == nil && ctx.Err() == nil {
				return err
			}
		} else {
			b.lead(ctx, term)
			stopAfter()
			stop()
		}
		if ctx.Err() != nil && leadCtx.Err() == nil {
			return nil // stopping as the leader: Run snapshots, Close gives the lease up
		}
		b.leading.Store(false)
		b.snapshotWG.Wait()
		if ctx.Err() != nil {
			return nil
		}
		b.reload()
	}
}

// follow applies a group of records the leader appended (first is the
// seq of the first) to this standby's store, in one write transaction,
// and publishes the state to readers: the records are durable already.
func (b *Bridge) follow(first uint64, recs [][]byte) error {
	evs := make([]Event, len(recs))
	for i, rec := range recs {
		ev, err := decodeEvent(rec)
		if err != nil {
			return fmt.Errorf("bridge: follow record %d: %w", first+uint64(i), err)
		}
		evs[i] = ev
	}
	b.writer.Lock()
	defer b.writer.Unlock()
	if first != b.committed+1 {
		return fmt.Errorf("bridge: follow: record %d came after record %d", first, b.committed)
	}
	w := &writeTx{Txn: b.db.Txn(true), b: b}
	for i, ev := range evs {
		if _, err := apply(storeTables{w.Txn, &w.meta}, ev); err != nil {
			w.Abort()
			return fmt.Errorf("bridge: follow record %d: %w", first+uint64(i), err)
		}
	}
	if err := w.flushCounters(); err != nil {
		w.Abort()
		return err
	}
	w.Commit()
	b.committed = first + uint64(len(recs)) - 1
	b.publish(&durableView{seq: b.committed, db: b.db.Snapshot()})
	b.sinceSnapshot.Add(int64(len(recs)))
	return nil
}

// reload throws the store away and loads it again from the journal: after
// a lost leadership memory may hold changes the log refused. The desk
// lines that were waiting go too (they are best effort; the next leader's
// desk work redoes what the state says is missing).
func (b *Bridge) reload() {
	b.writer.Lock()
	defer b.writer.Unlock()
	b.ops.reset()
	if err := b.loadJournal(); err != nil {
		b.log.Warn("bridge: could not load the state from the journal; trying again", "err", err)
	}
}

// reset drops every waiting op.
func (p *pendingOps) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.m)
}

// sleepCtx waits d, or less if ctx ends first (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
