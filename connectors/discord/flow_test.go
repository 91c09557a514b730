package discord_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// miniBridge is a small scripted stand-in for the bridge: one case,
// claim/release/resolve/reopen by any route (buttons, slash commands, !verb
// lines), replies "published" to a list, marks and card updates as the
// bridge makes them. It records everything through a RecordingInbox.
type miniBridge struct {
	*connectortest.RecordingInbox
	desk *discord.Desk

	mu        sync.Mutex
	cv        bridge.CaseView
	thread    bridge.ThreadRef
	published []string
}

func newMiniBridge(d *discord.Desk, cv bridge.CaseView) *miniBridge {
	b := &miniBridge{RecordingInbox: connectortest.NewRecordingInbox(), desk: d, cv: cv}
	b.Respond = func(inv bridge.Invocation) bridge.Response { return b.run(context.Background(), inv) }
	return b
}

func (b *miniBridge) StaffMessage(ctx context.Context, m bridge.StaffMessage) error {
	_ = b.RecordingInbox.StaffMessage(ctx, m)
	if m.Kind != bridge.MessageNew {
		return nil
	}
	if verb, ok := strings.CutPrefix(m.Text, "!"); ok {
		f := strings.Fields(verb)
		r := b.Command(ctx, bridge.Invocation{Desk: "discord", Source: bridge.SourceText, Staff: m.Staff,
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
	b.cv.RespondedAt, b.cv.Status = time.Now(), bridge.StatusWaiting
	cv := b.cv
	b.mu.Unlock()
	if err := b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliverySent, Link: "https://mastodon.social/@shop/1"}); err != nil {
		return err
	}
	return b.desk.UpdateCard(ctx, b.thread, cv)
}

func (b *miniBridge) run(ctx context.Context, inv bridge.Invocation) bridge.Response {
	b.mu.Lock()
	if inv.Thread.ID != b.thread.ID && (len(inv.Args) == 0 || !strings.EqualFold(inv.Args[0], string(b.cv.ID))) {
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "which case?", Command: inv.Name}
	}
	switch inv.Name {
	case "claim":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusClaimed, inv.Staff.Key(), inv.Staff.Name
	case "release":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusNew, "", ""
	case "resolve":
		b.cv.Status, b.cv.Summary = bridge.StatusResolved, strings.Join(inv.Args, " ")
	case "reopen":
		b.cv.Status = bridge.StatusClaimed
	default:
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "unknown", Command: "unknown"}
	}
	cv := b.cv
	b.mu.Unlock()
	if err := b.desk.UpdateCard(ctx, b.thread, cv); err != nil {
		return bridge.Response{Private: true, Text: err.Error(), Failed: true}
	}
	return bridge.Response{OK: true, Private: true, Text: "done: " + inv.Name, Command: inv.Name}
}

// customerWrites is a customer follow-up arriving from the network: posted
// into the thread, and the case reopened as the bridge does.
func (b *miniBridge) customerWrites(ctx context.Context, text string) error {
	b.mu.Lock()
	author := b.cv.Customer
	b.mu.Unlock()
	if _, err := b.desk.Post(ctx, b.thread, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &author, Text: text}); err != nil {
		return err
	}
	b.mu.Lock()
	b.cv.Status, b.cv.Reopens, b.cv.Posts = bridge.StatusClaimed, b.cv.Reopens+1, b.cv.Posts+1
	cv := b.cv
	b.mu.Unlock()
	return b.desk.UpdateCard(ctx, b.thread, cv)
}

// The whole flow through discordgo against the fake: complaint → post (with
// its status tag in a forum) → claim by button, by slash command in the
// thread and by !claim → inline reply → marked sent with its link → card
// (and tag) updated → resolve → archived → the customer writes again →
// unarchived and reopened.
func runFlow(t *testing.T, o envOpts) {
	e := newEnv(t, o)
	ctx := context.Background()
	f := e.fake
	b := newMiniBridge(e.desk, connectortest.SuiteCase("E-1"))
	th, err := e.desk.OpenThread(ctx, e.channel, b.cv)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.thread = th
	b.mu.Unlock()
	listen(t, e.desk, b)
	card := func() string { return e.card(t, th).Visible() }
	waitCard := func(what string) {
		t.Helper()
		waitFor(t, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}

	waitFor(t, "the post tagged New", e.tagged(th, "New"))
	waitCard(unclaimedText)

	// Claim by button, release by button, claim by /claim in the thread,
	// release, claim by !claim typed in the thread.
	e.claimThreeWays(t, th, waitCard)
	// The !claim answer reaches only its author (an ephemeral follow-up of
	// the Release press, still at hand in this channel, or a DM).
	waitFor(t, "the private answer to !claim", func() bool {
		return slices.ContainsFunc(private(f, staffID), func(s string) bool { return strings.Contains(s, "done: claim") })
	})

	// A note from someone who does not hold the claim is not sent, and its
	// author is told privately.
	if _, err := f.Say(beaID, th.ID, "I can take this one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Bea's private explanation", func() bool {
		return slices.ContainsFunc(private(f, beaID), func(s string) bool { return strings.Contains(s, "claim the case first") })
	})

	// An inline reply is published, marked sent with its link, and the card follows.
	reply, err := f.Say(staffID, th.ID, "Sorry Ana, a new parcel is on its way")
	if err != nil {
		t.Fatal(err)
	}
	waitCard("Waiting on customer")
	waitFor(t, "the post tagged Waiting", e.tagged(th, "Waiting"))
	waitFor(t, "the sent mark", func() bool {
		m, _ := f.Message(th.ID, reply)
		return slices.Equal(m.Emojis(), []string{"✅"})
	})
	line, ok := e.lineFor(th.ID, reply)
	if !ok || !strings.Contains(line.Visible(), "https://mastodon.social/@shop/1") {
		t.Errorf("no reply line with the published link: %+v", line)
	}
	b.mu.Lock()
	if !slices.Equal(b.published, []string{"Sorry Ana, a new parcel is on its way"}) {
		t.Errorf("published %q", b.published)
	}
	b.mu.Unlock()

	// Resolve by slash command in the thread: the card shows it, offers
	// Reopen only, and the thread is archived.
	e.slash(t, staffID, th.ID, "resolve", "parcel resent")
	waitCard("Resolved: parcel resent")
	waitFor(t, "the post tagged Resolved", e.tagged(th, "Resolved"))
	waitFor(t, "the thread archived", e.archived(th, true))
	var verbs []string
	for _, a := range e.card(t, th).Actions() {
		verbs = append(verbs, a.CustomID)
	}
	if !slices.Equal(verbs, []string{"earshot:reopen"}) {
		t.Errorf("resolved card offers %v", verbs)
	}

	// The customer writes again: the follow-up lands in the thread (which
	// unarchives it) and the case is reopened.
	if err := b.customerWrites(ctx, "it still has not arrived"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the thread unarchived", e.archived(th, false))
	waitCard(claimedText)
	waitFor(t, "the post tagged Claimed again", e.tagged(th, "Claimed"))
	found := false
	for _, m := range f.Thread(th.ID) {
		found = found || strings.Contains(m.Visible(), "it still has not arrived")
	}
	if !found {
		t.Error("the customer's follow-up is not in the thread")
	}

	for _, s := range []bridge.Source{bridge.SourceButton, bridge.SourceSlash, bridge.SourceText} {
		if !slices.ContainsFunc(b.Invocations(), func(i bridge.Invocation) bool { return i.Source == s }) {
			t.Errorf("no command came by %s", s)
		}
	}
	if got := len(private(f, staffID)); got < 5 {
		t.Errorf("%d private answers, want one per command", got)
	}
}

func TestFlowForum(t *testing.T)   { t.Parallel(); runFlow(t, envOpts{}) }
func TestFlowThreads(t *testing.T) { t.Parallel(); runFlow(t, envOpts{thread: true}) }
func TestFlowForumHTTP(t *testing.T) {
	t.Parallel()
	runFlow(t, envOpts{http: true})
}
