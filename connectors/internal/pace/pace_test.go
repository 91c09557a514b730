package pace

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// queued is how many jobs of key wait (not counting the one running).
func (q *Queue) queued(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if k := q.keys[key]; k != nil {
		return k.jobs.Len()
	}
	return 0
}

// waitQueued yields until key has n jobs waiting. No clock: it spins.
func waitQueued(t *testing.T, q *Queue, key string, n int) {
	t.Helper()
	for q.queued(key) != n {
		runtime.Gosched()
	}
}

// blocker queues a job on key that runs until release is closed, and
// returns once it runs; its Do's error arrives on the returned channel.
func blocker(t *testing.T, q *Queue, key string) (release func(), done <-chan error) {
	t.Helper()
	running, rel, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- q.Do(context.Background(), key, 0, func(context.Context) error {
			close(running)
			<-rel
			return nil
		})
	}()
	<-running
	return func() { close(rel) }, errc
}

// recorder appends a job's name when it runs. Safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) job(name string) func(context.Context) error {
	return func(context.Context) error {
		r.mu.Lock()
		r.ran = append(r.ran, name)
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

func TestOrderIsPriorityThenArrival(t *testing.T) {
	q := New(Options{})
	release, first := blocker(t, q, "c")
	var rec recorder
	prios := []int{0, 0, 5, 0, 5, 9, 0}
	var wg sync.WaitGroup
	for i, p := range prios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Do(context.Background(), "c", p, rec.job(fmt.Sprintf("%d/p%d", i, p))); err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		}()
		waitQueued(t, q, "c", i+1) // arrival order is the loop's
	}
	release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	want := []string{"5/p9", "2/p5", "4/p5", "0/p0", "1/p0", "3/p0", "6/p0"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
}

func TestKeysDoNotWaitForEachOther(t *testing.T) {
	q := New(Options{PerSecond: 1, Burst: 1})
	release, first := blocker(t, q, "busy")
	defer func() { release(); <-first }()
	var rec recorder
	if err := q.Do(context.Background(), "quiet", 0, rec.job("quiet")); err != nil {
		t.Fatal(err)
	}
	if got := rec.names(); !slices.Equal(got, []string{"quiet"}) {
		t.Errorf("ran %v", got)
	}
}

// A limiter that would make a job wait past its context's deadline fails
// the job at once (rate.Limiter.Wait says so without waiting): with a pace
// of one an hour, exactly the burst goes now, per key and globally.
func TestPacingBounds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const perHour = 1.0 / 3600

	t.Run("per key", func(t *testing.T) {
		q := New(Options{PerSecond: perHour, Burst: 3})
		var rec recorder
		for i := range 4 {
			err := q.Do(ctx, "c", 0, rec.job(fmt.Sprint(i)))
			if i < 3 && err != nil {
				t.Errorf("job %d within the burst: %v", i, err)
			}
			if i == 3 && err == nil {
				t.Error("a job past the burst ran now, at one an hour")
			}
		}
		if err := q.Do(ctx, "other", 0, rec.job("other")); err != nil {
			t.Errorf("another key's first job: %v", err)
		}
		if got := rec.names(); !slices.Equal(got, []string{"0", "1", "2", "other"}) {
			t.Errorf("ran %v", got)
		}
	})

	t.Run("global", func(t *testing.T) {
		q := New(Options{Global: rate.NewLimiter(perHour, 2)})
		var rec recorder
		for _, key := range []string{"a", "b", "c"} {
			err := q.Do(ctx, key, 0, rec.job(key))
			if key != "c" && err != nil {
				t.Errorf("key %s within the global burst: %v", key, err)
			}
			if key == "c" && err == nil {
				t.Error("a third key ran past the global burst of 2")
			}
		}
		if got := rec.names(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("ran %v", got)
		}
	})

	t.Run("unpaced", func(t *testing.T) {
		q := New(Options{})
		for i := range 100 {
			if err := q.Do(ctx, "c", 0, func(context.Context) error { return nil }); err != nil {
				t.Fatalf("job %d: %v", i, err)
			}
		}
	})
}

// A queued job whose context ends returns at once, while the job before it
// still runs, and is dropped unrun.
func TestCancelQueuedJob(t *testing.T) {
	q := New(Options{})
	release, first := blocker(t, q, "c")
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- q.Do(ctx, "c", 0, func(context.Context) error { ran.Store(true); return nil })
	}()
	waitQueued(t, q, "c", 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A later job runs after the worker has come to the dropped one.
	if err := q.Do(context.Background(), "c", 0, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Error("the cancelled job ran")
	}
}

// A job whose context ends while fn runs returns fn's own answer.
func TestCancelDuringAttemptWaitsForIt(t *testing.T) {
	q := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	inFn := make(chan struct{})
	go func() { <-inFn; cancel() }()
	err := q.Do(ctx, "c", 0, func(ctx context.Context) error {
		close(inFn)
		<-ctx.Done()
		return fmt.Errorf("post cut short: %w", ctx.Err())
	})
	if err == nil || err.Error() != "post cut short: context canceled" {
		t.Errorf("Do = %v, want fn's error", err)
	}
}

// Again runs the same job again before any other job of its key, however
// urgent; the retry count is fn's.
func TestAgainHoldsTheKey(t *testing.T) {
	q := New(Options{})
	var rec recorder
	gate := make(chan struct{})
	attempts := 0
	errc := make(chan error, 2)
	go func() {
		errc <- q.Do(context.Background(), "c", 0, func(ctx context.Context) error {
			attempts++
			_ = rec.job("a")(ctx)
			if attempts == 1 {
				<-gate
			}
			if attempts < 3 {
				return Again(time.Millisecond)
			}
			return nil
		})
	}()
	// The first attempt is running once nothing is queued and the key is busy.
	for {
		q.mu.Lock()
		k := q.keys["c"]
		busy := k != nil && k.running && k.jobs.Len() == 0
		q.mu.Unlock()
		if busy && len(rec.names()) == 1 {
			break
		}
		runtime.Gosched()
	}
	go func() { errc <- q.Do(context.Background(), "c", 9, rec.job("urgent")) }()
	waitQueued(t, q, "c", 1)
	close(gate)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.names(); !slices.Equal(got, []string{"a", "a", "a", "urgent"}) {
		t.Errorf("ran %v", got)
	}
}

func TestAgainWaitEndsWithContext(t *testing.T) {
	q := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	err := q.Do(ctx, "c", 0, func(context.Context) error {
		attempts++
		cancel() // during the wait that follows
		return Again(time.Hour)
	})
	if !errors.Is(err, context.Canceled) || attempts != 1 {
		t.Errorf("Do = %v after %d attempts, want context.Canceled after 1", err, attempts)
	}
}

func TestAgainWrapped(t *testing.T) {
	q := New(Options{})
	attempts := 0
	err := q.Do(context.Background(), "c", 0, func(context.Context) error {
		if attempts++; attempts == 1 {
			return fmt.Errorf("429: %w", Again(0))
		}
		return nil
	})
	if err != nil || attempts != 2 {
		t.Errorf("Do = %v after %d attempts, want nil after 2", err, attempts)
	}
}

// Idle keys are forgotten once their limiter is full again, never before
// (a fresh limiter would forget the pace).
func TestIdleKeysSwept(t *testing.T) {
	idle := func(q *Queue) {
		for {
			q.mu.Lock()
			busy := false
			for _, k := range q.keys {
				busy = busy || k.running
			}
			q.mu.Unlock()
			if !busy {
				return
			}
			runtime.Gosched()
		}
	}
	nop := func(context.Context) error { return nil }
	for _, c := range []struct {
		name string
		o    Options
		keep int
	}{
		{"unpaced", Options{}, 1},
		{"refilled", Options{PerSecond: 1e9, Burst: 1}, 1},
		{"still pacing", Options{PerSecond: 1.0 / 3600, Burst: 1}, 11},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := New(c.o)
			for i := range 10 {
				if err := q.Do(context.Background(), fmt.Sprint(i), 0, nop); err != nil {
					t.Fatal(err)
				}
			}
			idle(q)
			if c.o.PerSecond > 1e6 {
				time.Sleep(time.Millisecond) // let the limiters refill (no assertion on time)
			}
			q.mu.Lock()
			q.sweeps = sweepEvery - 1 // the next Do sweeps
			q.mu.Unlock()
			if err := q.Do(context.Background(), "new", 0, nop); err != nil {
				t.Fatal(err)
			}
			q.mu.Lock()
			n := len(q.keys)
			q.mu.Unlock()
			if n != c.keep {
				t.Errorf("%d keys after the sweep, want %d", n, c.keep)
			}
		})
	}
}

func BenchmarkDo(b *testing.B) {
	q := New(Options{})
	ctx := context.Background()
	nop := func(context.Context) error { return nil }
	b.ReportAllocs()
	for i := range b.N {
		_ = q.Do(ctx, fmt.Sprint(i%8), i%3, nop)
	}
}

// Waits on the limiters and before another attempt reach OnWait, so a
// connector can count its time spent waiting for rate limits.
func TestOnWaitCountsLimiterAndAgainWaits(t *testing.T) {
	var total atomic.Int64
	q := New(Options{PerSecond: 20, Burst: 1, OnWait: func(d time.Duration) { total.Add(int64(d)) }})
	tries := 0
	err := q.Do(context.Background(), "c", 0, func(context.Context) error {
		if tries++; tries == 1 {
			return Again(30 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One Again (30 ms) and the limiter's 50 ms between the two attempts,
	// which may overlap partly; the wait is at least the Again's.
	if got := time.Duration(total.Load()); got < 30*time.Millisecond {
		t.Errorf("OnWait was told of %v, want at least the 30ms Again", got)
	}
}
