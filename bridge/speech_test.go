package bridge_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// The leaks of issue #14, each at the core: what the claimer writes is
// read in its canonical form, and only plain, visible text that names
// nobody goes out.

// claimed opens a case claimed by Ana and returns it with its thread.
func claimed(t *testing.T, opts ...Option) (*TestBridge, bridge.CaseView, bridge.ThreadRef) {
	t.Helper()
	tb := NewTestBridge(t, opts...)
	v, th, _ := tb.Complain("ana", "@brand my parcel")
	tb.MustClaim(v.ID, Ana)
	return tb, v, th
}

// neverQueued checks that message m was not made a reply.
func neverQueued(tb *TestBridge, m bridge.MessageRef, text string) {
	tb.T.Helper()
	if it, ok := tb.OutboxFor(m); ok && it.State != bridge.OutboxCancelled {
		tb.T.Errorf("%q was queued for publication (%s: %q)", text, it.State, it.Text)
	}
}

// Finding 1: note prefixes a person reads as a note are notes, however
// they are typed; finding 2: a message with nothing visible is not sent.
func TestNotePrefixVariantsAndInvisibleTextAreNotSent(t *testing.T) {
	t.Parallel()
	tb, _, th := claimed(t)
	for _, c := range []struct{ text, why string }{
		{"NOTE : ops says the depot is closed", "A note"},
		{"note：ops says the depot is closed", "A note"},
		{"*note:* check the log", "A note"},
		{"_note:_ check the log", "A note"},
		{"**note:** check the log", "A note"},
		{"> note: the depot is closed", "A note"},
		{"||note:|| internal", "A note"},
		{"\u200bnote: internal", "A note"},
		{"ｎｏｔｅ: internal", "A note"},
		{"nоte: internal (Cyrillic о)", "A note"},
		{"`//` internal", "A note"},
		{"\u200b\u2060", "no visible text"},
		{"\u200b \u3000\u2060\n", "no visible text"},
		{"\u3164", "no visible text"},
	} {
		m := tb.Say(th, Ana, c.text)
		if r := notSent(tb, m); !strings.Contains(r, c.why) {
			t.Errorf("%q: reason %q, want it to say %q", c.text, r, c.why)
		}
		neverQueued(tb, m, c.text)
	}
	settle(tb)
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Errorf("%d publish attempts, want none", n)
	}
}

// Finding 3 at the core: a reply in which the desk found a mention of
// itself is refused with a private explanation naming what it mentions;
// desk markup a desk left in the text is refused too. Nothing is
// rewritten into a public name.
func TestDeskMentionsAndMarkupAreRefused(t *testing.T) {
	t.Parallel()
	tb, _, th := claimed(t)
	mei := bridge.DeskMention{Kind: bridge.MentionUser, ID: "UA2", Name: "Mei Chen"}
	m, err := tb.Desk.SayMentioning(ctx, th, Ana, "Thanks @Mei Chen! see the fix (https://status.example.com/fix)", mei)
	if err != nil {
		t.Fatal(err)
	}
	if r := notSent(tb, m); !strings.Contains(r, "your colleague Mei Chen") || !strings.Contains(r, "without the mention") {
		t.Errorf("mention reason %q", r)
	}
	here, err := tb.Desk.SayMentioning(ctx, th, Ana, "@here we fixed it", bridge.DeskMention{Kind: bridge.MentionEveryone, Name: "here"})
	if err != nil {
		t.Fatal(err)
	}
	if r := notSent(tb, here); !strings.Contains(r, "@here") {
		t.Errorf("@here reason %q", r)
	}
	for _, raw := range []string{"Thanks <@UA2>!", "see <#C123|general>", "<!channel> fixed", "thanks <@123456789012345678>", "nice <:party:1234567890>"} {
		m := tb.Say(th, Ana, raw)
		if r := notSent(tb, m); !strings.Contains(r, "desk markup") {
			t.Errorf("%q: reason %q", raw, r)
		}
		neverQueued(tb, m, raw)
	}
	if got := value(tb, "earshot_replies_total", map[string]string{"network": "net", "result": "refused"}); got != 7 {
		t.Errorf("refused counted %v, want 7", got)
	}
	settle(tb)
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Errorf("%d publish attempts, want none", n)
	}
}

// A reply naming another account of the network is kept as a note inline;
// the explicit reply command may send it.
func TestAnotherNetworkAccountNeedsTheExplicitCommand(t *testing.T) {
	t.Parallel()
	tb, v, th := claimed(t)
	m := tb.Say(th, Ana, "cc @someone, can you help?")
	if r := notSent(tb, m); !strings.Contains(r, "@someone") || !strings.Contains(r, "!reply") {
		t.Errorf("reason %q", r)
	}
	own := tb.Say(th, Ana, "@ana thanks, it is fixed; mail ops@example.com")
	if err := tb.Reply(ctx, v.ID, Ana, "cc @someone, who can help", bridge.MessageRef{}); err != nil {
		t.Fatalf("explicit reply: %v", err)
	}
	settle(tb)
	tb.WaitFor("two replies", func() bool { return len(tb.Net.Published()) == 2 })
	settle(tb)
	got := []string{tb.Net.Published()[0].Text, tb.Net.Published()[1].Text}
	if got[0] != "@ana thanks, it is fixed; mail ops@example.com" || got[1] != "cc @someone, who can help" {
		t.Errorf("published %q", got)
	}
	neverQueued(tb, m, "cc @someone")
	_ = own
}

// Finding 4: an explicit reply follows the same rules as an inline one:
// a note prefix, nothing visible or a desk mention stops it, and a reply
// typed as a message gets its not-sent mark (journaled) besides the answer.
func TestExplicitReplyFollowsTheSameRules(t *testing.T) {
	t.Parallel()
	tb, v, th := claimed(t)
	for _, text := range []string{"note: internal", "*note:* internal", "\u200b", "!claim"} {
		err := tb.Reply(ctx, v.ID, Ana, text, bridge.MessageRef{})
		if !bridge.IsUserError(err) {
			t.Errorf("reply %q: %v, want a refusal", text, err)
		}
	}
	msg := bridge.MessageRef{Desk: "desk", Channel: th.Channel, Thread: th.ID, ID: "typed-1", Author: Ana.ID}
	err := tb.Reply(ctx, v.ID, Ana, "note: internal", msg)
	var ue *bridge.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "A note") {
		t.Fatalf("reply typed as a message: %v", err)
	}
	if r := notSent(tb, msg); !strings.Contains(r, "A note") {
		t.Errorf("mark reason %q", r)
	}
	settle(tb)
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Errorf("%d publish attempts, want none", n)
	}
}

// The pending mark shows the exact text that will be published, and an
// edit inside the window shows the new text; edits go through the gate.
func TestPendingMarkShowsThePublicText(t *testing.T) {
	t.Parallel()
	tb, _, th := claimed(t)
	m := tb.Say(th, Ana, "  Sorry, we are on it  ")
	tb.WaitFor("the pending mark", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliveryPending })
	if d := tb.Desk.LastMark(m.ID); d.Text != "Sorry, we are on it" {
		t.Errorf("pending mark text %q", d.Text)
	}
	if err := tb.Desk.Edit(ctx, th, m, Ana, "Sorry, we are on it now"); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the pending mark with the edit", func() bool { return tb.Desk.LastMark(m.ID).Text == "Sorry, we are on it now" })
	intoMention := tb.Say(th, Ana, "Hi")
	if err := tb.Desk.Deliver(ctx, bridge.StaffMessage{Kind: bridge.MessageEdited, Thread: th, Message: intoMention, Staff: Ana,
		Text: "Hi @Mei", Mentions: []bridge.DeskMention{{Kind: bridge.MentionUser, ID: "UA2", Name: "Mei"}}}); err != nil {
		t.Fatal(err)
	}
	if r := notSent(tb, intoMention); !strings.Contains(r, "your colleague Mei") {
		t.Errorf("edited into a mention: %q", r)
	}
	settle(tb)
	tb.WaitFor("the edited reply", func() bool { return len(tb.Net.Published()) == 1 })
	if got := tb.Net.Published()[0].Text; got != "Sorry, we are on it now" {
		t.Errorf("published %q", got)
	}
}

// An edit that arrives while the desk is still showing the pending mark
// of the first text is shown too: the desk's answer about the old text
// must not count for the new one, or the preview would go on showing the
// old text until the new one is published.
func TestEditWhileThePendingMarkIsShown(t *testing.T) {
	t.Parallel()
	tb, _, th := claimed(t)
	held := tb.Desk.HoldMarks()
	m := tb.Say(th, Ana, "First draft")
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the pending mark was never shown")
	}
	if err := tb.Desk.Edit(ctx, th, m, Ana, "Final words"); err != nil {
		t.Fatal(err)
	}
	if it, _ := tb.OutboxFor(m); it.Text != "Final words" {
		t.Fatalf("the edit was not taken: %q", it.Text)
	}
	tb.Desk.ReleaseMarks()
	tb.WaitFor("the pending mark with the edit", func() bool {
		d := tb.Desk.LastMark(m.ID)
		return d.State == bridge.DeliveryPending && d.Text == "Final words"
	})
	settle(tb)
	tb.WaitFor("the edited reply", func() bool { return len(tb.Net.Published()) == 1 })
	if got := tb.Net.Published()[0].Text; got != "Final words" {
		t.Errorf("published %q", got)
	}
}

// Finding 6: a refusal is journaled with its reason before it is shown:
// after a crash right after it (the desk never marked it), the restarted
// bridge shows the mark and the explanation.
func TestRefusalSurvivesACrash(t *testing.T) {
	t.Parallel()
	tb, _, th := claimed(t)
	// The desk never answers the mark before the crash (failing it a few
	// times let a loaded machine's retries mark it before the image).
	tb.Desk.HoldMarks()
	t.Cleanup(tb.Desk.ReleaseMarks)
	m := tb.Say(th, Ana, "*note:* the depot is closed")
	image := tb.CrashImage() // Say returned: the refusal is on disk
	desk := NewDesk("desk")
	after := NewTestBridge(t, WithDataDir(image), WithDesk(desk), WithClock(tb.Clock))
	var d bridge.Delivery
	after.WaitFor("the not-sent mark after the restart", func() bool {
		d = desk.LastMark(m.ID)
		return d.State == bridge.DeliveryNotSent
	})
	if !d.Private || !strings.Contains(d.Reason, "A note") {
		t.Errorf("mark after the restart %+v", d)
	}
	// A desk delivering the message again after the restart changes nothing.
	if err := after.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Message: m, Staff: Ana, Text: "*note:* the depot is closed"}); err != nil {
		t.Fatal(err)
	}
	after.WaitFor("the desk to settle", func() bool { return bridge.Idle(after.Bridge) })
	if n := len(desk.Marks(m.ID)); n != 1 {
		t.Errorf("%d marks after a redelivery, want 1", n)
	}
}

// Finding 5: a crash between the desk showing a card and the bridge
// journaling its thread: the restarted bridge finds the card by its key
// and adopts it; there is one card, and acting in its thread works.
func TestCrashBetweenCardAndThreadOpensOneCard(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	held := tb.Desk.HoldOpens()
	p := Mention(Customer("ana"), "@brand my parcel")
	if err := tb.Post(ctx, p); err != nil {
		t.Fatal(err)
	}
	<-held // the card shows; the bridge has not heard back
	image := tb.CrashImage()
	desk := tb.Desk
	after := NewTestBridge(t, WithDataDir(image), WithDesk(desk), WithClock(tb.Clock))
	tb.Desk.ReleaseOpens()
	after.WaitFor("the card adopted", func() bool {
		v, ok := after.OpenedBy(p.ID)
		return ok && len(v.Threads) == 1
	})
	v, _ := after.OpenedBy(p.ID)
	if n := len(desk.ThreadsOf(v.ID)); n != 1 {
		t.Fatalf("%d cards for %s after the restart, want 1", n, v.ID)
	}
	th := v.Threads[0]
	if c, ok := after.CaseForThread(th); !ok || c.ID != v.ID {
		t.Fatalf("the card's thread is not the case's")
	}
	if bridge.Opening(after.Bridge, v.ID, "desk", "support") {
		t.Error("the opening intent is still there after adoption")
	}
	after.MustClaim(v.ID, Ana)
	m := after.Say(th, Ana, "On it!")
	settle(after)
	after.WaitFor("the reply in the adopted thread", func() bool { return desk.LastMark(m.ID).State == bridge.DeliverySent })
	after.WaitFor("the adopted card re-rendered", func() bool {
		card, _ := desk.Thread(th.ID)
		return card.Card.Status != bridge.StatusNew
	})
}

// A desk answer lost after the card was posted (a timeout): the retry
// finds the card instead of posting a second one.
func TestLostOpenAnswerIsNotASecondCard(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	tb.Desk.LoseAnswers(1)
	p := Mention(Customer("ana"), "@brand hello")
	if err := tb.Post(ctx, p); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the card adopted", func() bool {
		tb.Clock.Advance(time.Second) // the desk worker's pause before it tries again
		v, ok := tb.OpenedBy(p.ID)
		return ok && len(v.Threads) == 1
	})
	v, _ := tb.OpenedBy(p.ID)
	if n := len(tb.Desk.ThreadsOf(v.ID)); n != 1 {
		t.Fatalf("%d cards, want 1", n)
	}
}

// A desk that cannot look for the card an earlier try may have posted
// keeps trying for a while, then posts the card again: a card shown twice
// is better than a customer never answered.
func TestCardLookupFailingForLongPostsAgain(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	tb.Desk.LoseAnswers(1)
	p := Mention(Customer("ana"), "@brand hello")
	if err := tb.Post(ctx, p); err != nil {
		t.Fatal(err)
	}
	tb.Desk.FailFinds(errors.New("history: missing_scope"))
	tb.WaitFor("the card posted again", func() bool {
		tb.Clock.Advance(time.Minute)
		v, ok := tb.OpenedBy(p.ID)
		return ok && len(v.Threads) == 1
	})
	if n := len(tb.Desk.Threads()); n != 2 {
		t.Errorf("%d cards, want 2 (the lost one and the one posted again)", n)
	}
}
