package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// End to end with the real core: a signed post → case → claimed reply
// delivered, signed, to the receiver; the customer's answer joins the case.
func TestEndToEndWithBridge(t *testing.T) {
	fx := newFixture(t, nil)
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: "webhook", Mentions: true, RepliesToUs: true, Direct: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.net.Listening() },
	})
	ctx := context.Background()

	first, res, err := fx.site.Post(ctx, ana, "Two weeks and still no refund", webhookfake.PostOptions{})
	if err != nil || res.Status != 200 {
		t.Fatalf("post: %v %+v", err, res)
	}
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, cv := connectortest.ClaimFirstCase(t, b, desk, staff)
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew,
		Thread:  bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Sorry! The refund went out today.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the reply at the receiver", func() bool { return len(fx.site.Replies()) == 1 })
	rep := fx.site.Replies()[0]
	if rep.InReplyTo != first.ID || rep.To.ID != ana.ID || rep.Case != string(cv.ID) || rep.IdempotencyKey == "" {
		t.Errorf("reply %+v", rep)
	}
	if _, _, err := fx.site.Post(ctx, ana, "Got it, thanks", webhookfake.PostOptions{InReplyTo: rep.ID}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the same thread", func() bool {
		return len(desk.Threads()) == 1 && desk.HasMessage(thread, "Got it")
	})
}

// Outbound retries with the real core: a 5xx and then a timeout after
// sending are retried by the outbox, each attempt signed and carrying the
// one idempotency key, so the receiver publishes the reply once.
func TestEndToEndRetriesUnderOneIdempotencyKey(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) { c.RequestTimeout = 300 * time.Millisecond })
	desk := connectortest.NewRecordingDesk()
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
				Watch:         []bridge.WatchRule{{Network: "webhook", Mentions: true, RepliesToUs: true}},
				Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
				UndoWindowSet: true,
				Retry:         bridge.RetryConfig{Attempts: 5, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond},
			},
			Networks: []bridge.Network{fx.net},
			Desks:    []bridge.Desk{desk},
		},
		Ready: func() bool { return fx.net.Listening() },
	})
	ctx := context.Background()

	if _, res, err := fx.site.Post(ctx, ana, "The app charged me twice", webhookfake.PostOptions{}); err != nil || res.Status != 200 {
		t.Fatalf("post: %v %+v", err, res)
	}
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	thread, _ := connectortest.ClaimFirstCase(t, b, desk, staff)
	fx.site.FailNext(503, 1, 0) // first attempt: the receiver fails
	fx.site.DropNext(1)         // second: taken, but the answer never comes
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew,
		Thread:  bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Sorry! The second charge is refunded.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.MarkOf("S1").State == bridge.DeliverySent })
	reps := fx.site.Replies()
	if fx.site.Attempts() != 3 || len(reps) != 1 || reps[0].Deliveries != 2 || reps[0].IdempotencyKey == "" {
		t.Errorf("receiver saw %d attempts and replies %+v; want 3 attempts, one reply delivered twice (signed) under one key",
			fx.site.Attempts(), reps)
	}
}
