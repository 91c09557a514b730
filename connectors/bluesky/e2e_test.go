package bluesky

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// End to end with the real core: a mention becomes a case; the claimer's
// thread message is published as a correct reply (root/parent refs) on the
// fake; the follow-up joins the case; the DM handoff goes through the chat
// proxy and the customer's DM answer joins the case.
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

	mention := fx.post(t, "@"+blueskyfake.OurHandle+" my train is 40 minutes late", "")
	thread, cv := connectortest.ClaimFirstCase(t, b, desk, rui)
	staff := rui
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
	connectortest.WaitFor(t, 10*time.Second, "the reply on Bluesky", func() bool { return len(fx.fake.Published()) == 1 })
	pub := fx.fake.Published()[0]
	if r := pub.Record.Reply; r == nil || r.Parent.URI != mention || r.Root.URI != mention {
		t.Errorf("published %+v, want a reply to %s", pub.Record, mention)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })

	fx.post(t, "thanks, any estimate?", pub.URI)
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the thread", func() bool { return desk.HasMessage(thread, "any estimate") })
	if len(desk.Threads()) != 1 {
		t.Errorf("the follow-up opened another thread: %v", desk.Threads())
	}

	if _, err := b.MoveToDM(ctx, cv.ID, staff, "We sent you a DM."); err != nil {
		t.Fatal(err)
	}
	say("S2", "What is your booking number?")
	connectortest.WaitFor(t, 10*time.Second, "the DM", func() bool {
		for _, m := range fx.fake.DMs(fx.ana.DID) {
			if m.From == fx.fake.Us().DID && strings.Contains(m.Text, "booking number") {
				return true
			}
		}
		return false
	})
	if _, err := fx.fake.SendDM(fx.ana.DID, fx.fake.Us().DID, "It is ABC123"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the customer's DM in the thread", func() bool { return desk.HasMessage(thread, "ABC123") })
}

// End to end with the real core, the PDS losing the answer to the reply's
// createRecord after storing it: the outbox retries (Bluesky is
// Idempotent), the retry writes the same record key and finds the post,
// and the timeline shows the reply once, marked sent with its link. Lost
// as a 502 (resolved in the attempt by reading the record back) and as no
// answer until the attempt's deadline (resolved by the outbox's retry).
func TestEndToEndLostAnswerPublishesOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status int
	}{{"502", 502}, {"no answer", 0}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, Config{})
			desk := connectortest.NewRecordingDesk()
			b := connectortest.StartBridge(t, connectortest.BridgeRun{
				Options: bridge.Options{
					Config: bridge.Config{
						Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
						Watch:         []bridge.WatchRule{{Network: Name, Mentions: true}},
						Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
						UndoWindowSet: true,
						Retry:         bridge.RetryConfig{Backoff: 10 * time.Millisecond},
					},
					Networks:       []bridge.Network{fx.net},
					Desks:          []bridge.Desk{desk},
					PublishTimeout: time.Second, // the lost answer's attempt ends here
				},
				Ready: func() bool { return fx.fake.Streams() > 0 },
			})
			ctx := context.Background()
			fx.post(t, "@"+blueskyfake.OurHandle+" no signal since noon", "")
			thread, _ := connectortest.ClaimFirstCase(t, b, desk, rui)
			fx.fake.LoseNext(c.status, 1)
			text := "Sorry, a mast is down near you; it is being fixed."
			tref := bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread}
			if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: tref,
				Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: rui,
				Text: text, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			connectortest.WaitFor(t, 15*time.Second, "the sent mark", func() bool {
				s := desk.MarkOf("S1").State
				if s == bridge.DeliveryFailed || s == bridge.DeliveryUncertain {
					t.Fatalf("the reply was marked %s: %+v", s, desk.MarkOf("S1"))
				}
				return s == bridge.DeliverySent
			})
			posts := published(fx, text)
			if len(posts) != 1 {
				t.Fatalf("the timeline shows the reply %d times, want once", len(posts))
			}
			if m := desk.MarkOf("S1"); !strings.HasSuffix(m.Link, "/post/"+posts[0].Rkey) {
				t.Errorf("sent mark links %q, want the post %s", m.Link, posts[0].URI)
			}
		})
	}
}

// End to end with the real core: a DM whose answer is lost after the chat
// service took it is not sent again by the outbox, though the network is
// Idempotent; the staff message is marked with why and what to check.
func TestEndToEndLostDMAnswerIsNotResent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: Name, Mentions: true, Direct: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
				Retry:         bridge.RetryConfig{Backoff: 10 * time.Millisecond},
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.fake.Streams() > 0 },
	})
	ctx := context.Background()
	fx.post(t, "@"+blueskyfake.OurHandle+" charged twice this month", "")
	thread, cv := connectortest.ClaimFirstCase(t, b, desk, rui)
	staff := rui
	if _, err := b.MoveToDM(ctx, cv.ID, staff, ""); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the public DM line", func() bool { return len(published(fx, bridge.DMNotice)) == 1 })
	fx.fake.LoseNext(502, 1)
	tref := bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread}
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: tref,
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Which card was charged?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the DM's mark", func() bool {
		s := desk.MarkOf("S1").State
		return s != "" && s != bridge.DeliveryPending
	})
	m := desk.MarkOf("S1")
	if m.State != bridge.DeliveryUncertain || !strings.Contains(m.Reason, "may have been delivered") || m.Retry == "" {
		t.Errorf("mark %+v; want uncertain, saying it may have been delivered, with send again", m)
	}
	if n := len(ourDMs(fx, fx.ana.DID)); n != 1 {
		t.Errorf("%d DMs reached the customer, want the 1 the lost answer hid", n)
	}
}

// rui is the staff member the end-to-end tests act as.
var rui = bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
