package x

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// recDesk is a minimal recording bridge.Desk for end-to-end tests.
type recDesk struct {
	mu      sync.Mutex
	threads map[string]bridge.CaseView // thread id -> latest card
	posts   map[string][]bridge.DeskMessage
	marks   map[string]bridge.Delivery // message id -> latest mark
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

func (d *recDesk) thread() (string, bridge.CaseView, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.threads {
		return id, c, true
	}
	return "", bridge.CaseView{}, false
}

func (d *recDesk) mark(id string) bridge.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.marks[id]
}

func (d *recDesk) followUps(thread string) []bridge.DeskMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bridge.DeskMessage(nil), d.posts[thread]...)
}

// End to end with the real core: mention → case → claimed reply published
// on the fake; follow-up joins the case; move to DM continues by DM.
func TestEndToEndWithBridge(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.DirectMessages = true
	n := fx.network(t)
	desk := newRecDesk()
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
	connectortest.WaitFor(t, 10*time.Second, "a case thread", func() bool { _, _, ok := desk.thread(); return ok })
	thread, cv, _ := desk.thread()
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	if _, err := b.Claim(ctx, cv.ID, staff); err != nil {
		t.Fatal(err)
	}
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
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool { return desk.mark("S1").State == bridge.DeliverySent })

	// The customer answers our reply: it joins the same case's thread.
	fx.tweet(t, "@earshot thanks, any estimate?", pub.ID)
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the thread", func() bool {
		for _, m := range desk.followUps(thread) {
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
		for _, m := range desk.followUps(thread) {
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
	desk := newRecDesk()
	b, err := bridge.New(bridge.Options{
		Config: bridge.Config{
			Queues:        []bridge.QueueConfig{{Name: "care", Desk: "rec", Channel: "C1"}},
			Watch:         []bridge.WatchRule{{Network: "x", Mentions: true, RepliesToUs: true}},
			Staff:         []bridge.StaffRule{{Desk: "rec", User: "U1", Role: bridge.RoleAgent}},
			UndoWindowSet: true,
			Retry:         bridge.RetryConfig{Attempts: 5, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond},
		},
		DataDir:  t.TempDir(),
		Networks: []bridge.Network{n},
		Desks:    []bridge.Desk{desk},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	connectortest.WaitFor(t, 10*time.Second, "bridge ready", func() bool { return b.Ready() && n.Connected() })

	fx.tweet(t, "@earshot my bag never arrived", "")
	connectortest.WaitFor(t, 10*time.Second, "a case thread", func() bool { _, _, ok := desk.thread(); return ok })
	thread, cv, _ := desk.thread()
	staff := bridge.Staff{Desk: "rec", ID: "U1", Name: "Rui"}
	if _, err := b.Claim(ctx, cv.ID, staff); err != nil {
		t.Fatal(err)
	}
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
	connectortest.WaitFor(t, 10*time.Second, "sent after the 503", func() bool { return desk.mark("S1").State == bridge.DeliverySent })
	if got, want := fx.fake.PublishAttempts(), 2; got != want || attempts() != want {
		t.Errorf("after a 503 and a retry: X saw %d attempts, metrics counted %d; want %d", got, attempts(), want)
	}

	fx.fake.FailNext(500, 1, 0)
	say("S2", "Found it, it comes tomorrow.")
	connectortest.WaitFor(t, 10*time.Second, "the uncertain mark", func() bool { return desk.mark("S2").State == bridge.DeliveryUncertain })
	if got, want := fx.fake.PublishAttempts(), 3; got != want || attempts() != want {
		t.Errorf("after a 500: X saw %d attempts, metrics counted %d; want %d (no retry of a post that may exist)", got, attempts(), want)
	}
	if m := desk.mark("S2"); !strings.Contains(m.Reason, "may have been published") {
		t.Errorf("uncertain mark %+v does not tell staff it may be out", m)
	}
}
