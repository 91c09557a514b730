package mastodon

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The account's rate limit is shared by everything Earshot does with it
// (Mastodon and GoToSocial: 300 requests per 5 minutes by default). Every
// answer says how much is left (X-RateLimit-Remaining) and when the window
// resets (X-RateLimit-Reset); rateBudget keeps the latest, and listening
// (streams, polls, gap fills, the lookups they need) waits for the reset
// once only the replies' share is left: listening never spends more than
// Config.ListenShare of the window, so staff replies always find room.

// rateBudget is what the server last said about the account's budget.
// Safe for concurrent use.
type rateBudget struct {
	share float64 // the most of a window listening may spend
	now   func() time.Time

	mu        sync.Mutex
	limit     int       // X-RateLimit-Limit; 0 unknown
	remaining int       // X-RateLimit-Remaining
	reset     time.Time // X-RateLimit-Reset
	held      time.Time // the reset listening last waited for (to log once per window)
}

// observe reads an answer's rate-limit headers.
func (b *rateBudget) observe(h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := time.Parse(time.RFC3339Nano, h.Get("X-RateLimit-Reset"))
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if reset.Before(b.reset) || (reset.Equal(b.reset) && remaining > b.remaining) {
		return // an older answer overtaken by a newer one
	}
	b.limit, b.remaining, b.reset = limit, remaining, reset
}

// spent records a 429: nothing is left until reset.
func (b *rateBudget) spent(reset time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remaining = 0
	if reset.After(b.reset) {
		b.reset = reset
	}
}

// reserve is how many requests of a window listening leaves for replies.
func (b *rateBudget) reserveLocked() int {
	return int(math.Ceil(float64(b.limit) * (1 - b.share)))
}

// listenWait is how long a listening request must wait now: until the
// window resets when only the replies' share is left, else 0. first is
// true the first time a given window holds listening back.
func (b *rateBudget) listenWait() (wait time.Duration, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit == 0 || b.remaining > b.reserveLocked() {
		return 0, false
	}
	wait = b.reset.Sub(b.now())
	if wait <= 0 {
		return 0, false
	}
	first = !b.held.Equal(b.reset)
	b.held = b.reset
	return wait, first
}

// waitListen blocks a listening request while the budget is the replies'
// (see listenWait), or until ctx ends. held, when set, hears each wait
// that begins a window's hold.
func (b *rateBudget) waitListen(ctx context.Context, held func(time.Duration)) error {
	for {
		wait, first := b.listenWait()
		if wait <= 0 {
			return nil
		}
		if first && held != nil {
			held(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
