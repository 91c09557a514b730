package connectortest

// surge.go holds the desks' surge harness: many cases opened at once
// against a rate-limited fake, and the checks on what landed. What the
// platform's limits are, how the desk paces, and how a card's case id is
// read back from the fake stay with each desk's test.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// OpenFunc opens one case's thread, as a desk's OpenThread in a channel.
type OpenFunc func(ctx context.Context, cv bridge.CaseView) error

// Surge opens n cases at once through open (SuiteCase E-1 … E-n, each in
// its own goroutine): the first n-high with priority 0, then, 20 ms later
// (once the desk's queue is full), the last high with priority 9. It waits
// for all of them, fails the test if any open failed, and returns how long
// the surge took.
func Surge(tb testing.TB, n, high int, open OpenFunc) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		if i == n-high {
			time.Sleep(20 * time.Millisecond) // the urgent ones arrive once the queue is full
		}
		cv := SuiteCase(fmt.Sprintf("E-%d", i+1))
		cv.Priority = 0
		if i >= n-high {
			cv.Priority = 9
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- open(ctx, cv)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Fatalf("OpenThread during the surge: %v", err)
		}
	}
	return elapsed
}

// CheckSurgeOrder checks the case ids of a Surge's cards in the order
// they landed (what names them in messages: "card", "post"): all n landed
// (the test stops otherwise), none twice, and the high urgent ones
// overtook the queued ordinary ones, all of them landing before the last
// ordinary one.
func CheckSurgeOrder(tb testing.TB, order []string, n, high int, what string) {
	tb.Helper()
	if len(order) != n {
		tb.Fatalf("%d %ss landed, want %d", len(order), what, n)
	}
	seen := map[string]bool{}
	for _, id := range order {
		if seen[id] {
			tb.Errorf("%s %s posted twice", what, id)
		}
		seen[id] = true
	}
	lastHigh, lastLow := -1, -1
	for i, id := range order {
		var num int
		fmt.Sscanf(id, "E-%d", &num)
		if num > n-high {
			lastHigh = i
		} else {
			lastLow = i
		}
	}
	if lastHigh > lastLow {
		tb.Errorf("the last urgent %s landed at %d, after the last ordinary one (%d)", what, lastHigh, lastLow)
	}
}

// OpenAll opens n cases at once through open (SuiteCase E-0 … E-(n-1),
// each in its own goroutine, within a minute) and waits for them; each
// failed open fails the test.
func OpenAll(tb testing.TB, n int, open OpenFunc) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- open(ctx, SuiteCase(fmt.Sprintf("E-%d", i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Errorf("OpenThread: %v", err)
		}
	}
}
