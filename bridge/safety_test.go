package bridge_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// The public-speech rules of DESIGN.md, one by one: nothing is published
// unless the claimer wrote it, and every message that is not sent says why.

// notSent waits for m's private not-sent explanation and returns it.
func notSent(tb *TestBridge, m bridge.MessageRef) string {
	tb.T.Helper()
	var d bridge.Delivery
	tb.WaitFor("the not-sent mark on "+m.ID, func() bool {
		d = tb.Desk.LastMark(m.ID)
		return d.State == bridge.DeliveryNotSent
	})
	if !d.Private || d.Reason == "" {
		tb.T.Errorf("mark %+v: a not-sent message needs a private reason", d)
	}
	return d.Reason
}

// settle lets the undo window pass and the outbox run.
func settle(tb *TestBridge) {
	tb.Clock.Advance(time.Minute)
	time.Sleep(20 * time.Millisecond)
	tb.Clock.Advance(time.Minute)
}

func TestOnlyTheClaimerPublishes(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand where is my refund")

	unclaimed := tb.Say(th, Ana, "Hi Ana, looking into it")
	if r := notSent(tb, unclaimed); !strings.Contains(r, "Nobody has claimed "+string(v.ID)) || !strings.Contains(r, "!claim") {
		t.Errorf("unclaimed reason %q", r)
	}
	tb.MustClaim(v.ID, Ana)
	other := tb.Say(th, Bea, "I think this is the duplicate charge bug")
	if r := notSent(tb, other); !strings.Contains(r, "Ana holds the claim") {
		t.Errorf("non-claimer reason %q", r)
	}
	stranger := tb.Say(th, Zed, "hello?")
	if r := notSent(tb, stranger); !strings.Contains(r, "staff list") {
		t.Errorf("not-staff reason %q", r)
	}
	for _, text := range []string{"note: check her VIP status", "NOTE: caps too", "Note:mixed", "// internal only"} {
		m := tb.Say(th, Ana, text)
		if r := notSent(tb, m); !strings.Contains(r, "note") && !strings.Contains(r, "A note") {
			t.Errorf("%q reason %q", text, r)
		}
	}
	cmd := tb.Say(th, Ana, "!nosuchcommand")
	reply := tb.Say(th, Ana, "Sorry Ana, the refund is on its way.")
	settle(tb)
	tb.WaitFor("the claimer's reply", func() bool { return len(tb.Net.Published()) == 1 })
	settle(tb)
	pub := tb.Net.Published()
	if len(pub) != 1 || pub[0].Text != "Sorry Ana, the refund is on its way." || pub[0].InReplyTo != v.First.ID || pub[0].To.ID != v.Customer.ID {
		t.Fatalf("published %+v, want only the claimer's reply to the complaint", pub)
	}
	tb.WaitFor("the sent mark", func() bool { return tb.Desk.LastMark(reply.ID).State == bridge.DeliverySent })
	if l := tb.Desk.LastMark(reply.ID).Link; !strings.HasPrefix(l, "https://net.example/") {
		t.Errorf("sent mark link %q", l)
	}
	if len(tb.Desk.Marks(cmd.ID)) != 0 {
		t.Errorf("a command got a delivery mark: %+v", tb.Desk.Marks(cmd.ID))
	}
	tb.WaitFor("the command's private answer", func() bool {
		for _, n := range tb.Desk.Notes(Ana.ID) {
			if strings.Contains(n.Text, "nosuchcommand") || strings.Contains(n.Text, "not set up") {
				return true
			}
		}
		return false
	})
	if r := value(tb, "earshot_replies_total", map[string]string{"network": "net", "result": "refused"}); r != 1 {
		t.Errorf("refused replies counted %v, want 1 (the unclaimed one; notes are not refusals)", r)
	}
}

func TestFirstReplierClaimsWhenTheQueueOptsIn(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.Queues[0].FirstReplierClaims = true }))
	v, th, _ := tb.Complain("ana", "@brand help")
	tb.Say(th, Bea, "Hi! Checking now.")
	tb.WaitFor("Bea's claim", func() bool { c, _ := tb.Case(v.ID); return c.Assignee == Bea.Key() })
	settle(tb)
	tb.WaitFor("Bea's reply", func() bool { return len(tb.Net.Published()) == 1 })
	m := tb.Say(th, Ana, "I can take it")
	if r := notSent(tb, m); !strings.Contains(r, "Bea holds the claim") {
		t.Errorf("reason %q", r)
	}
	// Not staff never claims by writing.
	v2, th2, _ := tb.Complain("bo", "@brand also")
	z := tb.Say(th2, Zed, "hi")
	notSent(tb, z)
	if c, _ := tb.Case(v2.ID); c.Assignee != "" {
		t.Errorf("a stranger claimed by writing: %+v", c.Case)
	}
}

func TestOverTheLimitIsNotCutAndNotSent(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	tb.Net.SetLimits(bridge.TextLimits{Max: 20, PrivateMax: 40, Unit: "graphemes"})
	v, th, _ := tb.Complain("ana", "@brand hi")
	tb.MustClaim(v.ID, Ana)
	long := tb.Say(th, Ana, strings.Repeat("x", 21))
	r := notSent(tb, long)
	if !strings.Contains(r, "21 graphemes") || !strings.Contains(r, "20") || !strings.Contains(r, "shorten") {
		t.Errorf("reason %q: it must give the count and the limit", r)
	}
	if _, err := tb.MoveToDM(ctx, v.ID, Ana, strings.Repeat("y", 41)); err == nil || !strings.Contains(err.Error(), "41") {
		t.Errorf("an over-long DM: %v", err)
	}
	ok := tb.Say(th, Ana, strings.Repeat("z", 20))
	settle(tb)
	tb.WaitFor("the fitting reply", func() bool { return tb.Desk.LastMark(ok.ID).State == bridge.DeliverySent })
	if n := len(tb.Net.Attempts()); n != 1 {
		t.Errorf("%d publish attempts, want 1", n)
	}
}

// A text the network refuses whatever its length (X and U+FFFE) is
// refused at the gate, explained, and never attempted.
func TestRefusedByTheNetworkIsNotSent(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	tb.Net.SetLimits(bridge.TextLimits{Max: 280, Refuse: func(text string, private bool) string {
		if strings.ContainsRune(text, '\uFFFE') && !private {
			return "It holds U+FFFE, which the network refuses in a post."
		}
		return ""
	}})
	v, th, _ := tb.Complain("ana", "@brand hi")
	tb.MustClaim(v.ID, Ana)
	bad := tb.Say(th, Ana, "Sorry\uFFFE for the wait")
	if r := notSent(tb, bad); !strings.Contains(r, "U+FFFE") {
		t.Errorf("reason %q: it must say what the network refuses", r)
	}
	ok := tb.Say(th, Ana, "Sorry for the wait")
	settle(tb)
	tb.WaitFor("the other reply", func() bool { return tb.Desk.LastMark(ok.ID).State == bridge.DeliverySent })
	if n := len(tb.Net.Attempts()); n != 1 {
		t.Errorf("%d publish attempts, want 1", n)
	}
}

func TestUndoWindowEditAndDelete(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand my bill")
	tb.MustClaim(v.ID, Ana)

	edited := tb.Say(th, Ana, "Sorry, we overcharged yuo")
	tb.WaitFor("pending with its window", func() bool {
		d := tb.Desk.LastMark(edited.ID)
		return d.State == bridge.DeliveryPending && d.Until.Equal(Start.Add(10*time.Second))
	})
	tb.Clock.Advance(5 * time.Second)
	if err := tb.Desk.Edit(ctx, th, edited, Ana, "Sorry, we overcharged you"); err != nil {
		t.Fatal(err)
	}
	deleted := tb.Say(th, Ana, "Wrong customer!")
	if err := tb.Desk.Delete(ctx, th, deleted, Ana); err != nil {
		t.Fatal(err)
	}
	intoNote := tb.Say(th, Ana, "Call her back")
	if err := tb.Desk.Edit(ctx, th, intoNote, Ana, "note: call her back"); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(4 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Fatalf("%d attempts inside the undo window", n)
	}
	settle(tb)
	tb.WaitFor("the edited reply", func() bool { return len(tb.Net.Published()) == 1 })
	settle(tb)
	if pub := tb.Net.Published(); len(pub) != 1 || pub[0].Text != "Sorry, we overcharged you" {
		t.Fatalf("published %+v, want only the edited text", pub)
	}
	if r := notSent(tb, intoNote); !strings.Contains(r, "note") {
		t.Errorf("edited-into-note reason %q", r)
	}
	it, _ := tb.OutboxFor(deleted)
	if it.State != bridge.OutboxCancelled {
		t.Errorf("the deleted reply is %s", it.State)
	}
	if got := value(tb, "earshot_replies_total", map[string]string{"network": "net", "result": "cancelled"}); got != 2 {
		t.Errorf("cancelled counted %v, want 2", got)
	}
	// After publication an edit changes nothing public, and says so.
	if err := tb.Desk.Edit(ctx, th, edited, Ana, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the after-publication note", func() bool {
		for _, n := range tb.Desk.Notes(Ana.ID) {
			if strings.Contains(n.Text, "keeps the text that was sent") {
				return true
			}
		}
		return false
	})
	// A delete after publication is told to the whole thread, with the link.
	if err := tb.Desk.Delete(ctx, th, edited, Ana); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the still-public line", func() bool { return tb.Desk.HasMessage(th.ID, "still public") })
	if len(tb.Net.Published()) != 1 {
		t.Errorf("published %d", len(tb.Net.Published()))
	}
}

func TestTheClaimMovingInTheWindowStopsTheReply(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand broken")
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "On it!")
	if _, err := tb.Assign(ctx, v.ID, Lee, Bea); err != nil {
		t.Fatal(err)
	}
	settle(tb)
	if r := notSent(tb, m); !strings.Contains(r, "Bea holds the claim") {
		t.Errorf("reason %q", r)
	}
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Errorf("%d attempts after the claim moved", n)
	}
}

func TestResolvedCasePublishesNothing(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand broken")
	tb.MustClaim(v.ID, Ana)
	if _, err := tb.Resolve(ctx, v.ID, Ana, "fixed"); err != nil {
		t.Fatal(err)
	}
	m := tb.Say(th, Ana, "Glad it works!")
	if r := notSent(tb, m); !strings.Contains(r, "resolved") || !strings.Contains(r, "reopen") {
		t.Errorf("reason %q", r)
	}
	if err := tb.Reply(ctx, v.ID, Ana, "and again", bridge.MessageRef{}); !bridge.IsUserError(err) {
		t.Errorf("reply to a resolved case: %v", err)
	}
}

// A desk delivering the same message twice, and a Retry pressed twice:
// one publication each.
func TestNoDuplicatePublication(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand hi")
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "Hello Ana")
	again := bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Message: m, Staff: Ana, Text: "Hello Ana"}
	if err := tb.StaffMessage(ctx, again); err != nil {
		t.Fatal(err)
	}
	tb.Net.FailNext(bridge.Permanent(errors.New("403"), "the account is suspended"))
	settle(tb)
	tb.WaitFor("the failure", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliveryFailed })
	d := tb.Desk.LastMark(m.ID)
	if d.Retry == "" || !strings.Contains(d.Reason, "suspended") {
		t.Fatalf("failed mark %+v: it needs the reason and a retry id", d)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = tb.Retry(ctx, d.Retry, Ana) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("double press: %v / %v, want exactly one accepted", errs[0], errs[1])
	}
	for _, err := range errs {
		// The second press finds it queued, or (when the first went out
		// that fast) published.
		if err != nil && !strings.Contains(err.Error(), "already on its way") && !strings.Contains(err.Error(), "published already") {
			t.Errorf("second press: %v", err)
		}
	}
	settle(tb)
	tb.WaitFor("sent after the retry", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	settle(tb)
	if n := len(tb.Net.Published()); n != 1 {
		t.Errorf("published %d times, want once", n)
	}
	if err := tb.Retry(ctx, d.Retry, Ana); err == nil || !strings.Contains(err.Error(), "published already") {
		t.Errorf("retry of a sent reply: %v", err)
	}
	if err := tb.Retry(ctx, d.Retry, Bea); err == nil {
		t.Errorf("someone else retried Ana's reply")
	}
}

// A crash after the attempt is journaled and before its outcome: on a
// network without idempotency the reply is shown as uncertain and never
// sent again by itself; on an idempotent one it is retried with the same
// key, and the network publishes it once.
func TestCrashBetweenAttemptAndOutcome(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		name := "plain"
		if idempotent {
			name = "idempotent"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := NewTestBridge(t)
			tb.Net.SetIdempotent(idempotent)
			v, th, _ := tb.Complain("ana", "@brand hello")
			tb.MustClaim(v.ID, Ana)
			m := tb.Say(th, Ana, "We are on it")
			held := tb.Net.Hold()
			settle(tb)
			<-held // the attempt is journaled and the network has it
			image := tb.CrashImage()
			tb.Net.Release()
			tb.WaitFor("the first run's publication", func() bool { return len(tb.Net.Published()) == 1 })
			firstKey := tb.Net.Published()[0].IdempotencyKey

			// The restart after the crash, against the same network (which,
			// when idempotent, remembers the key).
			net := tb.Net
			desk := NewDesk("desk")
			after := NewTestBridge(t, WithDataDir(image), WithNetwork(net), WithDesk(desk))
			it, _ := after.OutboxFor(m)
			if idempotent {
				settle(after)
				after.WaitFor("the retried attempt", func() bool { it, _ = after.Outbox(it.ID); return it.State == bridge.OutboxSent })
				a := net.Attempts()
				if len(a) != 2 || a[1].IdempotencyKey != firstKey || len(net.Published()) != 1 {
					t.Fatalf("attempts %d (want 2, the second with key %s), published %d (want 1)", len(a), firstKey, len(net.Published()))
				}
				return
			}
			after.WaitFor("the uncertain mark", func() bool { return desk.LastMark(m.ID).State == bridge.DeliveryUncertain })
			d := desk.LastMark(m.ID)
			if d.Retry != it.ID || d.Link == "" || !strings.Contains(d.Reason, "may or may not") {
				t.Errorf("uncertain mark %+v: it needs a link to check, the reason and a retry", d)
			}
			settle(after)
			if n := len(net.Attempts()); n != 1 {
				t.Fatalf("%d attempts in all, want 1: no automatic retry after the crash on a network without idempotency", n)
			}
			if got := value(after, "earshot_replies_total", map[string]string{"network": "net", "result": "uncertain"}); got != 1 {
				t.Errorf("uncertain counted %v", got)
			}
			// Staff checked: it is not there; they send it again.
			if err := after.Retry(ctx, it.ID, Ana); err != nil {
				t.Fatal(err)
			}
			settle(after)
			after.WaitFor("sent again", func() bool { return desk.LastMark(m.ID).State == bridge.DeliverySent })
		})
	}
}

// After a restart, a reply whose window ran out while Earshot was down
// gets a fresh window, so a delete made meanwhile still counts.
func TestRestartGivesAFreshUndoWindow(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	v, th, _ := tb.Complain("ana", "@brand hi")
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "Oops, wrong case")
	tb.Clock.Advance(time.Second)
	image := tb.CrashImage()

	clock := NewClock(Start.Add(time.Hour)) // down for an hour
	net, desk := NewNetwork("net"), NewDesk("desk")
	after := NewTestBridge(t, WithDataDir(image), WithNetwork(net), WithDesk(desk), WithClock(clock))
	it, _ := after.OutboxFor(m)
	if it.State != bridge.OutboxQueued || !it.Due.Equal(clock.Now().Add(10*time.Second)) {
		t.Fatalf("after restart: %s due %v, want queued with a fresh window", it.State, it.Due)
	}
	if err := desk.Delete(ctx, th, m, Ana); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := len(net.Attempts()); n != 0 {
		t.Errorf("%d attempts of a reply deleted during the fresh window", n)
	}
}

// Fifty staff claim one case at once: exactly one wins; every other is
// told who has it.
func TestClaimRace(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) {
		for i := range 50 {
			c.Staff = append(c.Staff, bridge.StaffRule{Desk: "desk", User: racer(i).ID, Role: bridge.RoleAgent})
		}
	}))
	v, _, _ := tb.Complain("ana", "@brand race")
	errs := make([]error, 50)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = tb.Claim(ctx, v.ID, racer(i)) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("two winners: %d and %d", winner, i)
			}
			winner = i
		} else if !bridge.IsUserError(err) || !strings.Contains(err.Error(), "already claimed by") {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	c, _ := tb.Case(v.ID)
	if winner < 0 || c.Assignee != racer(winner).Key() {
		t.Fatalf("winner %d, case claimed by %q", winner, c.Assignee)
	}
}

func racer(i int) bridge.Staff {
	return bridge.Staff{Desk: "desk", ID: "R" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Name: "Racer"}
}

// The same message delivered many times at once (a desk retrying while the
// first delivery is being journaled) queues one reply.
func TestConcurrentRedeliveriesQueueOnce(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.UndoWindow = 0 }))
	v, th, _ := tb.Complain("ana", "@brand hi")
	tb.MustClaim(v.ID, Ana)
	m := bridge.MessageRef{Desk: "desk", Channel: th.Channel, Thread: th.ID, ID: "dup-1", Author: Ana.ID}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := tb.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Message: m, Staff: Ana, Text: "Once only"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tb.WaitFor("the reply", func() bool { return len(tb.Net.Published()) == 1 })
	settle(tb)
	time.Sleep(20 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 1 {
		t.Errorf("%d attempts for one message delivered 20 times", n)
	}
}

// eagerDesk shows the card and has staff act in the thread before it
// answers OpenThread, as a fast person or a fast desk can.
type eagerDesk struct {
	*Desk
	act func(t bridge.ThreadRef)
}

func (d *eagerDesk) OpenThreadKeyed(ctx context.Context, ch string, c bridge.CaseView, key string) (bridge.ThreadRef, error) {
	t, err := d.Desk.OpenThreadKeyed(ctx, ch, c, key)
	if err == nil && d.act != nil {
		go d.act(t)
		time.Sleep(50 * time.Millisecond) // the answer is slower than the staff member
	}
	return t, err
}

// A message in a thread whose card shows but which the bridge has not
// recorded yet waits for it instead of being dropped as "not a case".
func TestStaffActingInABrandNewThread(t *testing.T) {
	t.Parallel()
	desk := NewDesk("desk")
	eager := &eagerDesk{Desk: desk}
	net := NewNetwork("net")
	b, err := bridge.New(bridge.Options{Config: DefaultConfig(), Networks: []bridge.Network{net}, Desks: []bridge.Desk{eager}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan bridge.MessageRef, 1)
	eager.act = func(th bridge.ThreadRef) {
		m := bridge.MessageRef{Desk: "desk", Channel: th.Channel, Thread: th.ID, ID: "early", Author: Ana.ID}
		if err := b.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: th, Message: m, Staff: Ana, Text: "first!"}); err != nil {
			t.Error(err)
		}
		if v, ok := b.CaseForThread(th); !ok || v.ID == "" {
			t.Error("the brand-new thread is not a case")
		}
		got <- m
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	if err := b.Post(ctx, Mention(Customer("ana"), "@brand hi")); err != nil {
		t.Fatal(err)
	}
	m := <-got
	deadline := time.Now().Add(10 * time.Second)
	for desk.LastMark(m.ID).State != bridge.DeliveryNotSent {
		if time.Now().After(deadline) {
			t.Fatalf("the early message got no not-sent mark (marks %+v): it was dropped", desk.Marks(m.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
