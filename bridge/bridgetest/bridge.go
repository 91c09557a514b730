package bridgetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
)

// Staff members of the default config.
var (
	Ana = bridge.Staff{Desk: "desk", ID: "U-ANA", Name: "Ana"} // agent
	Bea = bridge.Staff{Desk: "desk", ID: "U-BEA", Name: "Bea"} // agent
	Lee = bridge.Staff{Desk: "desk", ID: "U-LEE", Name: "Lee"} // lead
	Zed = bridge.Staff{Desk: "desk", ID: "U-ZED", Name: "Zed"} // not staff
)

// Start is when the default clock starts.
var Start = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// DefaultConfig is a support queue (first response 15m, resolution 4h)
// and a billing team on desk "desk", watching mentions, replies and DMs on
// network "net", with Ana and Bea as agents and Lee as lead, and a 10s
// undo window.
func DefaultConfig() bridge.Config {
	return bridge.Config{
		Queues: []bridge.QueueConfig{
			{Name: "support", Desk: "desk", Channel: "C-SUP", SLA: bridge.SLAConfig{FirstResponse: 15 * time.Minute, Resolution: 4 * time.Hour}},
			{Name: "billing", Desk: "desk", Channel: "C-BIL", Team: true, SLA: bridge.SLAConfig{FirstResponse: time.Hour}},
		},
		Watch: []bridge.WatchRule{{Network: "net", Mentions: true, RepliesToUs: true, Direct: true}},
		Staff: []bridge.StaffRule{
			{Desk: "desk", User: Ana.ID, Role: bridge.RoleAgent},
			{Desk: "desk", User: Bea.ID, Role: bridge.RoleAgent},
			{Desk: "desk", User: Lee.ID, Role: bridge.RoleLead},
		},
		UndoWindow:    10 * time.Second,
		UndoWindowSet: true,
		Retry:         bridge.RetryConfig{Attempts: 3, Backoff: time.Second, MaxWait: 10 * time.Second},
	}
}

// Setup is what NewTestBridge builds from; Options change it.
type Setup struct {
	Config   bridge.Config
	DataDir  string // "" makes a fresh temporary directory
	InMemory bool   // no journal on disk
	Network  *Network
	Desk     *Desk
	Clock    *Clock
	NoRun    bool // build, but do not Run
	Logs     io.Writer
	// SnapshotEvery is passed to bridge.Options (0: its default).
	SnapshotEvery int
	// Journal, if set, replaces the file journal (a replicated one).
	Journal bridge.Journal
	// Standby: Run, but do not wait until ready (a replicated journal's
	// standby is not ready while another process leads).
	Standby bool
	// Commander runs staff commands (nil: none); Bind, when set, gets the
	// bridge before it runs (commands.Registry.Bind).
	Commander bridge.Commander
	Bind      func(*bridge.Bridge)
}

// Option changes the setup.
type Option func(*Setup)

// WithConfig changes the default config.
func WithConfig(f func(*bridge.Config)) Option { return func(s *Setup) { f(&s.Config) } }

// WithDataDir opens the journal in dir (a restart, or a crash image).
func WithDataDir(dir string) Option { return func(s *Setup) { s.DataDir = dir } }

// InMemory keeps no journal on disk.
func InMemory() Option { return func(s *Setup) { s.InMemory = true } }

// WithNetwork and WithDesk use the given fakes (to keep them across a restart).
func WithNetwork(n *Network) Option { return func(s *Setup) { s.Network = n } }
func WithDesk(d *Desk) Option       { return func(s *Setup) { s.Desk = d } }

// WithClock uses c.
func WithClock(c *Clock) Option { return func(s *Setup) { s.Clock = c } }

// NotRunning builds the bridge without running it.
func NotRunning() Option { return func(s *Setup) { s.NoRun = true } }

// WithSnapshotEvery snapshots after every n events.
func WithSnapshotEvery(n int) Option { return func(s *Setup) { s.SnapshotEvery = n } }

// WithJournal uses j instead of the file journal.
func WithJournal(j bridge.Journal) Option { return func(s *Setup) { s.Journal = j } }

// AsStandby runs the bridge without waiting for it to be ready.
func AsStandby() Option { return func(s *Setup) { s.Standby = true } }

// WithCommander runs staff commands with c; bind (may be nil) gets the
// bridge before it runs.
func WithCommander(c bridge.Commander, bind func(*bridge.Bridge)) Option {
	return func(s *Setup) { s.Commander, s.Bind = c, bind }
}

// WithLogs sends the bridge's logs to w.
func WithLogs(w io.Writer) Option { return func(s *Setup) { s.Logs = w } }

// TestBridge is a running bridge with its fakes.
type TestBridge struct {
	*bridge.Bridge
	T        testing.TB
	Net      *Network
	Desk     *Desk
	Clock    *Clock
	Registry *prometheus.Registry
	Metrics  *bridge.Metrics
	DataDir  string
	Setup    Setup

	stop    context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

// NewTestBridge builds a bridge on the default config with a fresh
// network "net", desk "desk", manual clock and data directory, runs it,
// and waits until it is ready. Cleanup stops it and checks Run's error.
func NewTestBridge(t testing.TB, opts ...Option) *TestBridge {
	t.Helper()
	s := Setup{Config: DefaultConfig()}
	for _, o := range opts {
		o(&s)
	}
	if s.Network == nil {
		s.Network = NewNetwork("net")
	}
	if s.Desk == nil {
		s.Desk = NewDesk("desk")
	}
	if s.Clock == nil {
		s.Clock = NewClock(Start)
	}
	if s.DataDir == "" && !s.InMemory {
		s.DataDir = t.TempDir()
	}
	if s.InMemory {
		s.DataDir = ""
	}
	logs := s.Logs
	if logs == nil {
		logs = io.Discard
	}
	reg := prometheus.NewRegistry()
	m := bridge.NewMetrics(reg)
	b, err := bridge.New(bridge.Options{
		Config: s.Config, DataDir: s.DataDir, Networks: []bridge.Network{s.Network}, Desks: []bridge.Desk{s.Desk},
		Metrics: m, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Clock: s.Clock,
		SnapshotEvery: s.SnapshotEvery, Journal: s.Journal, Commander: s.Commander,
	})
	if err != nil {
		t.Fatalf("bridgetest: new bridge: %v", err)
	}
	if s.Bind != nil {
		s.Bind(b)
	}
	tb := &TestBridge{Bridge: b, T: t, Net: s.Network, Desk: s.Desk, Clock: s.Clock, Registry: reg, Metrics: m, DataDir: s.DataDir, Setup: s}
	if s.NoRun {
		t.Cleanup(func() { b.Close() })
		return tb
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.stop, tb.done = cancel, make(chan error, 1)
	go func() { tb.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		if err := tb.Stop(); err != nil {
			t.Errorf("bridge run: %v", err)
		}
	})
	if !s.Standby {
		tb.WaitFor("the bridge to be ready", func() bool { return b.Ready() && s.Desk.Listening() && s.Network.Listening() })
	}
	return tb
}

// Stop stops the bridge (a clean shutdown) and returns Run's error.
func (tb *TestBridge) Stop() error {
	if tb.stop == nil || !tb.stopped.CompareAndSwap(false, true) {
		return nil
	}
	tb.stop()
	select {
	case err := <-tb.done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("bridgetest: Run did not return within 30s")
	}
}

// Restart stops the bridge cleanly and starts a new one on the same data
// directory and fakes.
func (tb *TestBridge) Restart(opts ...Option) *TestBridge {
	tb.T.Helper()
	if err := tb.Stop(); err != nil {
		tb.T.Fatalf("bridgetest: stop: %v", err)
	}
	base := []Option{WithDataDir(tb.DataDir), WithNetwork(tb.Net), WithDesk(tb.Desk), WithClock(tb.Clock),
		WithConfig(func(c *bridge.Config) { *c = tb.Setup.Config })}
	return NewTestBridge(tb.T, append(base, opts...)...)
}

// CrashImage copies the data directory as it is on disk now: opening a
// bridge on the copy is a restart after a crash at this moment.
func (tb *TestBridge) CrashImage() string {
	tb.T.Helper()
	dst := tb.T.TempDir()
	entries, err := os.ReadDir(tb.DataDir)
	if err != nil {
		tb.T.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tb.DataDir, e.Name()))
		if err != nil {
			tb.T.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			tb.T.Fatal(err)
		}
	}
	return dst
}

// WaitFor polls cond until it holds, failing the test after 10s.
func (tb *TestBridge) WaitFor(what string, cond func() bool) {
	tb.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.T.Fatalf("bridgetest: gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var posts atomic.Int64

// Customer is an author on the test network.
func Customer(handle string) bridge.Author {
	return bridge.Author{ID: "id-" + handle, Handle: handle, Name: handle, URL: "https://net.example/@" + handle, Followers: 10}
}

// Mention makes a new post by author that mentions us.
func Mention(author bridge.Author, text string) bridge.Post {
	n := posts.Add(1)
	return bridge.Post{Network: "net", ID: fmt.Sprintf("p%d", n), Author: author, Text: text, MentionsUs: true,
		URL: fmt.Sprintf("https://net.example/p%d", n)}
}

// ReplyTo makes a post by author answering post parent, in its conversation.
func ReplyTo(author bridge.Author, parent bridge.Post, text string) bridge.Post {
	p := Mention(author, text)
	p.InReplyTo = parent.ID
	p.Conversation = parent.ConversationKey()
	return p
}

// Complain posts a new complaint by handle and waits for its thread.
func (tb *TestBridge) Complain(handle, text string) (bridge.CaseView, bridge.ThreadRef, bridge.Post) {
	tb.T.Helper()
	p := Mention(Customer(handle), text)
	if err := tb.Post(context.Background(), p); err != nil {
		tb.T.Fatalf("bridgetest: post: %v", err)
	}
	var th Thread
	tb.WaitFor("the case thread of "+p.ID, func() bool {
		for _, t := range tb.Desk.Threads() {
			if t.Card.First.ID == p.ID {
				th = t
				return true
			}
		}
		return false
	})
	v, _ := tb.Case(th.Card.ID)
	return v, th.Ref, p
}

// Say writes text in thread t as by and fails the test on error.
func (tb *TestBridge) Say(t bridge.ThreadRef, by bridge.Staff, text string) bridge.MessageRef {
	tb.T.Helper()
	m, err := tb.Desk.Say(context.Background(), t, by, text)
	if err != nil {
		tb.T.Fatalf("bridgetest: say: %v", err)
	}
	return m
}

// MustClaim claims case id as by.
func (tb *TestBridge) MustClaim(id bridge.CaseID, by bridge.Staff) bridge.CaseView {
	tb.T.Helper()
	v, err := tb.Claim(context.Background(), id, by)
	if err != nil {
		tb.T.Fatalf("bridgetest: claim %s: %v", id, err)
	}
	return v
}

// OpenedBy returns the case post id (on network "net") opened, if any.
func (tb *TestBridge) OpenedBy(postID string) (bridge.CaseView, bool) {
	v, ok := tb.CaseOfPost("net", postID)
	if !ok || v.First.ID != postID {
		return bridge.CaseView{}, false
	}
	return v, true
}
