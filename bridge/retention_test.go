package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// withRetention keeps resolved cases for two hours (queues reopen within one).
func withRetention() Option {
	return WithConfig(func(c *bridge.Config) {
		c.Retention = 2 * time.Hour
		for i := range c.Queues {
			c.Queues[i].ReopenWindow = time.Hour
		}
	})
}

// A case resolved longer ago than the retention is forgotten with its
// thread, posts and replies; open cases, recent ones and one whose reply
// is still due are kept; a restart (journal replay) forgets it too.
func TestRetentionForgetsOldResolvedCases(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withRetention())
	old, th, first := tb.Complain("ana", "@brand my router died")
	tb.MustClaim(old.ID, Ana)
	m := tb.Say(th, Ana, "A new one is on its way.")
	tb.Clock.Advance(11 * time.Second)
	tb.WaitFor("the reply sent", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	if err := tb.Post(ctx, ReplyTo(first.Author, first, "thanks, and the cable?")); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Resolve(ctx, old.ID, Ana, "replaced"); err != nil {
		t.Fatal(err)
	}
	open, _, _ := tb.Complain("bo", "@brand still waiting")
	pending, pth, _ := tb.Complain("cy", "@brand where is my refund")
	tb.MustClaim(pending.ID, Bea)
	tb.Say(pth, Bea, "Refunded today.") // waits out its undo window past the resolve
	if _, err := tb.Resolve(ctx, pending.ID, Bea, ""); err != nil {
		t.Fatal(err)
	}

	tb.Clock.Advance(time.Hour)
	if err := bridge.Prune(tb.Bridge); err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Case(old.ID); !ok {
		t.Fatal("a case resolved an hour ago was forgotten before its retention")
	}

	tb.Clock.Advance(90 * time.Minute)
	if err := bridge.Prune(tb.Bridge); err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Case(old.ID); ok {
		t.Errorf("%s, resolved 2h30 ago with a 2h retention, is still kept", old.ID)
	}
	if _, ok := tb.Case(open.ID); !ok {
		t.Errorf("the open case %s was forgotten", open.ID)
	}
	// A button on its old card, or a command naming it, says why it is gone.
	if _, err := tb.Reopen(ctx, old.ID, Ana); err == nil || !strings.Contains(err.Error(), "forgotten (retention)") {
		t.Errorf("reopening the forgotten case: %v", err)
	}
	if !tb.Forgotten(old.ID) || tb.Forgotten(open.ID) || tb.Forgotten("E-999") || tb.Forgotten("X-1") {
		t.Error("Forgotten names the wrong cases")
	}
	dump := bridge.Dump(tb.Bridge)
	for _, gone := range []string{string(old.ID), first.ID, th.ID, "my router died", "thanks, and the cable?", "A new one is on its way."} {
		if strings.Contains(dump, gone) {
			t.Errorf("the state still holds %q of the forgotten case", gone)
		}
	}
	if got := bridge.Gauges(tb.Bridge)["support/net/new"]; got != 1 {
		t.Errorf("new cases gauge %v, want 1 (the open one)", got)
	}

	// The customer's next post is a new case with no forgotten history; the
	// old post delivered again is not a duplicate (nothing remembers it):
	// it joins her open case, as a new post of hers would.
	v, th2, _ := tb.Complain("ana", "@brand the new router is dead too")
	if h := tb.History(v.ID); len(h) != 0 {
		t.Errorf("history still lists forgotten cases: %+v", h)
	}
	if err := tb.Post(ctx, first); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the old post again, in her open case", func() bool { return tb.Desk.HasMessage(th2.ID, "my router died") })

	// Replaying the journal forgets exactly what the live bridge forgot.
	tb.WaitFor("the bridge to settle", func() bool { return bridge.Idle(tb.Bridge) })
	replayed := NewTestBridge(t, WithDataDir(tb.CrashImage()), NotRunning(), WithClock(tb.Clock))
	if got, want := bridge.Dump(replayed.Bridge), bridge.Dump(tb.Bridge); got != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		from := max(i-300, 0)
		t.Errorf("the replayed state differs from the live one at byte %d:\nlive:     …%.600s\nreplayed: …%.600s", i, want[from:], got[from:])
	}
	// A restart runs a retention pass at once: the refund case, whose
	// reply has gone out since the last pass, is forgotten now.
	after := tb.Restart(withRetention())
	after.WaitFor("the refund case forgotten", func() bool { _, ok := after.Case(pending.ID); return !ok })
	if _, ok := after.Case(old.ID); ok {
		t.Errorf("%s came back after a restart", old.ID)
	}
	if _, ok := after.Case(open.ID); !ok {
		t.Errorf("the open case %s was lost in the restart", open.ID)
	}
}

// A case whose reply is still waiting out its undo window (or being
// published) is kept past the retention until the reply settles.
func TestRetentionKeepsACaseWithAReplyDue(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withRetention(), WithConfig(func(c *bridge.Config) { c.UndoWindow = 3 * time.Hour }))
	v, th, _ := tb.Complain("ana", "@brand hello")
	tb.MustClaim(v.ID, Ana)
	m := tb.Say(th, Ana, "Hello Ana")
	if _, err := tb.Resolve(ctx, v.ID, Ana, ""); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(150 * time.Minute)
	if err := bridge.Prune(tb.Bridge); err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Case(v.ID); !ok {
		t.Fatal("a case with a reply still due was forgotten")
	}
	tb.Clock.Advance(time.Hour)
	tb.WaitFor("the reply sent", func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliverySent })
	if err := bridge.Prune(tb.Bridge); err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Case(v.ID); ok {
		t.Error("the case was kept after its reply went out")
	}
}

func TestRetentionIsValidated(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Retention = time.Hour // shorter than the default reopen window
	errs := c.Validate()
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "retention.resolved: 1h0m0s is shorter than queues[0].reopen_window (72h0m0s)") {
		t.Errorf("errors %v", errs)
	}
	c.Retention = -time.Hour
	if errs := c.Validate(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "retention.resolved: must not be negative") {
		t.Errorf("errors %v", errs)
	}
	c.Retention = 90 * 24 * time.Hour
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("a 90-day retention refused: %v", errs)
	}
}
