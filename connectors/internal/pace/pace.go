// Package pace runs work per key (a desk's channel) at that key's pace. Each
// key has its own queue, ordered by priority (higher first) then arrival,
// served by one short-lived worker goroutine through a token-bucket limiter
// of the key's own and, optionally, one shared by every key. A surge on one
// channel queues there without slowing the others; an urgent job overtakes
// the ordinary ones queued before it; a rate limit waited out (see Again)
// holds the key, so the order holds and nothing is dropped while the callers'
// contexts live. Idle keys whose limiter has refilled are forgotten, so the
// map stays as small as the set of busy keys.
//
// The retry policy is the caller's: a job's function makes one attempt and
// says, by returning Again, that it wants another.
package pace

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a Queue.
type Options struct {
	// PerSecond is each key's pace; <= 0 leaves keys unpaced.
	PerSecond float64
	// Burst is each key's burst; at least 1.
	Burst int
	// Global, when set, is waited on by every attempt of every key, after
	// the key's own limiter.
	Global *rate.Limiter
	// OnWait, when set, is told of each wait a job spent on the limiters
	// or before another attempt (Again): the connector's time waiting for
	// rate limits (earshot_rate_limit_wait_seconds_total). It must not block.
	OnWait func(time.Duration)
}

// Queue is a set of per-key paced priority queues. Safe for concurrent use;
// it has no goroutine while no job is queued or running, so it needs no Close.
type Queue struct {
	perSecond float64
	burst     int
	global    *rate.Limiter
	onWait    func(time.Duration)

	mu     sync.Mutex
	keys   map[string]*keyQueue
	seq    uint64
	sweeps int
}

type keyQueue struct {
	lim     *rate.Limiter // nil: unpaced
	jobs    jobHeap
	running bool // a worker serves this key (q.mu)
}

type job struct {
	ctx     context.Context
	prio    int
	seq     uint64
	fn      func(ctx context.Context) error
	done    chan error
	started bool // the worker took it (q.mu)
}

// jobHeap orders jobs by priority (higher first), then arrival.
type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

// New returns an empty Queue. It starts nothing.
func New(o Options) *Queue {
	return &Queue{perSecond: o.PerSecond, burst: max(o.Burst, 1), global: o.Global, onWait: o.OnWait, keys: map[string]*keyQueue{}}
}

// sweepEvery is how many Do calls pass between sweeps of idle keys.
const sweepEvery = 256

// Do runs fn for key when key's pace and the global one allow, after every
// higher-priority or older job of key. It blocks until fn returned something
// other than Again, or until ctx ended while the job was not in fn (queued,
// waiting for a limiter or before another attempt): a job not started yet
// is then dropped unrun and Do returns ctx.Err(). When ctx ends during fn,
// Do waits for fn, which gets ctx and must return soon after it ends, and
// returns fn's error (it says more, and whether the attempt happened).
func (q *Queue) Do(ctx context.Context, key string, prio int, fn func(ctx context.Context) error) error {
	j := &job{ctx: ctx, prio: prio, fn: fn, done: make(chan error, 1)}
	q.mu.Lock()
	q.seq++
	j.seq = q.seq
	if q.sweeps++; q.sweeps >= sweepEvery {
		q.sweeps = 0
		q.sweep()
	}
	k := q.keys[key]
	if k == nil {
		k = &keyQueue{}
		if q.perSecond > 0 {
			k.lim = rate.NewLimiter(rate.Limit(q.perSecond), q.burst)
		}
		q.keys[key] = k
	}
	heap.Push(&k.jobs, j)
	if !k.running {
		k.running = true
		go q.work(k)
	}
	q.mu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		q.mu.Lock()
		started := j.started
		q.mu.Unlock()
		if started {
			return <-j.done // the worker sees ctx end too, or fn does
		}
		return ctx.Err() // the worker drops the job when it comes to it
	}
}

// sweep forgets idle keys whose limiter is full again; q.mu held.
func (q *Queue) sweep() {
	for name, k := range q.keys {
		if !k.running && k.jobs.Len() == 0 && (k.lim == nil || k.lim.Tokens() >= float64(q.burst)) {
			delete(q.keys, name)
		}
	}
}

// work serves one key's queue until it is empty, then ends.
func (q *Queue) work(k *keyQueue) {
	for {
		q.mu.Lock()
		if k.jobs.Len() == 0 {
			k.running = false
			q.mu.Unlock()
			return
		}
		j := heap.Pop(&k.jobs).(*job)
		j.started = true
		q.mu.Unlock()
		j.done <- q.run(k, j)
	}
}

// run performs one job: each attempt waits for the key's limiter, then the
// global one; an Again answer waits its time and goes again.
func (q *Queue) run(k *keyQueue, j *job) error {
	for {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		if err := q.wait(j.ctx, k.lim); err != nil {
			return err
		}
		if err := q.wait(j.ctx, q.global); err != nil {
			return err
		}
		err := j.fn(j.ctx)
		var again *againError
		if !errors.As(err, &again) {
			return err
		}
		start := time.Now()
		err = Sleep(j.ctx, again.after)
		q.waited(time.Since(start))
		if err != nil {
			return err
		}
	}
}

// wait waits on lim (nil: no wait) and tells OnWait how long it took.
func (q *Queue) wait(ctx context.Context, lim *rate.Limiter) error {
	if lim == nil {
		return nil
	}
	start := time.Now()
	err := lim.Wait(ctx)
	q.waited(time.Since(start))
	return err
}

// waited tells OnWait of a wait worth counting.
func (q *Queue) waited(d time.Duration) {
	if q.onWait != nil && d >= time.Millisecond {
		q.onWait(d)
	}
}

// againError is what Again returns.
type againError struct{ after time.Duration }

func (e *againError) Error() string { return "pace: try again after " + e.after.String() }

// Again is what a job's fn returns to be run again after d (a 429's
// Retry-After, a backoff after a 5xx), through the limiters, before any
// other job of its key. The wait ends early, failing the job with ctx's
// error, when the job's context ends. How often to go again is fn's to
// decide: it is called anew for each attempt.
func Again(d time.Duration) error { return &againError{after: d} }

// Sleep blocks for d and returns nil, or returns ctx.Err() as soon as ctx
// ends. For the callers' own waits (backoffs, retries outside a Queue) too.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
