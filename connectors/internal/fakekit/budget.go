package fakekit

import (
	"sync"
	"time"
)

// Budget is a platform's per-account rate limit in fixed windows, as the
// fakes enforce it: each key (an account) may spend Limit points per
// Window, counted from its first spend; a spend over it is refused and
// says when the window resets. The zero value (or Limit 0) allows
// everything. Safe for concurrent use.
type Budget struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	now     func() time.Time
	spent   map[string]*budgetWindow
	refused int
}

type budgetWindow struct {
	start time.Time
	used  int
}

// Set sets the limit per window (0: unlimited) and forgets what was spent.
func (b *Budget) Set(limit int, window time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit, b.window, b.spent = limit, window, map[string]*budgetWindow{}
}

// Spend spends cost points of key's budget. It returns whether they were
// allowed, what is left in the window, and when the window resets.
func (b *Budget) Spend(key string, cost int) (ok bool, left int, reset time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit <= 0 {
		return true, 0, time.Time{}
	}
	now := time.Now()
	if b.now != nil {
		now = b.now()
	}
	w := b.spent[key]
	if w == nil || !now.Before(w.start.Add(b.window)) {
		w = &budgetWindow{start: now}
		b.spent[key] = w
	}
	reset = w.start.Add(b.window)
	if w.used+cost > b.limit {
		b.refused++
		return false, b.limit - w.used, reset
	}
	w.used += cost
	return true, b.limit - w.used, reset
}

// Limit is the limit per window (0: unlimited).
func (b *Budget) Limit() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit
}

// Refused counts the spends refused so far.
func (b *Budget) Refused() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

// Window is the length of a window.
func (b *Budget) Window() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.window
}
