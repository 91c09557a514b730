package slack_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
)

// miniBridge is a small scripted stand-in for the bridge (until bridge.New
// lands): one case, claim/release/resolve by any route, replies published
// to a list, marks and card updates as the bridge makes them.
type miniBridge struct {
	t    *testing.T
	desk *slack.Desk

	mu        sync.Mutex
	cv        bridge.CaseView
	thread    bridge.ThreadRef
	published []string
	sources   []bridge.Source
}

func (b *miniBridge) Post(context.Context, bridge.Post) error { return nil }

func (b *miniBridge) StaffMessage(ctx context.Context, m bridge.StaffMessage) error {
	if m.Kind != bridge.MessageNew {
		return nil
	}
	if verb, ok := strings.CutPrefix(m.Text, "!"); ok {
		f := strings.Fields(verb)
		r := b.Command(ctx, bridge.Invocation{Desk: "slack", Source: bridge.SourceText, Staff: m.Staff,
			Channel: m.Thread.Channel, Thread: m.Thread, Name: f[0], Args: f[1:]})
		return b.desk.Notify(ctx, m.Thread.Channel, m.Thread, m.Staff.ID, r.Text)
	}
	b.mu.Lock()
	mine := b.cv.Assignee == m.Staff.Key()
	b.mu.Unlock()
	if !mine {
		return b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliveryNotSent, Reason: "claim the case first", Private: true})
	}
	if err := b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliveryPending}); err != nil {
		return err
	}
	b.mu.Lock()
	b.published = append(b.published, m.Text)
	b.cv.RespondedAt = time.Now()
	b.cv.Status = bridge.StatusWaiting
	cv := b.cv
	b.mu.Unlock()
	if err := b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliverySent, Link: "https://mastodon.social/@shop/1"}); err != nil {
		return err
	}
	return b.desk.UpdateCard(ctx, b.thread, cv)
}

func (b *miniBridge) Command(ctx context.Context, inv bridge.Invocation) bridge.Response {
	b.mu.Lock()
	b.sources = append(b.sources, inv.Source)
	if inv.Thread.IsZero() && (len(inv.Args) == 0 || !strings.EqualFold(inv.Args[0], string(b.cv.ID))) && inv.Name != "claim" {
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "which case?"}
	}
	switch inv.Name {
	case "claim":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusClaimed, inv.Staff.Key(), inv.Staff.Name
	case "release":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusNew, "", ""
	case "resolve":
		b.cv.Status = bridge.StatusResolved
	default:
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "unknown"}
	}
	cv := b.cv
	b.mu.Unlock()
	if err := b.desk.UpdateCard(ctx, b.thread, cv); err != nil {
		return bridge.Response{Private: true, Text: err.Error(), Failed: true}
	}
	return bridge.Response{OK: true, Private: true, Text: "done: " + inv.Name, Command: inv.Name}
}

func runFlow(t *testing.T, mode string) {
	e := newEnv(t, envOpts{mode: mode})
	ctx := context.Background()
	b := &miniBridge{t: t, desk: e.desk, cv: connectortest.SuiteCase("E-1")}
	th, err := e.desk.OpenThread(ctx, channel, b.cv)
	if err != nil {
		t.Fatal(err)
	}
	b.thread = th
	listen(t, e.desk, b)
	card := func() string { m, _ := e.fake.Message(channel, th.ID); return m.Visible() }
	waitCard := func(what string) {
		t.Helper()
		connectortest.WaitFor(t, 10*time.Second, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}

	// Claim by button, release by button, claim by slash command, release, claim by !claim.
	if err := e.fake.Press(staffID, channel, th.ID, "earshot:claim", ""); err != nil {
		t.Fatal(err)
	}
	waitCard("Claimed by " + staffName)
	_ = e.fake.Press(staffID, channel, th.ID, "earshot:release", "")
	waitCard("*Status*\nNew")
	e.fake.Slash(staffID, channel, "/claim", "E-1")
	waitCard("Claimed by " + staffName)
	_ = e.fake.Press(staffID, channel, th.ID, "earshot:release", "")
	waitCard("*Status*\nNew")
	e.fake.Say(staffID, channel, th.ID, "!claim")
	waitCard("Claimed by " + staffName)

	// An inline reply is published, marked sent with its link, and the card follows.
	ts := e.fake.Say(staffID, channel, th.ID, "Sorry Ana, a new parcel is on its way")
	waitCard("Waiting on customer")
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool {
		m, _ := e.fake.Message(channel, ts)
		return len(m.Reactions) == 1 && m.Reactions[0].Name == "white_check_mark"
	})
	found := false
	for _, m := range e.fake.Thread(channel, th.ID) {
		if strings.Contains(m.Visible(), "https://mastodon.social/@shop/1") {
			found = true
		}
	}
	if !found {
		t.Error("no thread line with the published link")
	}
	b.mu.Lock()
	if !slices.Equal(b.published, []string{"Sorry Ana, a new parcel is on its way"}) {
		t.Errorf("published %q", b.published)
	}
	b.mu.Unlock()

	// Resolve by slash command: the card shows it and offers Reopen.
	e.fake.Slash(staffID, channel, "/resolve", "E-1")
	waitCard("*Status*\nResolved")
	m, _ := e.fake.Message(channel, th.ID)
	var verbs []string
	for _, a := range m.Actions() {
		verbs = append(verbs, a.ID)
	}
	if !slices.Equal(verbs, []string{"earshot:reopen"}) {
		t.Errorf("resolved card offers %v", verbs)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range []bridge.Source{bridge.SourceButton, bridge.SourceSlash, bridge.SourceText} {
		if !slices.Contains(b.sources, s) {
			t.Errorf("no command came by %s", s)
		}
	}
	if got := len(e.fake.Ephemerals(staffID)); got < 5 {
		t.Errorf("%d private answers, want one per command", got)
	}
}

func TestFlowSocket(t *testing.T) { t.Parallel(); runFlow(t, "socket") }
func TestFlowHTTP(t *testing.T)   { t.Parallel(); runFlow(t, "http") }
