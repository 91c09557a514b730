package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// recDesk is a minimal recording bridge.Desk for end-to-end tests.
type recDesk struct {
	mu      sync.Mutex
	threads map[string]bridge.CaseView
	posts   map[string][]bridge.DeskMessage
	marks   map[string]bridge.Delivery
	n       int
}

func newRecDesk() *recDesk {
	return &recDesk{threads: map[string]bridge.CaseView{}, posts: map[string][]bridge.DeskMessage{}, marks: map[string]bridge.Delivery{}}
}

func (d *recDesk) Name() string                                     { return "rec" }
func (d *recDesk) Listen(ctx context.Context, _ bridge.Inbox) error { <-ctx.Done(); return nil }
func (d *recDesk) OpenThread(_ context.Context, ch string, c bridge.CaseView) (bridge.ThreadRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	id := fmt.Sprintf("T%d", d.n)
	d.threads[id] = c
	return bridge.ThreadRef{Desk: "rec", Channel: ch, ID: id}, nil
}
func (d *recDesk) UpdateCard(_ context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.threads[t.ID] = c
	return nil
}
func (d *recDesk) Post(_ context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	d.posts[t.ID] = append(d.posts[t.ID], m)
	return bridge.MessageRef{Desk: "rec", Channel: t.Channel, Thread: t.ID, ID: fmt.Sprintf("M%d", d.n)}, nil
}
func (d *recDesk) Mark(_ context.Context, m bridge.MessageRef, s bridge.Delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks[m.ID] = s
	return nil
}

func (d *recDesk) snapshot() (map[string]bridge.CaseView, map[string][]bridge.DeskMessage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	th := map[string]bridge.CaseView{}
	for k, v := range d.threads {
		th[k] = v
	}
	ps := map[string][]bridge.DeskMessage{}
	for k, v := range d.posts {
		ps[k] = append([]bridge.DeskMessage(nil), v...)
	}
	return th, ps
}

// End to end with the real core: a signed post → case → claimed reply
// delivered, signed, to the receiver; the customer's answer joins the case.
func TestEndToEndWithBridge(t *testing.T) {
	fx := newFixture(t, nil)
	desk := newRecDesk()
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
	var thread string
	var cv bridge.CaseView
	connectortest.WaitFor(t, 10*time.Second, "a case thread", func() bool {
		th, _ := desk.snapshot()
		for id, c := range th {
			thread, cv = id, c
			return true
		}
		return false
	})
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	if _, err := b.Claim(ctx, cv.ID, staff); err != nil {
		t.Fatal(err)
	}
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
		th, ps := desk.snapshot()
		if len(th) != 1 {
			return false
		}
		for _, m := range ps[thread] {
			if strings.Contains(m.Text, "Got it") {
				return true
			}
		}
		return false
	})
}

// Outbound retries with the real core: a 5xx and then a timeout after
// sending are retried by the outbox, each attempt signed and carrying the
// one idempotency key, so the receiver publishes the reply once.
func TestEndToEndRetriesUnderOneIdempotencyKey(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) { c.RequestTimeout = 300 * time.Millisecond })
	desk := newRecDesk()
	b, err := bridge.New(bridge.Options{
		Config: bridge.Config{
			Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
			Watch:         []bridge.WatchRule{{Network: "webhook", Mentions: true, RepliesToUs: true}},
			Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
			UndoWindowSet: true,
			Retry:         bridge.RetryConfig{Attempts: 5, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond},
		},
		DataDir:  t.TempDir(),
		Networks: []bridge.Network{fx.net},
		Desks:    []bridge.Desk{desk},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	connectortest.WaitFor(t, 10*time.Second, "bridge ready", func() bool { return b.Ready() && fx.net.Listening() })

	if _, res, err := fx.site.Post(ctx, ana, "The app charged me twice", webhookfake.PostOptions{}); err != nil || res.Status != 200 {
		t.Fatalf("post: %v %+v", err, res)
	}
	var thread string
	var cv bridge.CaseView
	connectortest.WaitFor(t, 10*time.Second, "a case thread", func() bool {
		th, _ := desk.snapshot()
		for id, c := range th {
			thread, cv = id, c
			return true
		}
		return false
	})
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	if _, err := b.Claim(ctx, cv.ID, staff); err != nil {
		t.Fatal(err)
	}
	fx.site.FailNext(503, 1, 0) // first attempt: the receiver fails
	fx.site.DropNext(1)         // second: taken, but the answer never comes
	if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew,
		Thread:  bridge.ThreadRef{Desk: "rec", Channel: "C1", ID: thread},
		Message: bridge.MessageRef{Desk: "rec", Channel: "C1", Thread: thread, ID: "S1", Author: "U1"}, Staff: staff,
		Text: "Sorry! The second charge is refunded.", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.markOf("S1").State == bridge.DeliverySent })
	reps := fx.site.Replies()
	if fx.site.Attempts() != 3 || len(reps) != 1 || reps[0].Deliveries != 2 || reps[0].IdempotencyKey == "" {
		t.Errorf("receiver saw %d attempts and replies %+v; want 3 attempts, one reply delivered twice (signed) under one key",
			fx.site.Attempts(), reps)
	}
}

func (d *recDesk) markOf(id string) bridge.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.marks[id]
}
