package bridge_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// play drives tb through n random staff and customer actions, the way a
// busy afternoon would, and returns how many changes it made.
func play(t *testing.T, tb *TestBridge, r *rand.Rand, n int) {
	t.Helper()
	staff := []bridge.Staff{Ana, Bea, Lee, Zed}
	var cases []bridge.CaseID
	var firsts []bridge.Post
	var msgs []struct {
		th bridge.ThreadRef
		m  bridge.MessageRef
		by bridge.Staff
	}
	threads := map[bridge.CaseID]bridge.ThreadRef{}
	var incs []bridge.IncidentID
	incident := func() (bridge.IncidentID, bool) {
		if len(incs) == 0 {
			return "", false
		}
		return incs[r.IntN(len(incs))], true
	}
	// owner is mostly the incident's owner (who speaks for it), now and
	// then someone else (who is refused).
	owner := func(inc bridge.IncidentID, by bridge.Staff) bridge.Staff {
		v, _ := tb.Incident(string(inc))
		for _, s := range staff {
			if s.Key() == v.Owner && r.IntN(4) != 0 {
				return s
			}
		}
		return by
	}
	pick := func() (bridge.CaseID, bool) {
		if len(cases) == 0 {
			return "", false
		}
		return cases[r.IntN(len(cases))], true
	}
	for i := range n {
		by := staff[r.IntN(len(staff))]
		switch op := r.IntN(23); {
		case op < 3 || len(cases) == 0:
			// A customer with an open case adds to it; else a case opens.
			p := Mention(Customer(fmt.Sprintf("cust%d", r.IntN(8))), fmt.Sprintf("@brand complaint %d", i))
			if err := tb.Post(ctx, p); err != nil {
				t.Fatal(err)
			}
			if v, ok := tb.OpenedBy(p.ID); ok && v.Incident != "" {
				cases, firsts = append(cases, v.ID), append(firsts, p) // an incident's: no card
			} else if ok {
				var th Thread
				tb.WaitFor("the thread of "+p.ID, func() bool {
					ts := tb.Desk.ThreadsOf(v.ID)
					if len(ts) > 0 {
						th = ts[0]
					}
					return len(ts) > 0
				})
				cases, firsts = append(cases, v.ID), append(firsts, p)
				threads[v.ID] = th.Ref
			}
		case op == 3:
			p := firsts[r.IntN(len(firsts))]
			_ = tb.Post(ctx, ReplyTo(p.Author, p, fmt.Sprintf("follow-up %d", i)))
		case op == 4:
			p := firsts[r.IntN(len(firsts))]
			dm := Mention(p.Author, fmt.Sprintf("a DM %d", i))
			dm.Direct, dm.MentionsUs = true, false
			_ = tb.Post(ctx, dm)
		case op == 5:
			id, _ := pick()
			_, _ = tb.Claim(ctx, id, by)
		case op == 6:
			id, _ := pick()
			_, _ = tb.Release(ctx, id, by, by.ID == Lee.ID)
		case op == 7:
			id, _ := pick()
			_, _ = tb.Escalate(ctx, id, by, "billing", "needs billing")
		case op == 8:
			id, _ := pick()
			_, _ = tb.Resolve(ctx, id, by, "done")
		case op == 9:
			id, _ := pick()
			_, _ = tb.Reopen(ctx, id, by)
		case op == 10:
			id, _ := pick()
			_, _ = tb.SetPriority(ctx, id, by, r.IntN(4))
			_, _ = tb.Tag(ctx, id, by, []string{fmt.Sprintf("t%d", r.IntN(3))}, []string{fmt.Sprintf("t%d", r.IntN(3))})
		case op == 11:
			id, _ := pick()
			_, _ = tb.Snooze(ctx, id, by, time.Duration(r.IntN(3))*time.Hour)
		case op == 12:
			id, _ := pick()
			if th, ok := threads[id]; ok {
				text := fmt.Sprintf("reply %d", i)
				switch r.IntN(6) {
				case 0:
					text = "note: " + text
				case 1:
					text = "*NOTE :* " + text // a refusal, journaled with its reason
				}
				m, _ := tb.Desk.Say(ctx, th, by, text)
				msgs = append(msgs, struct {
					th bridge.ThreadRef
					m  bridge.MessageRef
					by bridge.Staff
				}{th, m, by})
			}
		case op == 13 && len(msgs) > 0:
			x := msgs[r.IntN(len(msgs))]
			if r.IntN(2) == 0 {
				_ = tb.Desk.Edit(ctx, x.th, x.m, x.by, fmt.Sprintf("edited %d", i))
			} else {
				_ = tb.Desk.Delete(ctx, x.th, x.m, x.by)
			}
		case op == 14:
			if r.IntN(3) == 0 {
				tb.Net.FailNext(bridge.Retryable(errors.New("503"), 0))
			}
			tb.Clock.Advance(time.Duration(1+r.IntN(20)) * time.Second)
		case op == 15:
			id, _ := pick()
			_, _ = tb.MoveToDM(ctx, id, by, "")
			_ = bridge.CheckSLA(tb.Bridge)
			tb.Clock.Advance(time.Duration(r.IntN(30)) * time.Minute)
		case op == 17:
			// A desk whose answer to a new card is lost: the card is found
			// again by its key (or its key waits, journaled, for the retry).
			tb.Desk.LoseAnswers(1)
		case op == 16:
			// Hours pass: resolved cases past the retention are forgotten
			// (later posts of theirs open new cases).
			tb.Clock.Advance(time.Duration(1+r.IntN(3)) * time.Hour)
			_ = bridge.Prune(tb.Bridge)
		case op == 18:
			// An incident: its complaints' shared word is "complaint".
			if v, err := tb.DeclareIncident(ctx, "support", by, fmt.Sprintf("Outage %d", i), []string{"complaint"}); err == nil {
				incs = append(incs, v.ID)
			}
		case op == 19:
			id, _ := pick()
			inc, ok := incident()
			if !ok {
				continue
			}
			if r.IntN(2) == 0 {
				_, _ = tb.LinkCase(ctx, id, inc, by)
			} else {
				_, _ = tb.UnlinkCase(ctx, id, by)
			}
		case op == 20:
			// Someone writes in the incident's thread: the owner's message
			// is its acknowledgement.
			inc, ok := incident()
			if !ok {
				continue
			}
			if th, ok := tb.Desk.IncidentThread(inc); ok {
				by = owner(inc, by)
				m, _ := tb.Desk.Say(ctx, th.Ref, by, fmt.Sprintf("We know, {name} (%d)", i))
				if r.IntN(4) == 0 {
					_ = tb.Desk.Edit(ctx, th.Ref, m, by, fmt.Sprintf("Edited ack %d", i))
				}
			}
		case op == 21:
			inc, ok := incident()
			if !ok {
				continue
			}
			switch r.IntN(5) {
			case 0:
				_, _ = tb.OwnIncident(ctx, inc, by)
			case 1:
				_, _ = tb.ReleaseIncident(ctx, inc, by, by.ID == Lee.ID)
			case 2:
				_, _ = tb.UpdateIncident(ctx, inc, owner(inc, by), fmt.Sprintf("update %d", i))
			case 3:
				_, _ = tb.SetLateJoiners(ctx, inc, by, r.IntN(2) == 0)
			case 4:
				_, _ = tb.RetryIncident(ctx, inc, owner(inc, by))
			}
		case op == 22:
			inc, ok := incident()
			if !ok {
				continue
			}
			_, _ = tb.ResolveIncident(ctx, inc, owner(inc, by), fmt.Sprintf("Fixed (%d)", i), bridge.MessageRef{}, "")
		}
	}
	bridge.Settle(tb.Bridge) // what the timers may still do, done before the dump
	tb.WaitFor("the bridge to settle", func() bool { return bridge.Idle(tb.Bridge) })
}

// Replaying the journal (alone, or after a snapshot) rebuilds exactly the
// tables and gauges the live bridge had.
func TestReplayEquivalence(t *testing.T) {
	for seed := range uint64(4) {
		for _, every := range []int{0, 37} {
			t.Run(fmt.Sprintf("seed%d-snapshot%d", seed, every), func(t *testing.T) {
				t.Parallel()
				opts := []Option{withRetention(), quickBatches()}
				if every > 0 {
					opts = append(opts, WithSnapshotEvery(every))
				}
				tb := NewTestBridge(t, opts...)
				play(t, tb, rand.New(rand.NewPCG(seed, 7)), 160)
				if !strings.Contains(bridge.Dump(tb.Bridge), `"incidents"`) {
					t.Fatal("the afternoon had no incident: replay equivalence would not cover them")
				}
				live, liveGauges := bridge.Dump(tb.Bridge), bridge.Gauges(tb.Bridge)
				image := tb.CrashImage()
				replayed := NewTestBridge(t, WithDataDir(image), NotRunning(), WithClock(tb.Clock))
				if got := bridge.Dump(replayed.Bridge); got != live {
					t.Fatalf("replayed tables differ from the live ones:\nlive:     %.3000s\nreplayed: %.3000s", live, got)
				}
				if got := bridge.Gauges(replayed.Bridge); !reflect.DeepEqual(got, liveGauges) {
					t.Fatalf("gauges differ: live %v replayed %v", liveGauges, got)
				}
			})
		}
	}
}

// quickBatches paces an incident thread's lists of linked complaints at
// 10 ms instead of seconds (wall clock), so an afternoon with several
// batches settles before its tables are compared.
func quickBatches() Option {
	return WithConfig(func(c *bridge.Config) { c.Incidents.BatchEvery = 10 * time.Millisecond })
}
