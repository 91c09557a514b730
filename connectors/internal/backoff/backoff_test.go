package backoff

import (
	"context"
	"testing"
	"time"
)

func TestGrowsWithJitterUpToTheCap(t *testing.T) {
	b := New(Policy{Min: 100 * time.Millisecond, Max: time.Second})
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		d := b.Next(0)
		if d < w/2 || d > w {
			t.Errorf("delay %d = %v, want in [%v, %v]", i, d, w/2, w)
		}
	}
	if b.Failures() != len(want) {
		t.Errorf("failures = %d, want %d", b.Failures(), len(want))
	}
}

func TestFloorWins(t *testing.T) {
	b := New(Policy{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond})
	if d := b.Next(5 * time.Second); d != 5*time.Second {
		t.Errorf("delay = %v, want the platform's 5s", d)
	}
}

func TestOnlyAHealthyCycleResets(t *testing.T) {
	b := New(Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second, Healthy: time.Minute})
	for range 4 {
		b.Next(0)
	}
	b.Done(2 * time.Second) // dropped soon after connecting: keeps growing
	if d := b.Next(0); d < 800*time.Millisecond {
		t.Errorf("after a short cycle the delay fell back to %v", d)
	}
	b.Done(time.Minute)
	if d := b.Next(0); d > 100*time.Millisecond {
		t.Errorf("after a healthy cycle the delay is %v, want at most the minimum", d)
	}
	if b.Failures() != 1 {
		t.Errorf("failures after reset = %d, want 1", b.Failures())
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	b := New(Policy{Min: time.Hour, Max: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Sleep(ctx, 0); err == nil {
		t.Fatal("Sleep returned nil after ctx ended")
	}
}

func TestDefaults(t *testing.T) {
	b := New(Policy{})
	if b.p.Min != time.Second || b.p.Max != 2*time.Minute || b.p.Healthy != 30*time.Second {
		t.Errorf("defaults = %+v", b.p)
	}
}

func TestUntilWaitsMoreEachTimeAndStopsOnSuccess(t *testing.T) {
	b := New(Policy{Min: time.Millisecond, Max: 8 * time.Millisecond})
	var waits []time.Duration
	tries := 0
	err := b.Until(context.Background(), func(context.Context) error {
		if tries++; tries < 5 {
			return context.DeadlineExceeded
		}
		return nil
	}, func(error) time.Duration { return 0 }, func(_ error, w time.Duration) { waits = append(waits, w) })
	if err != nil || tries != 5 || len(waits) != 4 {
		t.Fatalf("Until = %v after %d tries, %d waits", err, tries, len(waits))
	}
	if waits[3] < 4*time.Millisecond {
		t.Errorf("waits %v did not grow", waits)
	}
	if b.Failures() != 0 {
		t.Errorf("a success did not reset the delay")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Until(ctx, func(context.Context) error { return context.Canceled }, nil, func(error, time.Duration) {
		t.Error("a failure that came with the end of ctx was told")
	}); err == nil {
		t.Error("Until returned nil after ctx ended")
	}
}
