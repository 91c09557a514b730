package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	nj "github.com/nats-io/nats.go/jetstream"

	"github.com/earshot-dev/earshot/bridge/journal"
)

// errLeaseLost is why the leadership ended when the lease was not renewed.
var errLeaseLost = errors.New("jetstream: the leader lease was lost")

// maxFenceTries bounds how often a new leader catches up and tries to
// fence again while the old one still appends.
const maxFenceTries = 20

// Lead follows the stream, handing each group of records another process
// appends to apply, and tries to take the lease every RenewEvery/2 (and at
// once when the holder gives it up). Once it holds the lease it catches up
// with the stream's last message and appends a fence marker expecting
// that message to be the last: from then on the previous leader's appends
// are refused. It returns the context of the leadership (see
// bridge.Replicated). It does network I/O and blocks while another
// process leads.
func (j *Journal) Lead(ctx context.Context, apply func(first uint64, recs [][]byte) error) (context.Context, error) {
	j.mu.Lock()
	switch {
	case j.closed:
		j.mu.Unlock()
		return nil, journal.ErrClosed
	case !j.loaded:
		j.mu.Unlock()
		return nil, errors.New("jetstream: lead before load")
	case j.leading:
		j.mu.Unlock()
		return nil, errors.New("jetstream: lead while leading")
	}
	from := j.lastStream + 1
	j.mu.Unlock()

	msgs, stop, err := j.follow(ctx, from)
	if err != nil {
		return nil, err
	}
	defer stop()
	take := func(m streamMsg) error {
		j.mu.Lock()
		next := j.appended + 1
		j.mu.Unlock()
		first, recs, err := m.records(next, j.cfg.Stream)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := apply(first, recs); err != nil {
				return err
			}
		}
		j.mu.Lock()
		j.lastStream = m.seq
		j.appended = max(j.appended, first+uint64(len(recs))-1)
		j.synced = j.appended
		j.mu.Unlock()
		if m.pending == 0 {
			j.m.lag.Set(0)
		}
		return nil
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changed := j.watchLease(wctx)
	tick := time.NewTicker(max(j.cfg.RenewEvery/2, 50*time.Millisecond))
	defer tick.Stop()
	rev := j.tryAcquire(ctx)
	for rev == 0 {
		select {
		case m, ok := <-msgs:
			if !ok {
				return nil, fmt.Errorf("jetstream: following stream %s stopped", j.cfg.Stream)
			}
			if err := take(m); err != nil {
				return nil, err
			}
			continue
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			j.updateLag(ctx)
		case <-changed:
		}
		rev = j.tryAcquire(ctx)
	}

	// This process holds the lease: renew it from now on, catch up, fence.
	acquired := time.Now()
	leadCtx, cancel := context.WithCancelCause(context.Background())
	leaseDone := make(chan struct{})
	j.mu.Lock()
	j.leaseRev, j.leadCancel, j.leaseDone = rev, cancel, leaseDone
	j.mu.Unlock()
	go j.renew(leadCtx, rev, acquired, leaseDone)
	giveUp := func(err error) (context.Context, error) {
		cancel(err)
		<-leaseDone
		return nil, err
	}
	for try := 1; ; try++ {
		cctx, ccancel := context.WithTimeout(ctx, j.cfg.Timeout)
		info, err := j.stream.Info(cctx)
		ccancel()
		if err != nil {
			return giveUp(fmt.Errorf("jetstream: stream %s: %w", j.cfg.Stream, err))
		}
		deadline := time.NewTimer(4 * j.cfg.Timeout)
		for j.streamSeq() < info.State.LastSeq {
			select {
			case m, ok := <-msgs:
				if !ok {
					deadline.Stop()
					return giveUp(fmt.Errorf("jetstream: following stream %s stopped", j.cfg.Stream))
				}
				if err := take(m); err != nil {
					deadline.Stop()
					return giveUp(err)
				}
			case <-deadline.C:
				return giveUp(fmt.Errorf("jetstream: could not catch up with stream %s (at %d of %d)", j.cfg.Stream, j.streamSeq(), info.State.LastSeq))
			case <-leadCtx.Done():
				deadline.Stop()
				return giveUp(context.Cause(leadCtx))
			case <-ctx.Done():
				deadline.Stop()
				return giveUp(ctx.Err())
			}
		}
		deadline.Stop()
		j.mu.Lock()
		expect, next := j.lastStream, j.appended+1
		j.mu.Unlock()
		seq, err := j.publish(next, 0, nil, expect, true)
		if err == nil {
			j.mu.Lock()
			if leadCtx.Err() != nil { // the lease went while fencing
				j.lastStream = seq
				j.mu.Unlock()
				return giveUp(context.Cause(leadCtx))
			}
			j.lastStream = seq
			j.synced = j.appended
			j.leading, j.failed = true, nil
			j.mu.Unlock()
			j.m.failovers.Inc()
			j.m.lag.Set(0)
			j.log.Info("jetstream: this process leads", "holder", j.cfg.Holder, "record", next-1, "stream_seq", seq,
				"took", time.Since(acquired).Round(time.Millisecond))
			return leadCtx, nil
		}
		if !errors.Is(err, errFenced) || try == maxFenceTries {
			return giveUp(err)
		}
		// The previous leader appended after we read the stream's end:
		// catch up with that too, then fence again.
	}
}

// streamSeq is the stream seq of the last message known.
func (j *Journal) streamSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastStream
}

// leaseValue is what the lease holds: who and since when (for people).
func (j *Journal) leaseValue() []byte {
	v, _ := json.Marshal(struct {
		Holder string    `json:"holder"`
		At     time.Time `json:"renewed_at"`
	}{j.cfg.Holder, time.Now().UTC()})
	return v
}

// tryAcquire creates the lease key; it succeeds (a revision > 0) only
// when no live lease exists.
func (j *Journal) tryAcquire(ctx context.Context) uint64 {
	cctx, cancel := context.WithTimeout(ctx, j.cfg.RenewEvery)
	defer cancel()
	rev, err := j.kv.Create(cctx, leaseKey, j.leaseValue())
	if err != nil {
		if !errors.Is(err, nj.ErrKeyExists) && ctx.Err() == nil {
			j.log.Debug("jetstream: could not try the lease", "err", err)
		}
		return 0
	}
	return rev
}

// watchLease signals when the lease is given up (deleted or purged), so
// a standby tries at once instead of at its next tick. Best effort: when
// the watch cannot start, the ticks remain.
func (j *Journal) watchLease(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	w, err := j.kv.Watch(ctx, leaseKey, nj.UpdatesOnly())
	if err != nil {
		return out
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil && e.Operation() != nj.KeyValuePut {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// renew renews the lease every RenewEvery until ctx (the leadership) ends,
// then gives it up unless another process holds it. A renewal refused
// (the revision moved: the lease expired and another process took it)
// ends the leadership at once; renewals that fail for other reasons end
// it once the lease may have expired (RenewEvery before its TTL, counted
// from the start of the last renewal that worked).
func (j *Journal) renew(ctx context.Context, rev uint64, lastOK time.Time, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(j.cfg.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if !errors.Is(cause, errLeaseLost) && !errors.Is(cause, errFenced) {
				cctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
				if err := j.kv.Delete(cctx, leaseKey, nj.LastRevision(rev)); err != nil {
					j.log.Debug("jetstream: could not give the lease up (it expires by itself)", "err", err)
				}
				cancel()
			}
			return
		case <-t.C:
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, j.cfg.RenewEvery)
		next, err := j.kv.Update(cctx, leaseKey, j.leaseValue(), rev)
		cancel()
		switch {
		case err == nil:
			rev, lastOK = next, start
			j.m.renewals.WithLabelValues("ok").Inc()
			j.mu.Lock()
			j.leaseRev = rev
			j.mu.Unlock()
		case ctx.Err() != nil:
		case errors.Is(err, nj.ErrKeyRevisionMismatch) || errors.Is(err, nj.ErrKeyNotFound) || errors.Is(err, nj.ErrKeyDeleted):
			j.m.renewals.WithLabelValues("failed").Inc()
			j.stepDown(fmt.Errorf("%w: another process holds it (%v)", errLeaseLost, err))
		default:
			j.m.renewals.WithLabelValues("failed").Inc()
			if time.Since(lastOK) >= j.cfg.LeaseTTL-j.cfg.RenewEvery {
				j.stepDown(fmt.Errorf("%w: not renewed for %s (%v)", errLeaseLost, time.Since(lastOK).Round(time.Millisecond), err))
			} else {
				j.log.Warn("jetstream: could not renew the leader lease; trying again", "err", err)
			}
		}
	}
}

// stepDown ends the leadership (see stepDownLocked).
func (j *Journal) stepDown(cause error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stepDownLocked(cause)
}

// stepDownLocked ends the leadership for cause: pending appends fail,
// waiters wake, the leadership's context ends (the bridge stops its
// workers), and appends are refused until Load and Lead again.
func (j *Journal) stepDownLocked(cause error) {
	was := j.leading
	j.leading = false
	if was || j.failed == nil || errors.Is(cause, journal.ErrClosed) {
		j.failed = cause
	}
	j.pending = nil
	close(j.durable)
	j.durable = make(chan struct{})
	if j.leadCancel != nil {
		j.leadCancel(cause)
		j.leadCancel = nil
	}
	if was && !errors.Is(cause, journal.ErrClosed) {
		j.log.Warn("jetstream: this process no longer leads", "holder", j.cfg.Holder, "why", cause)
	}
}

// updateLag sets earshot_journal_lag_events from the stream's last message.
func (j *Journal) updateLag(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, j.cfg.RenewEvery)
	defer cancel()
	m, err := j.stream.GetLastMsgForSubject(cctx, j.cfg.subject())
	if err != nil {
		return
	}
	first, err1 := strconv.ParseUint(m.Header.Get(hdrRecord), 10, 64)
	count, err2 := strconv.ParseUint(m.Header.Get(hdrCount), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	last := first + count - 1
	j.mu.Lock()
	applied := j.appended
	j.mu.Unlock()
	if last > applied {
		j.m.lag.Set(float64(last - applied))
	} else {
		j.m.lag.Set(0)
	}
}
