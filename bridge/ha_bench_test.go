package bridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
	"github.com/earshot-dev/earshot/store/jetstream"
	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

// High-availability benchmarks (figures in README):
//
//	go test -run '^$' -bench 'IngestJetStream$|Ingest$' -benchtime 3s -count 4 ./bridge/
//	go test -run '^$' -bench Failover -benchtime 1x -timeout 30m ./bridge/

// plainJournal hides a replicated journal's leadership from the bridge,
// so the ingest benchmark runs the same non-running bridge as
// BenchmarkIngest, the journal being the only difference.
type plainJournal struct{ bridge.Journal }

// benchJS opens a journal on a new stream of c (default lease).
func benchJS(b *testing.B, c *natstest.Cluster, holder string) *jetstream.Journal {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := jetstream.Open(ctx, jetstream.Config{URL: c.URL(), Stream: fmt.Sprintf("BENCH%d", haStreams.Load()), Replicas: 3, Holder: holder})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	return j
}

// BenchmarkIngestJetStream is BenchmarkIngest with the journal in a
// 3-node JetStream cluster on loopback (R3: every group acknowledged by a
// quorum) instead of a file. A standby bridge follows the stream all the
// while; standby-max-lag-events is the most records it was behind, and
// standby-catch-up-ms how long it took to apply the last record once the
// posts stopped.
func BenchmarkIngestJetStream(b *testing.B) {
	c := natstest.StartCluster(b, 3)
	haStreams.Add(1)
	j := benchJS(b, c, "leader")
	cfg := DefaultConfig()
	cfg.Watch[0].Keywords = []string{"cancelled", "delayed", "no signal"}
	br, err := bridge.New(bridge.Options{Config: cfg, Journal: plainJournal{j}, Networks: []bridge.Network{NewNetwork("net")},
		Desks: []bridge.Desk{NewDesk("desk")}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SnapshotEvery: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	if _, err := j.Lead(context.Background(), func(uint64, [][]byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	standby := NewTestBridge(b, WithJournal(benchJS(b, c, "standby")), AsStandby(),
		WithConfig(func(c *bridge.Config) { *c = cfg }))

	var maxLag atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if lag := j.Seq() - bridge.Seq(standby.Bridge); lag > maxLag.Load() && lag < 1<<62 {
				maxLag.Store(lag)
			}
		}
	}()
	ingestSurge(b, br)
	b.StopTimer()
	done := time.Now()
	for bridge.Seq(standby.Bridge) < j.Seq() {
		if time.Since(done) > time.Minute {
			b.Fatal("the standby did not catch up within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	catchUp := time.Since(done)
	close(stop)
	<-sampled
	b.ReportMetric(float64(maxLag.Load()), "standby-max-lag-events")
	b.ReportMetric(float64(catchUp.Microseconds())/1000, "standby-catch-up-ms")
}

// BenchmarkFailover kills the leader (its connection to the cluster goes,
// its lease is not given up: a crash) 20 times with the default lease
// (3s TTL, renewed every second) and measures how long until the standby
// serves: ready, listeners, desk workers and outbox running. It reports
// p50 and p99 (with 20 kills, the worst) in ms.
func BenchmarkFailover(b *testing.B) {
	const kills = 20
	c := natstest.StartCluster(b, 3)
	for range b.N {
		stream := fmt.Sprintf("FAILOVER%d", haStreams.Add(1))
		net, desk, clock := NewNetwork("net"), NewDesk("desk"), NewClock(Start)
		node := func(holder string, standby bool) *haNode {
			opts := []Option{WithNetwork(net), WithDesk(desk), WithClock(clock)}
			if standby {
				opts = append(opts, AsStandby())
			}
			cfg := jetstream.Config{URL: c.URL(), Stream: stream, Replicas: 3, Holder: holder}
			return startNode(b, c, cfg, opts...)
		}
		leader := node("n0", false)
		var took []time.Duration
		for k := range kills {
			standby := node(fmt.Sprintf("n%d", k+1), true)
			// The standby is following: it has the leader's latest case.
			p := Mention(Customer(fmt.Sprintf("c%d", k)), "@brand the app is down")
			if err := leader.Post(context.Background(), p); err != nil {
				b.Fatal(err)
			}
			for {
				if _, ok := standby.OpenedBy(p.ID); ok {
					break
				}
				time.Sleep(time.Millisecond)
			}
			killed := time.Now()
			leader.kill()
			for !standby.Ready() {
				if time.Since(killed) > time.Minute {
					b.Fatal("the standby did not take over within a minute")
				}
				time.Sleep(time.Millisecond)
			}
			took = append(took, time.Since(killed))
			leader = standby
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(took[len(took)*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(float64(took[0].Milliseconds()), "min-ms")
	}
}
