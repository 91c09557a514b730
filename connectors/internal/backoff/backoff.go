// Package backoff is the reconnect delay every connector uses: exponential,
// jittered, capped, and never shorter than what the platform itself asked
// for (a Retry-After, a rate-limit reset). A connector counts a failure
// anywhere in a connection cycle (dial, handshake, catch-up poll, a stream
// that ends early) and resets only after a connection stayed healthy, so a
// cycle that fails halfway cannot spin.
//
// A Backoff is one connection loop's state: not safe for concurrent use.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy bounds the delays.
type Policy struct {
	Min time.Duration // the first delay; 0 means 1 s
	Max time.Duration // the cap; 0 means 2 min
	// Healthy is how long a connection must have worked before a failure
	// after it starts again from Min; 0 means 30 s. See Done.
	Healthy time.Duration
}

// Backoff is the delay of one connection loop.
type Backoff struct {
	p     Policy
	next  time.Duration
	fails int
}

// New returns a Backoff at its minimum.
func New(p Policy) *Backoff {
	if p.Min <= 0 {
		p.Min = time.Second
	}
	if p.Max <= 0 {
		p.Max = 2 * time.Minute
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	if p.Healthy <= 0 {
		p.Healthy = 30 * time.Second
	}
	return &Backoff{p: p, next: p.Min}
}

// Next returns how long to wait before the next attempt: the current delay
// with full jitter over its upper half, at least floor (what the platform
// asked for), and grows the delay for the time after.
func (b *Backoff) Next(floor time.Duration) time.Duration {
	b.fails++
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.p.Max)
	return max(d, floor)
}

// Sleep waits Next(floor), or until ctx ends (then it returns ctx's error).
func (b *Backoff) Sleep(ctx context.Context, floor time.Duration) error {
	t := time.NewTimer(b.Next(floor))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Done ends a connection cycle that had worked for upFor: a cycle that
// stayed up at least Policy.Healthy resets the delay; a shorter one keeps
// growing it, so a connection that drops right after each handshake backs
// off like one that never connects.
func (b *Backoff) Done(upFor time.Duration) {
	if upFor >= b.p.Healthy {
		b.Reset()
	}
}

// Reset starts again from the minimum (after a success that proves the
// whole cycle works).
func (b *Backoff) Reset() {
	b.next = b.p.Min
	b.fails = 0
}

// Failures is how many delays were taken since the last reset.
func (b *Backoff) Failures() int { return b.fails }

// Until calls try until it succeeds or ctx ends, waiting Next(floor(err))
// between attempts (floor nil: no floor) and telling failed of each
// failure with the wait that follows it. It returns nil once try has
// succeeded (and resets the delay), or ctx's error as soon as ctx ends (a
// failure that comes with the end of ctx is not told). For a connector's
// first calls before it listens (learning its own user id).
func (b *Backoff) Until(ctx context.Context, try func(context.Context) error, floor func(error) time.Duration,
	failed func(err error, wait time.Duration)) error {
	for {
		err := try(ctx)
		if err == nil {
			b.Reset()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var f time.Duration
		if floor != nil {
			f = floor(err)
		}
		wait := b.Next(f)
		failed(err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
