package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	nj "github.com/nats-io/nats.go/jetstream"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/store/jetstream"
	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

// follower collects what a standby's Lead hands over.
type follower struct {
	mu   sync.Mutex
	seqs []uint64
}

func (f *follower) apply(first uint64, recs [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range recs {
		f.seqs = append(f.seqs, first+uint64(i))
	}
	return nil
}

func (f *follower) last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seqs) == 0 {
		return 0
	}
	return f.seqs[len(f.seqs)-1]
}

// loadLead loads j (empty callbacks) and makes it lead (or fails after 30s).
func loadLead(t *testing.T, j *jetstream.Journal) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.Load(ctx, func(uint64, []byte) error { return nil }, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatalf("load: %v", err)
	}
	lead, err := j.Lead(ctx, func(uint64, [][]byte) error { return nil })
	if err != nil {
		t.Fatalf("lead: %v", err)
	}
	return lead
}

func appendSync(j *jetstream.Journal, recs ...string) (uint64, error) {
	var bs [][]byte
	for _, r := range recs {
		bs = append(bs, []byte(r))
	}
	seq, err := j.Append(bs...)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return seq, j.Sync(ctx, seq)
}

// holders lists the Earshot-Holder header of every message in the stream.
func holders(t *testing.T, nc *nats.Conn, stream string) []string {
	t.Helper()
	js, _ := nj.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header.Get("Earshot-Holder")
		if m.Header.Get("Earshot-Fence") == "1" {
			h += "(fence)"
		}
		out = append(out, h)
	}
	return out
}

// A leader whose lease went away without it noticing (a long pause) and
// that then appends is refused by the stream: the new leader fenced it
// off. Its append fails, its leadership context ends, and nothing it
// tried lands after the new leader's fence.
func TestDeposedLeaderCannotAppend(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	cfg := testConfig(c, newStream())
	cfg.LeaseTTL, cfg.RenewEvery = time.Minute, 30*time.Second // A will not notice by itself
	cfg.Holder = "A"
	a := open(t, cfg)
	aLead := loadLead(t, a)
	if _, err := appendSync(a, "a1", "a2", "a3"); err != nil {
		t.Fatal(err)
	}

	// A "pauses": its lease is gone (as if it expired) and B takes over.
	nc := c.Connect(t)
	js, _ := nj.New(nc)
	kv, err := js.KeyValue(context.Background(), cfg.Stream+"_leader")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), "leader"); err != nil {
		t.Fatal(err)
	}
	cfg.Holder = "B"
	b := open(t, cfg)
	bLead := loadLead(t, b)
	if b.Seq() != 3 {
		t.Fatalf("B caught up to record %d, want 3", b.Seq())
	}

	// A wakes up and appends: refused.
	if _, err := appendSync(a, "a4"); err == nil {
		t.Fatal("the deposed leader's append was acknowledged")
	}
	select {
	case <-aLead.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the deposed leader's leadership context did not end")
	}
	if _, err := a.Append([]byte("a5")); !errors.Is(err, bridge.ErrNotLeader) && err == nil {
		t.Fatal("the deposed leader still takes appends")
	}
	if seq, err := appendSync(b, "b1"); err != nil || seq != 4 {
		t.Fatalf("B's append: seq %d, %v; want 4", seq, err)
	}
	if bLead.Err() != nil {
		t.Fatal("B lost the leadership")
	}
	got := fmt.Sprint(holders(t, nc, cfg.Stream))
	if want := "[A(fence) A B(fence) B]"; got != want {
		t.Fatalf("the stream holds messages from %s, want %s", got, want)
	}
}

// A standby applies every group the leader appends as it is appended,
// and takes over as soon as the leader closes (it gives the lease up),
// with the leader's last record, continuing the numbering.
func TestStandbyFollowsThenTakesOver(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	cfg := testConfig(c, newStream())
	a := open(t, cfg)
	loadLead(t, a)
	if _, err := appendSync(a, "1", "2"); err != nil {
		t.Fatal(err)
	}

	b := open(t, cfg)
	if err := b.Load(context.Background(), func(uint64, []byte) error { return nil }, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var f follower
	led := make(chan error, 1)
	go func() {
		_, err := b.Lead(context.Background(), f.apply)
		led <- err
	}()
	if _, err := appendSync(a, "3", "4", "5"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.last() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the standby applied up to record %d, want 5", f.last())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-led:
		t.Fatalf("the standby led while the leader held the lease (%v)", err)
	default:
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-led:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the standby did not take over after the leader closed")
	}
	if seq, err := appendSync(b, "6"); err != nil || seq != 6 {
		t.Fatalf("the new leader's append: seq %d, %v; want 6", seq, err)
	}
}

// A leader that vanishes without giving the lease up (its connection
// dies) is replaced once the lease expires; the new leader has every
// record the old one had acknowledged.
func TestLeaseExpiresAfterCrash(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	cfg := testConfig(c, newStream())
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	acfg := cfg
	acfg.Conn = nc
	a := open(t, acfg)
	aLead := loadLead(t, a)
	if _, err := appendSync(a, "1", "2", "3"); err != nil {
		t.Fatal(err)
	}
	b := open(t, cfg)
	if err := b.Load(context.Background(), func(uint64, []byte) error { return nil }, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	led := make(chan error, 1)
	go func() {
		_, err := b.Lead(context.Background(), func(uint64, [][]byte) error { return nil })
		led <- err
	}()
	nc.Close() // A is gone without a word
	select {
	case err := <-led:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the standby did not take over after the leader's lease expired")
	}
	if b.Seq() != 3 {
		t.Fatalf("the new leader has record %d, want 3", b.Seq())
	}
	select {
	case <-aLead.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the vanished leader did not step down when it could not renew")
	}
}

// Damage is refused with the stream and message named: a message that is
// not Earshot's, and records missing (purged without a snapshot).
func TestLoadRefusesDamage(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 1)
	nc := c.Connect(t)
	js, _ := nj.New(nc)
	load := func(cfg jetstream.Config) error {
		j := open(t, cfg)
		return j.Load(context.Background(), func(uint64, []byte) error { return nil }, func(uint64, []byte) error { return nil })
	}

	cfg := testConfig(c, newStream())
	a := open(t, cfg)
	loadLead(t, a)
	if _, err := appendSync(a, "1"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := js.Publish(context.Background(), "earshot."+cfg.Stream+".journal", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	err := load(cfg)
	if !jetstream.IsDamaged(err) {
		t.Fatalf("a foreign message: %v, want a DamageError", err)
	}
	t.Logf("foreign message: %v", err)

	cfg = testConfig(c, newStream())
	a = open(t, cfg)
	loadLead(t, a)
	if _, err := appendSync(a, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := appendSync(a, "2"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	s, _ := js.Stream(context.Background(), cfg.Stream)
	if err := s.Purge(context.Background(), nj.WithPurgeSequence(3)); err != nil { // the fence and record 1
		t.Fatal(err)
	}
	err = load(cfg)
	if !jetstream.IsDamaged(err) {
		t.Fatalf("records missing: %v, want a DamageError", err)
	}
	t.Logf("records missing: %v", err)
}
