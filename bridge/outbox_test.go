package bridge_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// claimedThread opens a case claimed by Ana and returns it with its thread.
func claimedThread(tb *TestBridge) (bridge.CaseView, bridge.ThreadRef) {
	tb.T.Helper()
	v, th, _ := tb.Complain("ana", "@brand help")
	tb.MustClaim(v.ID, Ana)
	return v, th
}

// waitItem waits until m's outbox item satisfies cond and returns it.
func waitItem(tb *TestBridge, m bridge.MessageRef, what string, cond func(bridge.OutboxItem) bool) bridge.OutboxItem {
	tb.T.Helper()
	var it bridge.OutboxItem
	tb.WaitFor(what, func() bool {
		var ok bool
		it, ok = tb.OutboxFor(m)
		return ok && cond(it)
	})
	return it
}

// Retryable errors are retried with backoff, honouring the network's
// retry-after; the reply goes out once the network recovers.
func TestRetriesWithBackoffAndRetryAfter(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	_, th := claimedThread(tb)
	tb.Net.FailNext(bridge.Retryable(errors.New("503"), 0), bridge.Retryable(errors.New("429"), 7*time.Second))
	m := tb.Say(th, Ana, "Hang on")
	tb.Clock.Advance(10 * time.Second) // the undo window
	first := waitItem(tb, m, "the first retry scheduled", func(it bridge.OutboxItem) bool { return it.Attempts == 1 && it.State == bridge.OutboxQueued })
	if want := tb.Clock.Now().Add(time.Second); !first.Due.Equal(want) {
		t.Errorf("after the first failure due %v, want %v (1s backoff)", first.Due, want)
	}
	tb.Clock.Advance(time.Second)
	second := waitItem(tb, m, "the second retry scheduled", func(it bridge.OutboxItem) bool { return it.Attempts == 2 && it.State == bridge.OutboxQueued })
	if want := tb.Clock.Now().Add(7 * time.Second); !second.Due.Equal(want) {
		t.Errorf("after a 429 with retry-after 7s due %v, want %v", second.Due, want)
	}
	tb.Clock.Advance(6 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 2 {
		t.Fatalf("%d attempts before the retry-after passed, want 2", n)
	}
	tb.Clock.Advance(time.Second)
	waitItem(tb, m, "sent", func(it bridge.OutboxItem) bool { return it.State == bridge.OutboxSent })
	if n := len(tb.Net.Attempts()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	tb.WaitFor("the sent mark", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
}

// A reply goes out when it is due even if the clock reaches that moment
// while the scheduler is arming its timer for it: a wait worked out from
// an earlier reading of the clock lasted past the due time (with the
// manual clock, for ever), which is how TestRetriesWithBackoffAndRetryAfter
// flaked on a loaded machine.
func TestDueWhileTheSchedulerArmsItsTimer(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	_, th := claimedThread(tb)
	// The undo window ends just as the scheduler asks for its timer.
	tb.Clock.JumpBeforeTimer(tb.Clock.Now().Add(10*time.Second), 10*time.Second)
	m := tb.Say(th, Ana, "Hang on")
	waitItem(tb, m, "sent", func(it bridge.OutboxItem) bool { return it.State == bridge.OutboxSent })
	if n := len(tb.Net.Attempts()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// After the last try, or on a refusal, the failure is visible with its
// reason and a retry; a maybe-sent error is never retried by itself.
func TestFailuresAreVisible(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t)
	_, th := claimedThread(tb)

	tb.Net.FailNext(bridge.Retryable(errors.New("503"), 0), bridge.Retryable(errors.New("503"), 0), bridge.Retryable(errors.New("503"), 0))
	exhausted := tb.Say(th, Ana, "first")
	tb.Clock.Advance(10 * time.Second)
	for i := range 2 {
		waitItem(tb, exhausted, "a retry", func(it bridge.OutboxItem) bool { return it.Attempts == i+1 && it.State == bridge.OutboxQueued })
		tb.Clock.Advance(10 * time.Second)
	}
	it := waitItem(tb, exhausted, "failed", func(it bridge.OutboxItem) bool { return it.State == bridge.OutboxFailed })
	if !strings.Contains(it.Reason, "gave up after 3 tries") {
		t.Errorf("reason %q", it.Reason)
	}
	tb.WaitFor("the failed mark", func() bool {
		d := tb.Desk.LastMark(exhausted.ID)
		return d.State == bridge.DeliveryFailed && d.Retry == it.ID
	})

	tb.Net.FailNext(bridge.Permanent(errors.New("422"), "the post it answers was deleted"))
	refused := tb.Say(th, Ana, "second")
	tb.Clock.Advance(10 * time.Second)
	it = waitItem(tb, refused, "refused", func(it bridge.OutboxItem) bool { return it.State == bridge.OutboxFailed })
	if it.Attempts != 1 || !strings.Contains(it.Reason, "was deleted") {
		t.Errorf("a permanent error: %d attempts, reason %q", it.Attempts, it.Reason)
	}

	tb.Net.FailNext(&bridge.PublishError{Retryable: true, MaybeSent: true, Reason: "timed out after sending", Err: errors.New("timeout")})
	maybe := tb.Say(th, Ana, "third")
	tb.Clock.Advance(10 * time.Second)
	it = waitItem(tb, maybe, "uncertain", func(it bridge.OutboxItem) bool { return it.State == bridge.OutboxUncertain })
	tb.Clock.Advance(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 5 {
		t.Errorf("%d attempts, want 5 (3 + 1 + 1: nothing retried by itself after maybe-sent)", n)
	}
	if got := value(tb, "earshot_replies_total", map[string]string{"network": "net", "result": "failed"}); got != 2 {
		t.Errorf("failed counted %v", got)
	}
	if len(tb.Net.Published()) != 0 {
		t.Errorf("published %+v", tb.Net.Published())
	}
}

// A case's replies go out one at a time, in the order written.
func TestRepliesOfACaseGoInOrder(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.UndoWindow = 0 }))
	_, th := claimedThread(tb)
	held := tb.Net.Hold()
	tb.Say(th, Ana, "one")
	<-held
	tb.Say(th, Ana, "two")
	tb.Say(th, Ana, "three")
	time.Sleep(20 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 1 {
		t.Fatalf("%d attempts in flight for one case, want 1", n)
	}
	tb.Net.Release()
	tb.WaitFor("all three", func() bool { return len(tb.Net.Published()) == 3 })
	var got []string
	for _, r := range tb.Net.Published() {
		got = append(got, r.Text)
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Errorf("order %v", got)
	}
}

// Move to DM: a short public line, then the text by DM, and later replies
// by DM too; refused where the network has no DMs.
func TestMoveToDM(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) { c.UndoWindow = 0 }))
	v, th := claimedThread(tb)
	if _, err := tb.MoveToDM(ctx, v.ID, Bea, ""); err == nil || !strings.Contains(err.Error(), "Ana holds the claim") {
		t.Errorf("non-claimer moved to DM: %v", err)
	}
	if _, err := tb.MoveToDM(ctx, v.ID, Ana, "What is your booking reference?"); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("two publications", func() bool { return len(tb.Net.Published()) == 2 })
	pub := tb.Net.Published()
	if pub[0].Private || pub[0].Text != bridge.DMNotice || !pub[1].Private || pub[1].Text != "What is your booking reference?" {
		t.Fatalf("published %+v", pub)
	}
	m := tb.Say(th, Ana, "Thanks, found it")
	tb.WaitFor("the DM reply", func() bool { return len(tb.Net.Published()) == 3 })
	if !tb.Net.Published()[2].Private {
		t.Error("a reply after the move went public")
	}
	tb.WaitFor("marked sent", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	tb.WaitFor("the command replies shown in the thread", func() bool { return tb.Desk.HasMessage(th.ID, "direct message was published") })
	if _, err := tb.MoveToDM(ctx, v.ID, Ana, ""); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second move: %v", err)
	}

	v2, _, _ := tb.Complain("bo", "@brand hi")
	tb.MustClaim(v2.ID, Ana)
	tb.Net.SetDirectMessages(false)
	if _, err := tb.MoveToDM(ctx, v2.ID, Ana, ""); err == nil || !strings.Contains(err.Error(), "no direct messages") {
		t.Errorf("move without DMs: %v", err)
	}
}
