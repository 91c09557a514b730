package bridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// Benchmarks of the hot paths (DESIGN.md): ingest (post → case →
// journal, with group commit), replay, and the heap an open case costs.
// Run with: go test -run '^$' -bench . -benchtime 3s ./bridge/

var benchText = "@brand my 08:12 from Leeds to York has been cancelled again, third time this week, and the app still says on time #railfail"

// benchBridge is a bridge that is not running (no desk workers compete),
// so the numbers are the ingest path itself.
func benchBridge(b *testing.B, dir string) *bridge.Bridge {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Watch[0].Keywords = []string{"cancelled", "delayed", "no signal"}
	cfg.Watch[0].Hashtags = []string{"railfail"}
	br, err := bridge.New(bridge.Options{Config: cfg, DataDir: dir, Networks: []bridge.Network{NewNetwork("net")},
		Desks: []bridge.Desk{NewDesk("desk")}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SnapshotEvery: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	return br
}

func post(i int64) bridge.Post {
	return bridge.Post{Network: "net", ID: fmt.Sprintf("p%d", i),
		Author: bridge.Author{ID: fmt.Sprintf("a%d", i), Handle: fmt.Sprintf("customer%d@rail.example", i), Name: "A Customer", Followers: 120},
		Text:   benchText, URL: fmt.Sprintf("https://rail.example/p%d", i), Lang: "en", MentionsUs: true, CreatedAt: time.Now()}
}

func benchIngest(b *testing.B, dir string) {
	ingestSurge(b, benchBridge(b, dir))
}

// ingestSurge posts b.N new complaints into br from 128 goroutines per
// core, reports posts/s and returns how long it took.
func ingestSurge(b *testing.B, br *bridge.Bridge) time.Duration {
	var n atomic.Int64
	b.SetParallelism(128) // a surge: many deliveries at once share write transactions and fsyncs
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Post(ctx, post(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "posts/s")
	return elapsed
}

// BenchmarkIngest: new complaints, each opening a case, journaled to a
// file with fsync and group commit.
func BenchmarkIngest(b *testing.B) { benchIngest(b, b.TempDir()) }

// BenchmarkIngestInMemory: the same without a journal on disk.
func BenchmarkIngestInMemory(b *testing.B) { benchIngest(b, "") }

// BenchmarkReplay: start-up from a journal of mixed events (new cases,
// follow-ups, claims, triage, resolves).
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	const cases = 20000
	br := benchBridge(b, dir)
	for i := range int64(cases) {
		p := post(i)
		if err := br.Post(ctx, p); err != nil {
			b.Fatal(err)
		}
		id := bridge.FormatCaseID("E", uint64(i+1))
		f := post(i + 1_000_000)
		f.Author, f.InReplyTo, f.Conversation, f.Text = p.Author, p.ID, p.ID, "any news?"
		_ = br.Post(ctx, f)
		_, _ = br.Claim(ctx, id, Ana)
		_, _ = br.SetPriority(ctx, id, Ana, 2)
		_, _ = br.Resolve(ctx, id, Ana, "sorted")
	}
	br.Close()
	events := cases * 5
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		again := benchBridge(b, dir)
		again.Close()
	}
	b.ReportMetric(float64(events*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkHeapPerOpenCase: heap held per open case with 100k cases
// open, each with its thread opened on a desk (the desk itself keeps
// nothing, so the figure is the bridge's own).
func BenchmarkHeapPerOpenCase(b *testing.B) {
	const cases = 100_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		desk := &countingDesk{}
		br, err := bridge.New(bridge.Options{Config: DefaultConfig(), Networks: []bridge.Network{NewNetwork("net")},
			Desks: []bridge.Desk{desk}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SnapshotEvery: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- br.Run(runCtx) }()
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 256 {
			wg.Go(func() {
				for i := n.Add(1); i <= cases; i = n.Add(1) {
					if err := br.Post(ctx, post(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for desk.opened.Load() < cases {
			time.Sleep(10 * time.Millisecond)
		}
		for !bridge.Idle(br) {
			time.Sleep(10 * time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/cases, "heap-bytes/case")
		stop()
		<-done
	}
}

// countingDesk opens threads and keeps nothing but a count.
type countingDesk struct{ opened atomic.Int64 }

func (d *countingDesk) Name() string                                     { return "desk" }
func (d *countingDesk) Listen(ctx context.Context, _ bridge.Inbox) error { <-ctx.Done(); return nil }
func (d *countingDesk) OpenThread(_ context.Context, ch string, _ bridge.CaseView) (bridge.ThreadRef, error) {
	return bridge.ThreadRef{Desk: "desk", Channel: ch, ID: fmt.Sprintf("%s-%d", ch, d.opened.Add(1))}, nil
}
func (d *countingDesk) UpdateCard(context.Context, bridge.ThreadRef, bridge.CaseView) error {
	return nil
}
func (d *countingDesk) Post(context.Context, bridge.ThreadRef, bridge.DeskMessage) (bridge.MessageRef, error) {
	return bridge.MessageRef{}, nil
}
func (d *countingDesk) Mark(context.Context, bridge.MessageRef, bridge.Delivery) error { return nil }

// plainDesk hides a desk's ThreadFinder: cards opened without a key.
type plainDesk struct{ bridge.Desk }

// BenchmarkOpenCards: cards opened a second in a surge (complaints
// arriving at once, the journal on disk), through a desk that is a
// ThreadFinder (each card's key journaled before the card is posted) and
// through one that is not: what idempotent opening costs.
func BenchmarkOpenCards(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		if keyed {
			name = "keyed"
		}
		b.Run(name, func(b *testing.B) {
			desk := NewDesk("desk")
			var d bridge.Desk = desk
			if !keyed {
				d = plainDesk{desk}
			}
			br, err := bridge.New(bridge.Options{Config: DefaultConfig(), DataDir: b.TempDir(), Networks: []bridge.Network{NewNetwork("net")},
				Desks: []bridge.Desk{d}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SnapshotEvery: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- br.Run(runCtx) }()
			defer func() { stop(); <-done }()
			for !br.Ready() {
				time.Sleep(time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range int64(b.N) {
				wg.Go(func() {
					if err := br.Post(ctx, post(i)); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			for len(desk.Threads()) < b.N {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cards/s")
		})
	}
}
