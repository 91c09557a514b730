package mastodon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// End to end with the real core: a mention becomes a case; the claimer's
// thread message is published as a reply on the fake, visible on its public
// timeline; the customer's follow-up joins the case; the DM handoff goes out
// as a direct status and the customer's DM answer joins the case too.
func TestEndToEndWithBridge(t *testing.T) {
	fx := newFixture(t, Config{})
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: Name, Mentions: true, RepliesToUs: true, Direct: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.fake.Streams() > 0 },
	})
	ctx := context.Background()

	mention := fx.post(t, "@earshot my train is 40 minutes late", "")
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, cv := connectortest.ClaimFirstCase(t, b, desk, staff)
	if cv.Customer.Handle != "ana@fake.social" || cv.Network != Name {
		t.Errorf("case %+v", cv.Case)
	}
	tref := bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread}
	say := func(id, text string) {
		t.Helper()
		if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: tref,
			Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: id, Author: "U1"}, Staff: staff,
			Text: text, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	say("S1", "Sorry Ana, the 8:10 is delayed by a signal fault.")
	connectortest.WaitFor(t, 10*time.Second, "the reply on Mastodon", func() bool { return len(fx.fake.Published()) == 1 })
	pub := fx.fake.Published()[0]
	if pub.InReplyTo != mention || pub.Visibility != "public" || !strings.HasPrefix(pub.Text, "@ana@fake.social ") {
		t.Errorf("published %+v, want a public reply to %s starting with the handle", pub, mention)
	}
	onTimeline := false
	for _, st := range fx.fake.PublicTimeline() {
		onTimeline = onTimeline || st.ID == pub.ID
	}
	if !onTimeline {
		t.Error("the reply is not on the public timeline")
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })
	if link := desk.MarkOf("S1").Link; !strings.Contains(link, pub.ID) {
		t.Errorf("sent mark links %q, want the status %s", link, pub.ID)
	}

	fx.post(t, "@earshot thanks, any estimate?", pub.ID)
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the thread", func() bool { return desk.HasMessage(thread, "any estimate") })
	if len(desk.Threads()) != 1 {
		t.Errorf("the follow-up opened another thread: %v", desk.Threads())
	}

	if _, err := b.MoveToDM(ctx, cv.ID, staff, "We sent you a DM."); err != nil {
		t.Fatal(err)
	}
	say("S2", "What is your booking number?")
	connectortest.WaitFor(t, 10*time.Second, "the DM", func() bool {
		for _, st := range fx.fake.DMs(fx.ana.ID) {
			if st.Account.ID == fx.fake.Us().ID && strings.Contains(st.Text, "booking number") {
				return true
			}
		}
		return false
	})
	if _, err := fx.fake.Post(fx.ana.ID, "@earshot It is ABC123", mastodonfake.PostOptions{Visibility: "direct"}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the customer's DM in the thread", func() bool { return desk.HasMessage(thread, "ABC123") })
}
