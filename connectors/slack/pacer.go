package slack

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"
)

// pacer sits in front of chat.postMessage. Each channel has its own queue,
// served by one short-lived worker goroutine at the channel's pace (about
// one message a second with a small burst); every worker also waits on the
// workspace-wide limiter. A surge queues by priority (higher first) then
// age; a 429 pauses the channel for its Retry-After and the same job goes
// again, so nothing is lost while callers' contexts live.
type pacer struct {
	perSecond float64
	burst     int
	workspace *rate.Limiter

	mu     sync.Mutex
	chans  map[string]*chanQueue
	seq    uint64
	wg     sync.WaitGroup
	onWait func(time.Duration) // test hook: called with each 429 wait
}

type chanQueue struct {
	lim     *rate.Limiter
	jobs    jobHeap
	running bool
}

type job struct {
	ctx  context.Context
	prio int
	seq  uint64
	fn   func(ctx context.Context) error
	done chan error
	idx  int
}

type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *jobHeap) Push(x any)   { j := x.(*job); j.idx = len(*h); *h = append(*h, j) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}

func newPacer(perSecond float64, burst int, workspacePerSecond float64) *pacer {
	p := &pacer{perSecond: perSecond, burst: max(burst, 1), chans: map[string]*chanQueue{}}
	if workspacePerSecond > 0 {
		p.workspace = rate.NewLimiter(rate.Limit(workspacePerSecond), max(1, int(workspacePerSecond)))
	}
	return p
}

// maxServerErrors is how many 5xx answers one job survives.
const maxServerErrors = 3

// Do runs fn for channel when the channel's and the workspace's pace allow,
// after every higher-priority or older job of that channel. It blocks until
// fn succeeded, failed for good, or ctx ended. fn makes one attempt; a
// *slack.RateLimitedError makes the job wait and go again; a 5xx is tried
// up to three times with a short backoff.
func (p *pacer) Do(ctx context.Context, channel string, prio int, fn func(ctx context.Context) error) error {
	j := &job{ctx: ctx, prio: prio, fn: fn, done: make(chan error, 1)}
	p.mu.Lock()
	p.seq++
	j.seq = p.seq
	q := p.chans[channel]
	if q == nil {
		lim := rate.NewLimiter(rate.Inf, 1)
		if p.perSecond > 0 {
			lim = rate.NewLimiter(rate.Limit(p.perSecond), p.burst)
		}
		q = &chanQueue{lim: lim}
		p.chans[channel] = q
	}
	heap.Push(&q.jobs, j)
	if !q.running {
		q.running = true
		p.wg.Add(1)
		go p.work(q)
	}
	p.mu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// The worker notices the dead context and drops the job.
		return ctx.Err()
	}
}

// work serves one channel's queue until it is empty.
func (p *pacer) work(q *chanQueue) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if q.jobs.Len() == 0 {
			q.running = false
			p.mu.Unlock()
			return
		}
		j := heap.Pop(&q.jobs).(*job)
		p.mu.Unlock()
		j.done <- p.run(q, j)
	}
}

// run performs one job, waiting out limits and 429s.
func (p *pacer) run(q *chanQueue, j *job) error {
	serverErrors := 0
	for {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		if err := q.lim.Wait(j.ctx); err != nil {
			return err
		}
		if p.workspace != nil {
			if err := p.workspace.Wait(j.ctx); err != nil {
				return err
			}
		}
		err := j.fn(j.ctx)
		var rl *slack.RateLimitedError
		var sc slack.StatusCodeError
		switch {
		case errors.As(err, &rl):
			wait := max(rl.RetryAfter, 100*time.Millisecond)
			if p.onWait != nil {
				p.onWait(wait)
			}
			if err := sleep(j.ctx, wait); err != nil {
				return err
			}
		case errors.As(err, &sc) && sc.Code >= 500 && serverErrors+1 < maxServerErrors:
			serverErrors++
			if err := sleep(j.ctx, time.Duration(serverErrors)*100*time.Millisecond); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry runs fn (one API call) again after 429s (honouring Retry-After) and
// up to three 5xx answers, until ctx ends. For calls that are not paced by
// channel (chat.update, reactions, ephemerals); lim, when set, paces them.
func retry(ctx context.Context, lim *rate.Limiter, fn func(ctx context.Context) error) error {
	serverErrors := 0
	for {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
		}
		err := fn(ctx)
		var rl *slack.RateLimitedError
		var sc slack.StatusCodeError
		switch {
		case errors.As(err, &rl):
			if err := sleep(ctx, max(rl.RetryAfter, 100*time.Millisecond)); err != nil {
				return err
			}
		case errors.As(err, &sc) && sc.Code >= 500 && serverErrors+1 < maxServerErrors:
			serverErrors++
			if err := sleep(ctx, time.Duration(serverErrors)*100*time.Millisecond); err != nil {
				return err
			}
		default:
			return err
		}
	}
}
