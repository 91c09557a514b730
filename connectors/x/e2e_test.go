package x

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// End to end with the real core: mention → case → claimed reply published
// on the fake; follow-up joins the case; move to DM continues by DM.
func TestEndToEndWithBridge(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.DirectMessages = true
	n := fx.network(t)
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: "x", Mentions: true, RepliesToUs: true, Direct: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{n},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return n.Connected() },
	})
	ctx := context.Background()

	mention := fx.tweet(t, "@earshot my train is 40 minutes late", "")
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, cv := connectortest.ClaimFirstCase(t, b, desk, staff)
	tref := bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread}
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: tref,
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Sorry Ana, the 8:10 is delayed by a signal fault.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the reply on X", func() bool { return len(fx.fake.Published()) == 1 })
	pub := fx.fake.Published()[0]
	if pub.InReplyTo != mention || !strings.Contains(pub.Text, "signal fault") {
		t.Errorf("published %+v, want a reply to %s", pub, mention)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })

	// The customer answers our reply: it joins the same case's thread.
	fx.tweet(t, "@earshot thanks, any estimate?", pub.ID)
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the thread", func() bool {
		for _, m := range desk.Messages(thread) {
			if strings.Contains(m.Text, "any estimate") {
				return true
			}
		}
		return false
	})

	// Move to DM: the next claimer message goes out as a DM, and the
	// customer's DM answer joins the case.
	if err := moveToDM(ctx, b, cv.ID, staff, "We sent you a DM."); err != nil {
		t.Fatal(err)
	}
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: tref,
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S2", Author: "U1"}, Staff: staff,
		Text: "What is your booking number?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the DM on X", func() bool {
		for _, d := range fx.fake.DMs() {
			if d.SenderID == fx.fake.Us().ID && d.RecipientID == fx.ana.ID && strings.Contains(d.Text, "booking number") {
				return true
			}
		}
		return false
	})
	fx.fake.SendDM(fx.ana.ID, fx.fake.Us().ID, "It is ABC123")
	connectortest.WaitFor(t, 10*time.Second, "the customer's DM in the thread", func() bool {
		for _, m := range desk.Messages(thread) {
			if strings.Contains(m.Text, "ABC123") {
				return true
			}
		}
		return false
	})
}

// moveToDM adapts to the core's MoveToDM (which returns the updated case).
func moveToDM(ctx context.Context, b *bridge.Bridge, id bridge.CaseID, by bridge.Staff, text string) error {
	_, err := b.MoveToDM(ctx, id, by, text)
	return err
}

// Posting costs money: with the real core, a post X refused before taking
// it (503) is retried, every attempt counted; a post X failed while taking
// (500) may exist, so it is shown as uncertain after one attempt and never
// sent again by itself.
func TestEndToEndNoAutomaticRetryOfAPostThatMayHaveGoneOut(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: "x", Mentions: true, RepliesToUs: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
				Retry:         bridge.RetryConfig{Attempts: 5, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond},
			},
			Networks: []bridge.Network{n},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return n.Connected() },
	})
	ctx := context.Background()

	fx.tweet(t, "@earshot my bag never arrived", "")
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, _ := connectortest.ClaimFirstCase(t, b, desk, staff)
	say := func(id, text string) {
		t.Helper()
		if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
			Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: id, Author: "U1"}, Staff: staff,
			Text: text, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	attempts := func() int { return fx.obs.Count("x publish ok") + fx.obs.Count("x publish error") }

	fx.fake.FailNext(503, 1, 0)
	say("S1", "Sorry, we are looking for it.")
	connectortest.WaitFor(t, 10*time.Second, "sent after the 503", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })
	if got, want := fx.fake.PublishAttempts(), 2; got != want || attempts() != want {
		t.Errorf("after a 503 and a retry: X saw %d attempts, metrics counted %d; want %d", got, attempts(), want)
	}

	fx.fake.FailNext(500, 1, 0)
	say("S2", "Found it, it comes tomorrow.")
	connectortest.WaitFor(t, 10*time.Second, "the uncertain mark", func() bool { return desk.MarkOf("S2").State == bridge.DeliveryUncertain })
	if got, want := fx.fake.PublishAttempts(), 3; got != want || attempts() != want {
		t.Errorf("after a 500: X saw %d attempts, metrics counted %d; want %d (no retry of a post that may exist)", got, attempts(), want)
	}
	if m := desk.MarkOf("S2"); !strings.Contains(m.Reason, "may have been published") {
		t.Errorf("uncertain mark %+v does not tell staff it may be out", m)
	}
}
