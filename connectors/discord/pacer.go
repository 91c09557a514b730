package discord

import (
	"container/heap"
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// pacer sits in front of every request that creates a message or a post.
// Each target channel (a forum, a text channel or a thread) has its own
// queue, served by one short-lived worker goroutine at the channel's pace;
// a surge queues by case priority (higher first), then age. Each job is one
// call (see call.go), which waits out 429s itself: the worker holds the
// channel while it does, so order holds and nothing is dropped while the
// callers' contexts live. Idle queues whose limiter has refilled are swept,
// so the map stays as small as the set of busy channels.
type pacer struct {
	perSecond float64
	burst     int

	mu     sync.Mutex
	queues map[string]*chanQueue
	seq    uint64
	sweeps int
}

type chanQueue struct {
	lim     *rate.Limiter
	jobs    jobHeap
	running bool
}

type job struct {
	ctx     context.Context
	prio    int
	seq     uint64
	fn      func(ctx context.Context) error
	done    chan error
	started bool // the worker took it (p.mu)
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

func newPacer(perSecond float64, burst int) *pacer {
	return &pacer{perSecond: perSecond, burst: max(burst, 1), queues: map[string]*chanQueue{}}
}

// sweepEvery is how many Do calls pass between sweeps of idle queues.
const sweepEvery = 256

// Do runs fn for channel when the channel's pace allows, after every
// higher-priority or older job of that channel. It blocks until fn
// returned or, for a job not started yet, ctx ended (the job is then
// dropped unrun).
func (p *pacer) Do(ctx context.Context, channel string, prio int, fn func(ctx context.Context) error) error {
	j := &job{ctx: ctx, prio: prio, fn: fn, done: make(chan error, 1)}
	p.mu.Lock()
	p.seq++
	j.seq = p.seq
	if p.sweeps++; p.sweeps >= sweepEvery {
		p.sweeps = 0
		p.sweep()
	}
	q := p.queues[channel]
	if q == nil {
		q = &chanQueue{lim: rate.NewLimiter(rate.Limit(p.perSecond), p.burst)}
		p.queues[channel] = q
	}
	heap.Push(&q.jobs, j)
	if !q.running {
		q.running = true
		go p.work(q)
	}
	p.mu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		p.mu.Lock()
		started := j.started
		p.mu.Unlock()
		if started {
			return <-j.done // fn sees ctx end too; its error says more
		}
		return ctx.Err()
	}
}

// sweep forgets idle queues whose limiter is full again; p.mu held.
func (p *pacer) sweep() {
	for k, q := range p.queues {
		if !q.running && q.jobs.Len() == 0 && q.lim.Tokens() >= float64(p.burst) {
			delete(p.queues, k)
		}
	}
}

// work serves one channel's queue until it is empty.
func (p *pacer) work(q *chanQueue) {
	for {
		p.mu.Lock()
		if q.jobs.Len() == 0 {
			q.running = false
			p.mu.Unlock()
			return
		}
		j := heap.Pop(&q.jobs).(*job)
		j.started = true
		p.mu.Unlock()
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		if err := q.lim.Wait(j.ctx); err != nil {
			j.done <- err
			continue
		}
		j.done <- j.fn(j.ctx)
	}
}
