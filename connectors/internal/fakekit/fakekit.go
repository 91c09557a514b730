// Package fakekit holds the mechanics the platform fakes (slackfake,
// discordfake, mastodonfake, blueskyfake, xfake, webhookfake) share, so each
// fake is left with what its platform does: a change feed for live pages and
// tests (Feed), the FailNext queue of injected failures (Failures), the
// SetLatency knob (Latency), and connections that can be frozen half-open
// (Freezable). How a failure or a limit is answered stays with each fake:
// that is the platform's wire protocol.
package fakekit

import (
	"context"
	"sync"
	"time"
)

// Feed is a change feed: any number of subscribers, each a buffered channel.
// The zero value is ready. Safe for concurrent use, and to use while the
// fake holds its own lock (it takes only its own, and never blocks), so
// events come out in the order the fake made its changes.
type Feed[E any] struct {
	// Buffer is each new subscriber's channel size; default 256.
	Buffer int

	mu     sync.Mutex
	subs   []chan E
	closed bool
}

// Subscribe returns a channel of events; Close closes it (at once when the
// feed is closed already). A slow reader misses events rather than block
// the fake.
func (f *Feed[E]) Subscribe() <-chan E {
	n := f.Buffer
	if n <= 0 {
		n = 256
	}
	c := make(chan E, n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(c)
		return c
	}
	f.subs = append(f.subs, c)
	return c
}

// Emit sends e to every subscriber with room for it. It never blocks; after
// Close it does nothing.
func (f *Feed[E]) Emit(e E) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		select {
		case c <- e:
		default:
		}
	}
}

// Close closes every subscriber's channel. Later calls do nothing.
func (f *Feed[E]) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, c := range f.subs {
		close(c)
	}
	f.subs = nil
}

// Failures is the queue behind a fake's FailNext: injected failures (of the
// fake's own type F) that the next requests it applies to take, one each,
// in order. The zero value is empty. Not safe for concurrent use: the fake
// guards it with its own lock, so taking a failure goes with whatever else
// the request changes.
type Failures[F any] struct{ q []F }

// Add queues n copies of f.
func (fs *Failures[F]) Add(f F, n int) {
	for range n {
		fs.q = append(fs.q, f)
	}
}

// Take removes and returns the next failure; ok=false when none is queued.
func (fs *Failures[F]) Take() (f F, ok bool) {
	if len(fs.q) == 0 {
		return f, false
	}
	f = fs.q[0]
	fs.q = fs.q[1:]
	return f, true
}

// Latency is the SetLatency knob: a delay before a fake answers. The zero
// value is no delay. Safe for concurrent use.
type Latency struct {
	mu sync.Mutex
	d  time.Duration
}

// Set makes later answers wait d; 0 or less: none.
func (l *Latency) Set(d time.Duration) {
	l.mu.Lock()
	l.d = d
	l.mu.Unlock()
}

// Wait blocks for the delay set now. It returns false as soon as ctx ends
// (the client went away: answer nothing), and true when the delay is over
// or, early, when stop is closed (the fake is closing: answer now; nil
// never is).
func (l *Latency) Wait(ctx context.Context, stop <-chan struct{}) bool {
	l.mu.Lock()
	d := l.d
	l.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return true
	case <-ctx.Done():
		return false
	}
}

// Holds is the HoldAnswers knob: answers of a kind of request (a method, a
// route) held after the request took effect, until released: the moment
// between a platform doing something and the client hearing of it (a
// crash, a timeout). The zero value holds nothing. Safe for concurrent use.
type Holds struct {
	mu sync.Mutex
	m  map[string]*hold
}

type hold struct {
	release  chan struct{}
	answered chan struct{}
}

// Hold holds the answers of key until release is called (one hold per key
// at a time); answered receives once per answer held.
func (h *Holds) Hold(key string) (answered <-chan struct{}, release func()) {
	x := &hold{release: make(chan struct{}), answered: make(chan struct{}, 64)}
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*hold{}
	}
	h.m[key] = x
	h.mu.Unlock()
	var once sync.Once
	return x.answered, func() {
		once.Do(func() {
			h.mu.Lock()
			if h.m[key] == x {
				delete(h.m, key)
			}
			h.mu.Unlock()
			close(x.release)
		})
	}
}

// Holding reports whether key's answers are held now.
func (h *Holds) Holding(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[key] != nil
}

// Wait blocks while key's answers are held. It returns false when ctx
// ends or stop is closed meanwhile (the client or the fake went away:
// answer nothing), true when the answer may go.
func (h *Holds) Wait(ctx context.Context, stop <-chan struct{}, key string) bool {
	h.mu.Lock()
	x := h.m[key]
	h.mu.Unlock()
	if x == nil {
		return true
	}
	select {
	case x.answered <- struct{}{}:
	default:
	}
	select {
	case <-x.release:
		return true
	case <-ctx.Done():
	case <-stop:
	}
	return false
}
