package commands_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
)

// The real core satisfies the interface the commands consume.
var _ commands.Cases = (*bridge.Bridge)(nil)

// recNet is a recording network: it publishes into a slice.
type recNet struct {
	mu   sync.Mutex
	sent []bridge.Reply
}

func (n *recNet) Name() string                                     { return "rec" }
func (n *recNet) Listen(ctx context.Context, _ bridge.Inbox) error { <-ctx.Done(); return nil }
func (n *recNet) Limits() bridge.TextLimits                        { return bridge.TextLimits{Max: 500} }
func (n *recNet) Publish(_ context.Context, r bridge.Reply) (bridge.PostRef, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, r)
	return bridge.PostRef{Network: "rec", ID: fmt.Sprintf("out%d", len(n.sent))}, nil
}

// recDesk is a recording desk named "slack" with one thread per case.
type recDesk struct {
	mu      sync.Mutex
	threads map[bridge.CaseID]bridge.ThreadRef
	cards   map[string]bridge.CaseView
	posts   map[string][]bridge.DeskMessage
	n       int
}

func (d *recDesk) Name() string                                     { return "slack" }
func (d *recDesk) Listen(ctx context.Context, _ bridge.Inbox) error { <-ctx.Done(); return nil }
func (d *recDesk) OpenThread(_ context.Context, ch string, c bridge.CaseView) (bridge.ThreadRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	t := bridge.ThreadRef{Desk: "slack", Channel: ch, ID: fmt.Sprintf("T%d", d.n)}
	d.threads[c.ID] = t
	d.cards[t.ID] = c
	return t, nil
}
func (d *recDesk) UpdateCard(_ context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cards[t.ID] = c
	return nil
}
func (d *recDesk) Post(_ context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	d.posts[t.ID] = append(d.posts[t.ID], m)
	return bridge.MessageRef{Desk: "slack", Channel: t.Channel, Thread: t.ID, ID: fmt.Sprintf("M%d", d.n)}, nil
}
func (d *recDesk) Mark(context.Context, bridge.MessageRef, bridge.Delivery) error { return nil }

func (d *recDesk) thread(id bridge.CaseID) (bridge.ThreadRef, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.threads[id]
	return t, ok
}

type env struct {
	b    *bridge.Bridge
	desk *recDesk
	net  *recNet
	n    int
}

var (
	agent = bridge.Staff{Desk: "slack", ID: "UAGENT", Name: "Ana"}
	lead  = bridge.Staff{Desk: "slack", ID: "ULEAD", Name: "Lee"}
	nobod = bridge.Staff{Desk: "slack", ID: "UNOBODY", Name: "Nobody"}
)

// newEnv starts the real bridge in memory with the registry as its commander.
// Racers "U0".."U49" are agents too.
func newEnv(t *testing.T) *env {
	t.Helper()
	staff := []bridge.StaffRule{{Desk: "slack", User: "UAGENT", Role: bridge.RoleAgent}, {Desk: "slack", User: "ULEAD", Role: bridge.RoleLead}}
	for i := range 50 {
		staff = append(staff, bridge.StaffRule{Desk: "slack", User: fmt.Sprintf("U%d", i), Role: bridge.RoleAgent})
	}
	cfg := bridge.Config{
		Queues: []bridge.QueueConfig{
			// SeparateCases: the same customer's two complaints stay two cases (history).
			{Name: "support", Desk: "slack", Channel: "CSUP", SLA: bridge.SLAConfig{FirstResponse: time.Hour}, SeparateCases: true},
			{Name: "billing", Desk: "slack", Channel: "CBIL", Team: true},
		},
		Watch:         []bridge.WatchRule{{Network: "rec", Mentions: true}},
		Staff:         staff,
		UndoWindowSet: true,
	}
	e := &env{desk: &recDesk{threads: map[bridge.CaseID]bridge.ThreadRef{}, cards: map[string]bridge.CaseView{}, posts: map[string][]bridge.DeskMessage{}}, net: &recNet{}}
	reg := commands.New(nil, commands.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b, err := bridge.New(bridge.Options{Config: cfg, Networks: []bridge.Network{e.net}, Desks: []bridge.Desk{e.desk}, Commander: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg.Bind(b)
	e.b = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge run: %v", err)
		}
	})
	waitFor(t, "bridge ready", b.Ready)
	return e
}

// waitFor polls cond; the bound only stops a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// complaint posts a new complaint and returns its case and thread.
func (e *env) complaint(t *testing.T, handle, text string) (bridge.CaseID, bridge.ThreadRef) {
	t.Helper()
	e.n++
	p := bridge.Post{Network: "rec", ID: fmt.Sprintf("p%d", e.n), Author: bridge.Author{ID: "id-" + handle, Handle: handle},
		Text: "@us " + text, MentionsUs: true, CreatedAt: time.Now()}
	if err := e.b.Post(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	var id bridge.CaseID
	var th bridge.ThreadRef
	waitFor(t, "case thread", func() bool {
		e.desk.mu.Lock()
		defer e.desk.mu.Unlock()
		for cid, tr := range e.desk.threads {
			if c := e.desk.cards[tr.ID]; c.First.ID == p.ID {
				id, th = cid, tr
				return true
			}
		}
		return false
	})
	return id, th
}

func (e *env) cmd(by bridge.Staff, th bridge.ThreadRef, line string) bridge.Response {
	verb, rest, _ := strings.Cut(line, " ")
	args, _ := commands.Split(rest)
	return e.b.Command(context.Background(), bridge.Invocation{Desk: "slack", Source: bridge.SourceText, Staff: by, Channel: "CSUP",
		Thread: th, Name: verb, Args: args, Raw: rest})
}

func mustOK(t *testing.T, res bridge.Response, command string) string {
	t.Helper()
	if !res.OK || res.Failed || res.Command != command {
		t.Fatalf("want ok %s, got %+v", command, res)
	}
	return res.Text
}

func mustRefuse(t *testing.T, res bridge.Response, command string) string {
	t.Helper()
	if res.OK || res.Failed || !res.Private || res.Command != command || res.Text == "" {
		t.Fatalf("want a private refusal of %s, got %+v", command, res)
	}
	return res.Text
}

// TestClaimRaceWithBridge: 50 agents claim one case at once through the real
// core; exactly one wins, the others get a clear refusal.
func TestClaimRaceWithBridge(t *testing.T) {
	e := newEnv(t)
	id, th := e.complaint(t, "ana@x", "my order never came")
	const n = 50
	res := make([]bridge.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res[i] = e.cmd(bridge.Staff{Desk: "slack", ID: fmt.Sprintf("U%d", i), Name: fmt.Sprintf("Racer %d", i)}, th, "claim")
		})
	}
	wg.Wait()
	winner := -1
	for i, r := range res {
		if r.OK {
			if winner >= 0 {
				t.Fatalf("two winners: %d and %d", winner, i)
			}
			winner = i
			continue
		}
		if r.Failed || !r.Private || r.Command != "claim" || !strings.Contains(r.Text, "claimed") {
			t.Errorf("racer %d got %+v", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	v, _ := e.b.Case(id)
	if v.Status != bridge.StatusClaimed || v.Assignee != fmt.Sprintf("slack:U%d", winner) {
		t.Fatalf("case %+v, winner U%d", v.Case, winner)
	}
}

// TestCommandsWithBridge runs every verb through bridge.Command against the real core.
func TestCommandsWithBridge(t *testing.T) {
	e := newEnv(t)
	id, th := e.complaint(t, "ana@x", "charged twice")
	id2, _ := e.complaint(t, "ana@x", "still charged twice")

	mustRefuse(t, e.cmd(nobod, th, "claim"), "claim")
	if r := e.cmd(agent, th, "clam"); r.Command != "unknown" || !strings.Contains(r.Text, "claim") {
		t.Errorf("unknown verb: %+v", r)
	}
	mustOK(t, e.cmd(agent, th, "claim"), "claim")
	mustRefuse(t, e.cmd(lead, th, "release"), "release")
	mustOK(t, e.cmd(lead, th, "release force"), "release")
	mustOK(t, e.cmd(lead, th, "assign <@UAGENT>"), "assign")
	if v, _ := e.b.Case(id); v.Assignee != agent.Key() {
		t.Fatalf("assign: %+v", v.Case)
	}
	mustRefuse(t, e.cmd(agent, th, "assign ULEAD"), "assign")
	mustOK(t, e.cmd(agent, th, "priority urgent"), "priority")
	mustOK(t, e.cmd(agent, th, "tag +vip refund"), "tag")
	if v, _ := e.b.Case(id); v.Priority != 2 || len(v.Tags) != 2 {
		t.Fatalf("triage: %+v", v.Case)
	}
	mustOK(t, e.cmd(agent, th, "snooze 2h"), "snooze")
	mustOK(t, e.cmd(agent, th, "snooze off"), "snooze")
	mustOK(t, e.cmd(agent, th, "note she's a VIP"), "note")
	mustOK(t, e.cmd(agent, th, "reply Sorry about that, we're on it."), "reply")
	waitFor(t, "reply published", func() bool {
		e.net.mu.Lock()
		defer e.net.mu.Unlock()
		return len(e.net.sent) == 1 && e.net.sent[0].Text == "Sorry about that, we're on it."
	})
	q := mustOK(t, e.cmd(agent, bridge.ThreadRef{}, "queue"), "queue")
	if !strings.Contains(q, string(id2)) {
		t.Errorf("queue lacks %s:\n%s", id2, q)
	}
	h := mustOK(t, e.cmd(agent, th, "history"), "history")
	if !strings.Contains(h, string(id2)) {
		t.Errorf("history lacks %s:\n%s", id2, h)
	}
	mustOK(t, e.cmd(agent, th, `escalate billing "double charge, VIP"`), "escalate")
	if v, _ := e.b.Case(id); v.Status != bridge.StatusEscalated || v.Team != "billing" {
		t.Fatalf("escalate: %+v", v.Case)
	}
	mustRefuse(t, e.cmd(agent, th, "escalate biling"), "escalate")
	mustOK(t, e.cmd(lead, th, "resolve refunded"), "resolve")
	if v, _ := e.b.Case(id); v.Status != bridge.StatusResolved {
		t.Fatalf("resolve: %+v", v.Case)
	}
	mustRefuse(t, e.cmd(agent, th, "resolve"), "resolve")
	mustOK(t, e.cmd(agent, bridge.ThreadRef{}, "reopen "+string(id)), "reopen")
	mustOK(t, e.cmd(agent, bridge.ThreadRef{}, "claim "+strings.ToLower(string(id2))), "claim")
	mustRefuse(t, e.cmd(agent, th, "retry nope"), "retry")
	mustOK(t, e.cmd(agent, th, "help"), "help")
}

// TestTextCommandsThroughStaffMessage: "!verb ..." typed in a case thread
// reaches the registry through the bridge's own recognition of the prefix.
func TestTextCommandsThroughStaffMessage(t *testing.T) {
	e := newEnv(t)
	id, th := e.complaint(t, "bo@x", "app crashes")
	say := func(n int, text string) {
		t.Helper()
		err := e.b.StaffMessage(context.Background(), bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Staff: agent, Text: text, At: time.Now(),
			Message: bridge.MessageRef{Desk: "slack", Channel: th.Channel, Thread: th.ID, ID: fmt.Sprintf("S%d", n), Author: agent.ID}})
		if err != nil {
			t.Fatal(err)
		}
	}
	say(1, "!claim")
	waitFor(t, "claimed by text command", func() bool { v, _ := e.b.Case(id); return v.Assignee == agent.Key() })
	say(2, `!escalate billing "crash on pay, VIP"`)
	waitFor(t, "escalated by text command", func() bool { v, _ := e.b.Case(id); return v.Team == "billing" })
	say(3, "!resolve fixed in 2.3")
	waitFor(t, "resolved by text command", func() bool {
		v, _ := e.b.Case(id)
		return v.Status == bridge.StatusResolved && v.Summary == "fixed in 2.3"
	})
}

// Findings 4 and 7 of issue #14 through the real core: "!reply" typed in a
// thread follows the same rules as an inline reply (a note prefix keeps it,
// its message is marked not sent with the reason), however the command is
// formatted; "!assign" with a desk mention stores the name the desk gave.
func TestTypedReplyAndAssignFollowTheRules(t *testing.T) {
	e := newEnv(t)
	id, th := e.complaint(t, "bo@x", "app crashes")
	say := func(by bridge.Staff, n int, text string, mentions ...bridge.DeskMention) bridge.MessageRef {
		t.Helper()
		m := bridge.MessageRef{Desk: "slack", Channel: th.Channel, Thread: th.ID, ID: fmt.Sprintf("S%d", n), Author: by.ID}
		err := e.b.StaffMessage(context.Background(), bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Staff: by, Text: text, At: time.Now(),
			Message: m, Mentions: mentions})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	say(agent, 1, "!claim")
	waitFor(t, "claimed", func() bool { v, _ := e.b.Case(id); return v.Assignee == agent.Key() })
	for i, text := range []string{"!reply note: internal", "!reply *NOTE :* internal", "!reply \u3164 "} {
		m := say(agent, 10+i, text)
		it, ok := e.b.OutboxFor(m)
		if !ok || it.State != bridge.OutboxCancelled || it.Reason == "" {
			t.Errorf("%q: outbox %+v (found %v), want it refused with its reason", text, it, ok)
		}
	}
	say(agent, 20, "**!REPLY** Thanks, it is fixed")
	waitFor(t, "the explicit reply", func() bool {
		e.net.mu.Lock()
		defer e.net.mu.Unlock()
		return len(e.net.sent) == 1
	})
	e.net.mu.Lock()
	sent := e.net.sent[0].Text
	e.net.mu.Unlock()
	if sent != "Thanks, it is fixed" {
		t.Errorf("published %q", sent)
	}

	say(lead, 30, "!assign @Mei Chen", bridge.DeskMention{Kind: bridge.MentionUser, ID: "U7", Name: "Mei Chen"})
	waitFor(t, "assigned with the desk's name", func() bool { v, _ := e.b.Case(id); return v.AssigneeName == "Mei Chen" })
	if v, _ := e.b.Case(id); v.Assignee != "slack:U7" {
		t.Errorf("assigned to %q", v.Assignee)
	}
}
