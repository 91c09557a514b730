package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	nj "github.com/nats-io/nats.go/jetstream"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
	"github.com/earshot-dev/earshot/bridge/journal"
	"github.com/earshot-dev/earshot/store/jetstream"
	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

// High availability, end to end: bridges on a replicated journal in an
// embedded 3-node NATS cluster, sharing the fake network and desk, as
// two Earshot processes would share the platforms.

var haStreams atomic.Int64

// haNode is one Earshot process of an HA pair: a bridge on its own
// connection to the cluster (closing it is the process dying).
type haNode struct {
	*TestBridge
	nc      *nats.Conn
	journal *jetstream.Journal
}

// haConfig is a journal config on stream with a short lease (tests).
func haConfig(c *natstest.Cluster, stream, holder string) jetstream.Config {
	return jetstream.Config{URL: c.URL(), Stream: stream, Replicas: 3, Holder: holder,
		LeaseTTL: 2 * time.Second, RenewEvery: 500 * time.Millisecond, Timeout: 10 * time.Second}
}

// startNode opens a journal with cfg on a connection of its own and runs
// a bridge on it; standby nodes are not waited for.
func startNode(t testing.TB, c *natstest.Cluster, cfg jetstream.Config, opts ...Option) *haNode {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg.Conn = nc
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := jetstream.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tb := NewTestBridge(t, append([]Option{WithJournal(j)}, opts...)...)
	return &haNode{TestBridge: tb, nc: nc, journal: j}
}

// kill makes the node die as a process would: its connection to the
// cluster goes first (nothing more it does is durable, its lease is not
// given up), then it stops. It returns when Run has returned.
func (n *haNode) kill() <-chan error {
	n.nc.Close()
	done := make(chan error, 1)
	go func() { done <- n.Stop() }()
	return done
}

// waitFor polls cond for up to 30s (leases, elections and catch-up take
// seconds on a loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// surge delivers n complaints from n customers through the fake network,
// each retried (as a platform redelivers) until a bridge takes it; it
// returns the ids of the posts taken, once all are.
func surge(t *testing.T, net *Network, n int, each func(i int)) (ids []string, done <-chan struct{}) {
	ids = make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("surge-%d", i)
	}
	ch := make(chan struct{})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				p := Mention(Customer(fmt.Sprintf("surge%d", i)), fmt.Sprintf("@brand the trains are all cancelled (%d)", i))
				p.ID, p.URL = ids[i], "https://net.example/"+ids[i]
				deadline := time.Now().Add(60 * time.Second)
				for net.Deliver(context.Background(), p) != nil {
					if time.Now().After(deadline) {
						t.Errorf("post %s was never taken", p.ID)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				if each != nil {
					each(i)
				}
			}
		})
	}
	go func() { wg.Wait(); close(ch) }()
	return ids, ch
}

// The leader dies in the middle of a surge, with replies in their undo
// window, replies being published, and replies sent. The standby takes
// over: no complaint is lost, no reply goes out twice, and every reply
// ends sent, or visibly uncertain (the ones in flight when the leader
// died, on a network without idempotency).
func TestFailoverMidSurge(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	stream := fmt.Sprintf("HA%d", haStreams.Add(1))
	net, desk, clock := NewNetwork("net"), NewDesk("desk"), NewClock(Start)
	shared := []Option{WithNetwork(net), WithDesk(desk), WithClock(clock)}
	a := startNode(t, c, haConfig(c, stream, "A"), shared...)
	b := startNode(t, c, haConfig(c, stream, "B"), append(shared, AsStandby())...)

	// Six cases claimed by Ana; two replies sent, two in flight, two in
	// their undo window when A dies.
	var threads []bridge.ThreadRef
	for i := range 6 {
		v, th, _ := a.Complain(fmt.Sprintf("early%d", i), "@brand my refund is missing")
		a.MustClaim(v.ID, Ana)
		threads = append(threads, th)
	}
	waitFor(t, "the standby to follow", func() bool { _, ok := b.OpenedBy(a.Desk.Threads()[5].Card.First.ID); return ok })
	if b.Ready() || b.Leading() {
		t.Fatal("the standby is ready or leading while the leader runs")
	}
	var msgs []bridge.MessageRef
	for i := 4; i < 6; i++ {
		msgs = append(msgs, a.Say(threads[i], Ana, fmt.Sprintf("Sorry, refunded (%d).", i)))
	}
	clock.Advance(11 * time.Second)
	waitFor(t, "the first replies to go out", func() bool { return len(net.Published()) == 2 })
	held := net.Hold()
	for i := 2; i < 4; i++ {
		msgs = append(msgs, a.Say(threads[i], Ana, fmt.Sprintf("Looking into it (%d).", i)))
	}
	clock.Advance(11 * time.Second)
	<-held
	<-held
	for i := range 2 {
		msgs = append(msgs, a.Say(threads[i], Ana, fmt.Sprintf("We are on it (%d).", i)))
	}

	// The surge starts; A dies a third of the way through.
	var taken atomic.Int64
	killed := make(chan (<-chan error), 1)
	ids, surged := surge(t, net, 150, func(int) {
		if taken.Add(1) == 50 {
			killed <- a.kill()
		}
	})
	aDone := <-killed
	waitFor(t, "the standby to lead", func() bool { return b.Ready() && net.Listening() && desk.Listening() })
	net.Release() // A's publications in flight finish now, too late to be journaled
	<-surged
	if err := <-aDone; err != nil {
		t.Logf("the killed leader's Run: %v", err)
	}
	clock.Advance(11 * time.Second) // the undo windows end on B

	for _, id := range ids {
		if _, ok := b.OpenedBy(id); !ok {
			t.Errorf("complaint %s was lost", id)
		}
	}
	waitFor(t, "every reply to settle", func() bool {
		for _, m := range msgs {
			switch desk.LastMark(m.ID).State {
			case bridge.DeliverySent, bridge.DeliveryUncertain, bridge.DeliveryFailed:
			default:
				return false
			}
		}
		return true
	})
	want := map[string]bridge.DeliveryState{}
	for i, m := range msgs {
		want[m.ID] = []bridge.DeliveryState{bridge.DeliverySent, bridge.DeliveryUncertain, bridge.DeliverySent}[i/2]
	}
	for _, m := range msgs {
		if got := desk.LastMark(m.ID).State; got != want[m.ID] {
			t.Errorf("reply %s ends %s, want %s", m.ID, got, want[m.ID])
		}
	}
	seen := map[string]bool{}
	for _, r := range net.Published() {
		if seen[r.IdempotencyKey] || seen[r.Text] {
			t.Errorf("reply %q was published twice", r.Text)
		}
		seen[r.IdempotencyKey], seen[r.Text] = true, true
	}
	if len(net.Published()) != 6 {
		t.Errorf("%d replies were published, want 6 (each once)", len(net.Published()))
	}
}

// A leader that is cut off without noticing (its lease gone, as after a
// long pause) and then takes a post cannot append it: the stream refuses
// the append, the post is not acknowledged, the old leader stops its
// listeners and workers and becomes a standby that follows the new
// leader; nothing it tried lands after the new leader's fence.
func TestDeposedLeaderStepsDown(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	stream := fmt.Sprintf("HA%d", haStreams.Add(1))
	net, desk, clock := NewNetwork("net"), NewDesk("desk"), NewClock(Start)
	shared := []Option{WithNetwork(net), WithDesk(desk), WithClock(clock)}
	slow := func(holder string) jetstream.Config {
		cfg := haConfig(c, stream, holder)
		cfg.LeaseTTL, cfg.RenewEvery = time.Minute, 30*time.Second // nobody notices by renewing
		return cfg
	}
	a := startNode(t, c, slow("A"), shared...)
	b := startNode(t, c, slow("B"), append(shared, AsStandby())...)
	v, _, _ := a.Complain("before", "@brand where is my parcel")

	// The lease goes away under A (as if it had expired during a pause).
	nc := c.Connect(t)
	js, _ := nj.New(nc)
	kv, err := js.KeyValue(context.Background(), stream+"_leader")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), "leader"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to lead", func() bool { return b.Ready() })
	if !a.Ready() {
		t.Fatal("A noticed by itself; the test needs it unaware")
	}

	// A wakes up and takes a post: refused, and A steps down.
	err = a.Post(context.Background(), Mention(Customer("late"), "@brand hello?"))
	if err == nil {
		t.Fatal("the deposed leader acknowledged a post")
	}
	waitFor(t, "A to stop leading", func() bool { return !a.Ready() && !a.Leading() })
	if _, err := a.Claim(context.Background(), v.ID, Ana); !errors.Is(err, bridge.ErrNotLeader) {
		t.Fatalf("a claim on the deposed leader: %v, want ErrNotLeader", err)
	}

	// B serves; A follows it again, hot.
	p := Mention(Customer("after"), "@brand is anyone there")
	waitFor(t, "B to take the post", func() bool { return net.Deliver(context.Background(), p) == nil })
	waitFor(t, "A to follow B", func() bool { _, ok := a.OpenedBy(p.ID); return ok })
	if _, ok := b.OpenedBy(p.ID); !ok {
		t.Fatal("B lost the post")
	}

	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fenced := false
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		holder := m.Header.Get("Earshot-Holder")
		if holder == "B" && m.Header.Get("Earshot-Fence") == "1" {
			fenced = true
		} else if fenced && holder != "B" {
			t.Fatalf("message %d from %s landed after B's fence", seq, holder)
		}
	}
	if !fenced {
		t.Fatal("B never fenced the stream")
	}
}

// One NATS node dies in the middle of a surge: the stream (R3) keeps a
// quorum, the bridge keeps taking posts, and none is lost.
func TestNATSNodeDies(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	stream := fmt.Sprintf("HA%d", haStreams.Add(1))
	a := startNode(t, c, haConfig(c, stream, "A"))
	var taken atomic.Int64
	ids, surged := surge(t, a.Net, 120, func(int) {
		if taken.Add(1) == 40 {
			c.Kill(0)
		}
	})
	<-surged
	waitFor(t, "a leader to serve", func() bool { return a.Ready() })
	for _, id := range ids {
		if _, ok := a.OpenedBy(id); !ok {
			t.Errorf("complaint %s was lost", id)
		}
	}
}

// Replay equivalence holds across the two stores: the same events give
// the same tables whether they are read back from the stream (with its
// snapshots), from a file journal the stream was exported to, or from a
// stream that file journal was exported to in turn.
func TestReplayEquivalenceAcrossStores(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	for seed := range uint64(2) {
		for _, every := range []int{0, 37} {
			t.Run(fmt.Sprintf("seed%d-snapshot%d", seed, every), func(t *testing.T) {
				t.Parallel()
				stream := fmt.Sprintf("HA%d", haStreams.Add(1))
				opts := []Option{withRetention(), quickBatches()}
				if every > 0 {
					opts = append(opts, WithSnapshotEvery(every))
				}
				live := startNode(t, c, haConfig(c, stream, "live"), opts...)
				play(t, live.TestBridge, rand.New(rand.NewPCG(seed, 7)), 120)
				want, wantGauges := bridge.Dump(live.Bridge), bridge.Gauges(live.Bridge)
				check := func(what string, j bridge.Journal, dir string) {
					t.Helper()
					o := []Option{NotRunning(), WithClock(live.Clock), withRetention()}
					if j != nil {
						o = append(o, WithJournal(j))
					} else {
						o = append(o, WithDataDir(dir))
					}
					again := NewTestBridge(t, o...)
					if got := bridge.Dump(again.Bridge); got != want {
						i := 0
						for i < len(want) && i < len(got) && want[i] == got[i] {
							i++
						}
						t.Fatalf("%s: tables differ from the live ones at %d:\nlive: %.1500s\ngot:  %.1500s", what, i, want[max(0, i-700):], got[max(0, i-700):])
					}
					if got := bridge.Gauges(again.Bridge); !reflect.DeepEqual(got, wantGauges) {
						t.Fatalf("%s: gauges differ: live %v, got %v", what, wantGauges, got)
					}
				}
				openJS := func(stream string) *jetstream.Journal {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					j, err := jetstream.Open(ctx, haConfig(c, stream, "reader"))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { j.Close() })
					return j
				}
				check("read back from the stream", openJS(stream), "")

				// Stream → file.
				var archive bytes.Buffer
				src := openJS(stream)
				if _, err := journal.Export(&archive, func(restore, replay func(uint64, []byte) error) error {
					return src.Load(context.Background(), restore, replay)
				}); err != nil {
					t.Fatal(err)
				}
				a, err := journal.ReadArchive(&archive)
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				if err := journal.Import(dir, a); err != nil {
					t.Fatal(err)
				}
				check("exported to a file journal", nil, dir)

				// File → another stream.
				archive.Reset()
				fj := journal.New(journal.Options{Dir: dir})
				if _, err := journal.Export(&archive, func(restore, replay func(uint64, []byte) error) error {
					return fj.Load(context.Background(), restore, replay)
				}); err != nil {
					t.Fatal(err)
				}
				fj.Close()
				if a, err = journal.ReadArchive(&archive); err != nil {
					t.Fatal(err)
				}
				back := fmt.Sprintf("HA%d", haStreams.Add(1))
				if err := openJS(back).Import(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				check("imported back into a stream", openJS(back), "")
			})
		}
	}
}
