package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// One customer, one open case: three posts by one person (three
// conversations) make one case with one card, not three; after it is
// resolved, a new post opens a new case. A queue may opt out.
func TestOneCustomerOneOpenCase(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand my train is late")
	for _, text := range []string{"@brand still late", "@brand and now cancelled!"} {
		if err := tb.Post(ctx, Mention(Customer("ana"), text)); err != nil {
			t.Fatal(err)
		}
	}
	tb.WaitFor("both in her thread", func() bool {
		return tb.Desk.HasMessage(th.ID, "still late") && tb.Desk.HasMessage(th.ID, "now cancelled")
	})
	if n := len(tb.Desk.Threads()); n != 1 {
		t.Errorf("%d cards for one customer, want 1", n)
	}
	if c, _ := tb.Case(v.ID); c.PostCount != 3 {
		t.Errorf("posts %d, want 3", c.PostCount)
	}
	// Another customer is another case; a resolved case takes no new post.
	tb.Complain("bo", "@brand my train is late too")
	if _, err := tb.Resolve(ctx, v.ID, Ana, "delay over"); err != nil {
		t.Fatal(err)
	}
	tb.Complain("ana", "@brand a new problem: my seat reservation vanished")

	separate := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.Queues[0].SeparateCases = true }))
	separate.Complain("ana", "@brand my train is late")
	separate.Complain("ana", "@brand and the wifi is broken")
	if n := len(separate.Desk.Threads()); n != 2 {
		t.Errorf("a queue that keeps separate cases made %d", n)
	}
}

// Saved replies follow every reply rule: the claim, the undo window, the
// limit; they are filled in for the customer; a name that does not exist
// is refused with the list; in an incident's thread one is its
// acknowledgement.
func TestSavedReplies(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents(func(c *bridge.Config) {
		c.Replies = []bridge.SavedReply{
			{Name: "sorry", Text: "Sorry {name}, we are looking into {case}."},
			{Name: "status", Text: "Follow {incident} here: {status_url}"},
			{Name: "long", Text: strings.Repeat("x", 600)},
		}
	}))
	v, th, _ := tb.Complain("ana", "@brand the app crashes")
	if err := tb.SayReply(ctx, v.ID, Ana, "sorry", bridge.MessageRef{}); err == nil || !strings.Contains(err.Error(), "Nobody has claimed") {
		t.Errorf("an unclaimed case took a saved reply: %v", err)
	}
	tb.MustClaim(v.ID, Ana)
	if err := tb.SayReply(ctx, v.ID, Ana, "nope", bridge.MessageRef{}); err == nil || !strings.Contains(err.Error(), "Saved replies: sorry, status, long") {
		t.Errorf("unknown name: %v", err)
	}
	if err := tb.SayReply(ctx, v.ID, Ana, "long", bridge.MessageRef{}); err == nil || !strings.Contains(err.Error(), "Nothing was cut") {
		t.Errorf("too long: %v", err)
	}
	if err := tb.SayReply(ctx, v.ID, Ana, "status", bridge.MessageRef{}); err == nil || !strings.Contains(err.Error(), "part of none") && !strings.Contains(err.Error(), "status thread") {
		t.Errorf("status link without an incident: %v", err)
	}
	// The desk message "!say sorry", edited in the undo window into "!say
	// status": the name is no text to publish, so nothing goes.
	m := bridge.MessageRef{Desk: "desk", Channel: th.Channel, Thread: th.ID, ID: "S-say", Author: Ana.ID}
	if err := tb.SayReply(ctx, v.ID, Ana, "sorry", m); err != nil {
		t.Fatal(err)
	}
	if err := tb.Desk.Edit(ctx, th, m, Ana, "!say status"); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("the edit cancelled it", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliveryNotSent })
	if err := tb.SayReply(ctx, v.ID, Ana, "SORRY", bridge.MessageRef{}); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("published", func() bool { return len(tb.Net.Published()) == 1 })
	if got := tb.Net.Published()[0].Text; got != "Sorry ana, we are looking into E-1." {
		t.Errorf("published %q", got)
	}
	cv, _ := tb.Case(v.ID)
	if strings.Join(cv.Replies, ",") != "sorry,status,long" {
		t.Errorf("the card's picker: %v", cv.Replies)
	}

	// In an incident's thread a saved reply is the acknowledgement.
	complain(tb, "bo", "@brand broadband down in braga")
	inc, err := tb.DeclareIncident(ctx, "support", Bea, "Braga", []string{"broadband", "braga"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.SayIncident(ctx, inc.ID, Bea, "sorry", bridge.MessageRef{}); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("bo's acknowledgement", func() bool { return len(published(tb, "bo")) == 1 })
	if got := published(tb, "bo")[0].Text; got != "@bo Sorry bo, we are looking into E-2." {
		t.Errorf("published %q", got)
	}
}
