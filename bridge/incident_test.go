package bridge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// withIncidents paces incident cards and batch lines in milliseconds (the
// defaults are seconds) so tests need not wait.
func withIncidents(more ...func(*bridge.Config)) Option {
	return WithConfig(func(c *bridge.Config) {
		c.Incidents.BatchEvery = 5 * time.Millisecond
		c.Incidents.CardEvery = 5 * time.Millisecond
		for _, f := range more {
			f(c)
		}
	})
}

// complain posts a complaint by handle and returns the post and the case it
// opened or joined.
func complain(tb *TestBridge, handle, text string) (bridge.Post, bridge.CaseView) {
	tb.T.Helper()
	p := Mention(Customer(handle), text)
	if err := tb.Post(ctx, p); err != nil {
		tb.T.Fatal(err)
	}
	v, ok := tb.CaseOfPost("net", p.ID)
	if !ok {
		tb.T.Fatalf("post %s made no case", p.ID)
	}
	return p, v
}

// incidentThread waits for incident id's thread on the desk and returns it.
func incidentThread(tb *TestBridge, id bridge.IncidentID, what string, cond func(Thread) bool) Thread {
	tb.T.Helper()
	var th Thread
	tb.WaitFor(what, func() bool {
		var ok bool
		th, ok = tb.Desk.IncidentThread(id)
		return ok && (cond == nil || cond(th))
	})
	return th
}

// published lists the replies published to handle, in order.
func published(tb *TestBridge, handle string) []bridge.Reply { return tb.Net.PublishedTo(handle) }

// declaredOutage is n complaints about broadband in Braga (from c00, c01, …) and
// the incident Ana declares for them, with its thread.
func declaredOutage(tb *TestBridge, n int) (bridge.IncidentView, Thread) {
	tb.T.Helper()
	for k := range n {
		complain(tb, fmt.Sprintf("c%02d", k), "@brand broadband down in braga")
	}
	v, err := tb.DeclareIncident(ctx, "support", Ana, "Braga", []string{"broadband", "braga"})
	if err != nil {
		tb.T.Fatal(err)
	}
	return v, incidentThread(tb, v.ID, "the card", nil)
}

// An incident end to end in the bridge: declared by hand, linking the open
// matching complaints (and no other); one card instead of many; the owner's
// one acknowledgement goes to each complainant once, starting with their
// handle, in reply to their post; a late joiner gets it too; a linked
// customer's follow-up shows in the incident thread with Split out; an
// update shows on the card; resolve sends the closing message to everyone
// and resolves their cases; one customer's answer reopens their own case
// with its own card.
func TestIncidentLifecycle(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	var posts []bridge.Post
	for _, h := range []string{"ana", "bo", "cy"} {
		p, _ := complain(tb, h, "@brand broadband down in Braga since 9, no internet at all")
		posts = append(posts, p)
	}
	other, otherCase := complain(tb, "dee", "@brand my bill is wrong this month")
	tb.WaitFor("three cards and dee's", func() bool { return len(tb.Desk.CaseThreads()) == 4 })

	v, err := tb.DeclareIncident(ctx, "support", Bea, "Fibre cut near Braga", []string{"Broadband", "Braga"})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "INC-1" || v.Status != bridge.IncidentOpen || v.Owner != Bea.Key() || v.Cases != 3 || !slices.Equal(v.Terms, []string{"broadband", "braga"}) {
		t.Fatalf("declared %+v", v)
	}
	if c, _ := tb.Case(otherCase.ID); c.Incident != "" {
		t.Errorf("dee's unrelated complaint was linked to %s", c.Incident)
	}
	th := incidentThread(tb, v.ID, "the incident card listing three", func(th Thread) bool {
		return th.Incident.Cases == 3 && len(th.Lines("3 more complaints linked")) == 1
	})
	tb.WaitFor("the linked cards say so", func() bool {
		for _, p := range posts {
			c, _ := tb.CaseOfPost("net", p.ID)
			ts := tb.Desk.ThreadsOf(c.ID)
			if len(ts) != 1 || ts[0].Card.Incident != v.ID || !tb.Desk.HasMessage(ts[0].Ref.ID, "Linked to INC-1") {
				return false
			}
		}
		return true
	})

	// A matching complaint after the declaration is linked and gets no card.
	p4, c4 := complain(tb, "eve", "@brand is broadband down in Braga? nothing works")
	if c4.Incident != v.ID {
		t.Fatalf("eve's complaint is not linked: %+v", c4.Case)
	}
	incidentThread(tb, v.ID, "eve listed", func(th Thread) bool { return len(th.Lines("@eve on Net")) == 1 })
	if n := len(tb.Desk.CaseThreads()); n != 4 {
		t.Errorf("%d case cards, want 4 (a linked complaint has none)", n)
	}

	// The owner writes the acknowledgement once, in the incident thread.
	ack := tb.Say(th.Ref, Bea, "Hi {name}, we know broadband is down around Braga; engineers are on site.")
	tb.WaitFor("pending mark", func() bool { return tb.Desk.LastMark(ack.ID).State == bridge.DeliveryPending })
	if n := len(tb.Net.Attempts()); n != 0 {
		t.Fatalf("%d attempts inside the undo window", n)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("four acknowledgements", func() bool { return len(tb.Net.Published()) == 4 })
	for n, h := range []string{"ana", "bo", "cy", "eve"} {
		got := published(tb, h)
		want := []bridge.Post{posts[0], posts[1], posts[2], p4}[n]
		if len(got) != 1 || got[0].InReplyTo != want.ID ||
			got[0].Text != "@"+h+" Hi "+h+", we know broadband is down around Braga; engineers are on site." {
			t.Errorf("%s got %+v", h, got)
		}
	}
	if len(published(tb, "dee")) != 0 {
		t.Error("dee, not linked, got the acknowledgement")
	}
	th = incidentThread(tb, v.ID, "progress on the card", func(th Thread) bool {
		return th.Incident.Progress.Sent == 4 && th.Incident.Progress.Pending == 0
	})
	if line := th.Incident.Progress.Line(); line != "Acknowledged 4 / 4" {
		t.Errorf("progress line %q", line)
	}
	tb.WaitFor("the message marked sent", func() bool { return tb.Desk.LastMark(ack.ID).State == bridge.DeliverySent })

	// A late joiner gets the current acknowledgement, once.
	_, c5 := complain(tb, "fay", "@brand broadband in Braga is dead")
	tb.WaitFor("fay acknowledged", func() bool { return len(published(tb, "fay")) == 1 })
	tb.WaitFor("fay's case answered", func() bool { c, _ := tb.Case(c5.ID); return c.Incident == v.ID && !c.RespondedAt.IsZero() })

	// A linked customer's follow-up shows in the incident thread, with Split out.
	if err := tb.Post(ctx, ReplyTo(Customer("ana"), posts[0], "still down!!")); err != nil {
		t.Fatal(err)
	}
	th = incidentThread(tb, v.ID, "the follow-up", func(th Thread) bool { return len(th.Lines("still down!!")) == 1 })
	var split bridge.DeskAction
	for _, m := range th.Messages {
		if m.Text == "still down!!" && len(m.Actions) == 1 {
			split = m.Actions[0]
		}
	}
	anaCase, _ := tb.CaseOfPost("net", posts[0].ID)
	if split.Verb != "split" || split.Arg != string(anaCase.ID) {
		t.Errorf("follow-up actions: %+v", split)
	}

	// Eve, linked without a card, is split out: her own card opens, with her story.
	if _, err := tb.UnlinkCase(ctx, c4.ID, Bea); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("eve's own card", func() bool { return len(tb.Desk.ThreadsOf(c4.ID)) == 1 })

	// An update shows on the card.
	if _, err := tb.UpdateIncident(ctx, v.ID, Ana, "Engineers on site"); err == nil {
		t.Error("someone who does not own the incident updated it")
	}
	if _, err := tb.UpdateIncident(ctx, v.ID, Bea, "Engineers on site; next update 16:00"); err != nil {
		t.Fatal(err)
	}
	incidentThread(tb, v.ID, "the update on the card", func(th Thread) bool { return th.Incident.StatusText == "Engineers on site; next update 16:00" })

	// Resolve: the closing message to everyone linked (not eve, split out), cases resolved.
	if _, err := tb.ResolveIncident(ctx, v.ID, Bea, "Service is back in Braga. Sorry for the trouble!", bridge.MessageRef{}, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		if c, _ := tb.CaseOfPost("net", p.ID); c.Status != bridge.StatusResolved {
			t.Errorf("%s is %s after the incident was resolved", c.ID, c.Status)
		}
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("closing messages", func() bool { return len(tb.Net.Published()) == 5+4 })
	for _, h := range []string{"ana", "bo", "cy", "fay"} {
		got := published(tb, h)
		if len(got) != 2 || !strings.HasSuffix(got[1].Text, "Service is back in Braga. Sorry for the trouble!") {
			t.Errorf("%s got %+v", h, got)
		}
	}
	if len(published(tb, "eve")) != 1 {
		t.Errorf("eve, split out, got %d messages", len(published(tb, "eve")))
	}

	// Bo answers "still down": his case reopens on its own, with its own card.
	if err := tb.Post(ctx, ReplyTo(Customer("bo"), posts[1], "still down here")); err != nil {
		t.Fatal(err)
	}
	boCase, _ := tb.CaseOfPost("net", posts[1].ID)
	tb.WaitFor("bo's case reopened and unlinked", func() bool {
		c, _ := tb.Case(boCase.ID)
		return c.Status == bridge.StatusNew && c.Incident == "" && tb.Desk.HasMessage(tb.Desk.ThreadsOf(c.ID)[0].Ref.ID, "still down here")
	})
	if c, _ := tb.CaseOfPost("net", posts[2].ID); c.Status != bridge.StatusResolved {
		t.Errorf("cy's case is %s; only bo's reopened", c.Status)
	}
	_ = other
}

// A lead or agent declares from a case card; a suggestion is declared or
// dismissed; non-staff are refused.
func TestIncidentDeclarationWays(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	_, c1 := complain(tb, "ana", "@brand no signal in Porto since the storm")
	complain(tb, "bo", "@brand signal gone in Porto")
	complain(tb, "cy", "@brand my parcel is late")
	if _, err := tb.DeclareFromCase(ctx, c1.ID, Zed); err == nil {
		t.Error("someone not on the staff list declared an incident")
	}
	v, err := tb.DeclareFromCase(ctx, c1.ID, Ana)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(v.Terms, "signal") || !slices.Contains(v.Terms, "porto") || v.Cases != 2 || v.Origin != c1.ID {
		t.Errorf("declared from a case: %+v", v)
	}
	if _, err := tb.DeclareFromCase(ctx, c1.ID, Ana); err == nil || !strings.Contains(err.Error(), "already part of INC-1") {
		t.Errorf("declared twice from one case: %v", err)
	}
	leadsOnly := NewTestBridge(t, withIncidents(func(c *bridge.Config) { c.Incidents.DeclareRole = bridge.RoleLead }))
	if _, err := leadsOnly.DeclareIncident(ctx, "support", Ana, "Outage", []string{"outage"}); err == nil || !strings.Contains(err.Error(), "Only leads") {
		t.Errorf("an agent declared where only leads may: %v", err)
	}
	if _, err := leadsOnly.DeclareIncident(ctx, "support", Lee, "Outage", []string{"outage"}); err != nil {
		t.Errorf("a lead could not declare: %v", err)
	}
}

// Linking and unlinking by hand: a case claimed by someone else is not
// taken; the linker's own claim is released into the incident; claiming
// or escalating a linked case splits it out (its claimer speaks for it).
func TestIncidentLinkAndUnlink(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	v, err := tb.DeclareIncident(ctx, "support", Ana, "Fibre cut", []string{"fibre"})
	if err != nil {
		t.Fatal(err)
	}
	_, mine := complain(tb, "bo", "@brand the app logs me out")
	_, theirs := complain(tb, "cy", "@brand the app crashes")
	tb.MustClaim(mine.ID, Ana)
	tb.MustClaim(theirs.ID, Bea)
	if _, err := tb.LinkCase(ctx, theirs.ID, v.ID, Ana); err == nil || !strings.Contains(err.Error(), "Bea holds the claim") {
		t.Errorf("linked Bea's case: %v", err)
	}
	c, err := tb.LinkCase(ctx, mine.ID, v.ID, Ana)
	if err != nil || c.Incident != v.ID || c.Assignee != "" {
		t.Fatalf("link: %+v %v", c.Case, err)
	}
	if _, err := tb.LinkCase(ctx, mine.ID, v.ID, Ana); err == nil {
		t.Error("linked twice")
	}
	// Claiming a linked case splits it out.
	c, err = tb.Claim(ctx, mine.ID, Bea)
	if err != nil || c.Incident != "" || c.Assignee != Bea.Key() {
		t.Fatalf("claim of a linked case: %+v %v", c.Case, err)
	}
	incidentThread(tb, v.ID, "the split line", func(th Thread) bool { return len(th.Lines("left the incident (claimed by Bea)")) == 1 })
	// Escalating a linked case splits it out too.
	if _, err := tb.Release(ctx, mine.ID, Bea, false); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.LinkCase(ctx, mine.ID, v.ID, Ana); err != nil {
		t.Fatal(err)
	}
	if c, err := tb.Escalate(ctx, mine.ID, Ana, "billing", "charged twice"); err != nil || c.Incident != "" || c.Queue != "billing" {
		t.Fatalf("escalate a linked case: %+v %v", c.Case, err)
	}
	if _, err := tb.UnlinkCase(ctx, mine.ID, Ana); err == nil {
		t.Error("unlinked a case that is in no incident")
	}
}

// The acknowledgement passes the same gate as a reply: only the owner's
// message goes; a note prefix keeps it a note; someone not on the staff
// list is never published; too long for one complainant's network (with
// their handle in front) is refused for all, saying whose; the undo
// window's edit changes what goes and a delete withdraws it.
func TestIncidentAcknowledgementSafety(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	complain(tb, "ana", "@brand broadband down in braga")
	complain(tb, strings.Repeat("x", 60), "@brand broadband down in braga too")
	v, err := tb.DeclareIncident(ctx, "support", Ana, "Braga", []string{"broadband", "braga"})
	if err != nil {
		t.Fatal(err)
	}
	th := incidentThread(tb, v.ID, "the card", nil)
	notOwner := tb.Say(th.Ref, Bea, "We are on it")
	note := tb.Say(th.Ref, Ana, "note: engineers say 2h")
	stranger := tb.Say(th.Ref, Zed, "We are on it")
	long := tb.Say(th.Ref, Ana, strings.Repeat("a", 440))
	for _, m := range []struct {
		ref  bridge.MessageRef
		want string
	}{{notOwner, "Ana holds the claim on INC-1"}, {note, "A note"}, {stranger, "not on Earshot's staff list"},
		{long, "too long for 1 of 2 complainants (first @" + strings.Repeat("x", 60) + " on Net"}} {
		tb.WaitFor("refusal of "+m.want, func() bool {
			mk := tb.Desk.LastMark(m.ref.ID)
			return mk.State == bridge.DeliveryNotSent && strings.Contains(mk.Reason, m.want)
		})
	}
	edited := tb.Say(th.Ref, Ana, "We are on it, {name}")
	if err := tb.Desk.Edit(ctx, th.Ref, edited, Ana, "Engineers are on it, {name}"); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("two acknowledgements", func() bool { return len(tb.Net.Published()) == 2 })
	if got := published(tb, "ana"); len(got) != 1 || got[0].Text != "@ana Engineers are on it, ana" {
		t.Errorf("published to ana: %+v", got)
	}
	// A second message: nobody is left without one; a deleted one goes nowhere.
	gone := tb.Say(th.Ref, Ana, "Another word")
	if err := tb.Desk.Delete(ctx, th.Ref, gone, Ana); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("withdrawn", func() bool { return tb.Desk.LastMark(gone.ID).State == bridge.DeliveryCancelled })
	tb.Clock.Advance(10 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := len(tb.Net.Attempts()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

// A message to many goes to each complainant at most once: a crash in
// the middle of the fan-out retries the attempts without an outcome only
// on an idempotent network (the network deduplicates them) and shows
// them as uncertain elsewhere; the rest continue after the restart.
func TestIncidentCrashDuringFanOut(t *testing.T) {
	for _, idempotent := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			t.Parallel()
			tb := NewTestBridge(t, withIncidents())
			tb.Net.SetIdempotent(idempotent)
			const n = 30
			v, th := declaredOutage(tb, n)
			held := tb.Net.Hold()
			tb.Say(th.Ref, Ana, "We know, {name}; engineers are on it.")
			tb.Clock.Advance(10 * time.Second)
			for range 16 { // as many attempts as go at once hang in the network
				<-held
			}
			// The crash: the journal as it is now; the network got the
			// attempts under way, and nothing more from this process.
			image := tb.CrashImage()
			tb.Net.Unplug()
			tb.Net.Release()
			tb.WaitFor("the first run done", func() bool { return bridge.Idle(tb.Bridge) })
			tb.Net.Plug()

			// The restart on the crash image sees the network as it is now:
			// whatever the first run published stayed published.
			after := NewTestBridge(t, withIncidents(), WithDataDir(image), WithNetwork(tb.Net), WithClock(tb.Clock))
			after.Clock.Advance(10 * time.Second)
			after.WaitFor("every complainant settled", func() bool {
				v, _ := after.Incident(string(v.ID))
				return v.Progress.Pending == 0 && v.Progress.Sent+v.Progress.Uncertain == n
			})
			per := map[string]int{}
			for _, r := range tb.Net.Published() {
				per[r.To.Handle]++
			}
			if len(per) != n {
				t.Errorf("%d complainants got the acknowledgement, want %d", len(per), n)
			}
			for h, k := range per {
				if k > 1 {
					t.Errorf("%s got %d acknowledgements", h, k)
				}
			}
			v2, _ := after.Incident(string(v.ID))
			if idempotent && (v2.Progress.Sent != n || v2.Progress.Uncertain != 0) {
				t.Errorf("idempotent network: %+v", v2.Progress)
			}
			if !idempotent && (v2.Progress.Uncertain != 16 || v2.Progress.Sent != n-16) {
				t.Errorf("without idempotency the 16 attempts under way must be uncertain, the rest sent: %+v", v2.Progress)
			}
		})
	}
}

// Replaying the journal (alone, or from a snapshot) rebuilds the
// incidents and everything of theirs exactly: every incident event, the
// links, the feed, the fan-out's items in every state.
func TestIncidentReplayEquivalence(t *testing.T) {
	for _, every := range []int{0, 25} {
		t.Run(fmt.Sprintf("snapshot%d", every), func(t *testing.T) {
			t.Parallel()
			opts := []Option{withIncidents(func(c *bridge.Config) { c.Incidents.Surge = bridge.SurgeConfig{Threshold: 3, Window: time.Hour} })}
			if every > 0 {
				opts = append(opts, WithSnapshotEvery(every))
			}
			tb := NewTestBridge(t, opts...)
			var posts []bridge.Post
			for k := range 4 {
				p, _ := complain(tb, fmt.Sprintf("c%d", k), "@brand broadband down in Braga, no internet")
				posts = append(posts, p)
			}
			complain(tb, "x1", "@brand parcel lost in the depot")
			complain(tb, "x2", "@brand parcel lost again in the depot")
			complain(tb, "x3", "@brand my parcel was lost at the depot")
			tb.WaitFor("two suggestions", func() bool { return len(tb.Incidents("support")) == 2 })
			sugg := tb.Incidents("support")
			if _, err := tb.DeclareSuggested(ctx, sugg[0].ID, Ana); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.DismissIncident(ctx, sugg[1].ID, Bea); err != nil {
				t.Fatal(err)
			}
			inc := sugg[0].ID
			th := incidentThread(tb, inc, "the card", nil)
			tb.Net.FailNext(bridge.Permanent(fmt.Errorf("403"), "suspended"))
			tb.Say(th.Ref, Ana, "We know, {name}.")
			tb.Clock.Advance(10 * time.Second)
			tb.WaitFor("acknowledged", func() bool { v, _ := tb.Incident(string(inc)); return v.Progress.Pending == 0 && v.Progress.Total == 4 })
			if _, err := tb.RetryIncident(ctx, inc, Ana); err != nil {
				t.Fatal(err)
			}
			complain(tb, "late", "@brand no internet, broadband dead in braga")
			if err := tb.Post(ctx, ReplyTo(Customer("c0"), posts[0], "still down")); err != nil {
				t.Fatal(err)
			}
			c1, _ := tb.CaseOfPost("net", posts[1].ID)
			if _, err := tb.UnlinkCase(ctx, c1.ID, Ana); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.SetIncidentTerms(ctx, inc, Ana, "Fibre cut", []string{"fibre"}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.UpdateIncident(ctx, inc, Ana, "Engineers on site"); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.SetLateJoiners(ctx, inc, Ana, false); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.ReleaseIncident(ctx, inc, Ana, false); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.OwnIncident(ctx, inc, Bea); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.ResolveIncident(ctx, inc, Bea, "It is fixed, {name}.", bridge.MessageRef{}, ""); err != nil {
				t.Fatal(err)
			}
			tb.Clock.Advance(10 * time.Second)
			tb.WaitFor("closing sent", func() bool {
				v, _ := tb.Incident(string(inc))
				return v.Progress.Purpose == bridge.PurposeClosing && v.Progress.Pending == 0
			})
			if err := tb.Post(ctx, ReplyTo(Customer("c2"), posts[2], "nope, still down")); err != nil {
				t.Fatal(err)
			}
			tb.WaitFor("the bridge to settle", func() bool { return bridge.Idle(tb.Bridge) })
			live := bridge.Dump(tb.Bridge)
			for _, want := range []string{`"status":"dismissed"`, `"purpose":"closing"`, `"incident":"INC-1","in":`, `"late_joiners":false`} {
				if !strings.Contains(live, want) {
					t.Errorf("the state has no %s: the test does not cover it", want)
				}
			}
			replayed := NewTestBridge(t, WithDataDir(tb.CrashImage()), NotRunning(), WithClock(tb.Clock))
			if got := bridge.Dump(replayed.Bridge); got != live {
				t.Fatalf("replayed tables differ from the live ones:\nlive:     %.4000s\nreplayed: %.4000s", live, got)
			}
		})
	}
}

// The public status thread: one top-level post per network (a broadcast,
// answering nobody), each update a reply under the latest; only the owner
// speaks; an acknowledgement may link it with {status_url}.
func TestIncidentStatusThread(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	complain(tb, "ana", "@brand broadband down in braga")
	v, err := tb.DeclareIncident(ctx, "support", Ana, "Braga", []string{"broadband", "braga"})
	if err != nil {
		t.Fatal(err)
	}
	th := incidentThread(tb, v.ID, "the card", nil)
	early := tb.Say(th.Ref, Ana, "We know; follow {status_url}")
	tb.WaitFor("refused: no status thread yet", func() bool {
		return strings.Contains(tb.Desk.LastMark(early.ID).Reason, "has none on Net yet")
	})
	if _, err := tb.StartStatusThread(ctx, v.ID, Bea, "Broadband is down around Braga."); err == nil {
		t.Error("someone who does not own the incident started its status thread")
	}
	if _, err := tb.StartStatusThread(ctx, v.ID, Ana, "Broadband is down around Braga; engineers are on their way."); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the first status post", func() bool { return len(tb.Net.Published()) == 1 })
	first := tb.Net.Published()[0]
	if !first.Broadcast || first.InReplyTo != "" || first.To.Handle != "" || first.Case != "" {
		t.Errorf("first status post %+v", first)
	}
	incidentThread(tb, v.ID, "the status link on the card", func(th Thread) bool { return th.Incident.StatusURL("net") != "" })
	if _, err := tb.UpdateIncident(ctx, v.ID, Ana, "Engineers on site; next update 16:00."); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the update", func() bool { return len(tb.Net.Published()) == 2 })
	second := tb.Net.Published()[1]
	root, _ := tb.Incident(string(v.ID))
	if !second.Broadcast || second.InReplyTo == "" || second.InRef["root_uri"] != root.StatusRoots[0].ID || second.Text != "Engineers on site; next update 16:00." {
		t.Errorf("update %+v (root %v)", second, root.StatusRoots)
	}
	if _, err := tb.UpdateIncident(ctx, v.ID, Ana, "Fixed soon."); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the second update", func() bool { return len(tb.Net.Published()) == 3 })
	if third := tb.Net.Published()[2]; third.InReplyTo == second.InReplyTo {
		t.Errorf("the second update answers %s, the first post, not the latest", third.InReplyTo)
	}
	tb.Say(th.Ref, Ana, "We know, {name}; follow {status_url}")
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("the acknowledgement with the link", func() bool { return len(published(tb, "ana")) == 1 })
	if got := published(tb, "ana")[0].Text; !strings.HasPrefix(got, "@ana We know, ana; follow https://") {
		t.Errorf("acknowledgement %q", got)
	}
}

// An incident's public words pass the same gate as a reply in a case's
// thread (issue #14's findings, on the message to everyone): note prefixes
// a person reads as a note, text that shows nothing, desk markup and desk
// mentions stay in the desk, typed in the thread, edited in, or given to
// the closing message and the status posts; nothing of it is published.
func TestIncidentSpeechGate(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, withIncidents())
	complain(tb, "ana", "@brand broadband down in braga")
	v, err := tb.DeclareIncident(ctx, "support", Ana, "Braga", []string{"broadband", "braga"})
	if err != nil {
		t.Fatal(err)
	}
	th := incidentThread(tb, v.ID, "the card", nil)
	for _, text := range []string{
		"NOTE : ops says 2h", "note：ops says 2h", "*note:* ops says 2h", "_note:_ ops says 2h",
		"> note: ops says 2h", "\u200bnote: ops says 2h", "ｎｏｔｅ: ops says 2h", "nоte: ops says 2h",
		"\u200b\u2060", "Thanks <@UA2>! <!channel> see <https://status.example.com/fix|the fix>",
	} {
		m := tb.Say(th.Ref, Ana, text)
		tb.WaitFor(fmt.Sprintf("%q not sent", text), func() bool { return tb.Desk.LastMark(m.ID).State == bridge.DeliveryNotSent })
	}
	mei := bridge.DeskMention{Kind: bridge.MentionUser, ID: "UA2", Name: "Mei Chen"}
	m, err := tb.Desk.SayMentioning(ctx, th.Ref, Ana, "Thanks Mei Chen, we are on it", mei)
	if err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the mention refused", func() bool {
		mk := tb.Desk.LastMark(m.ID)
		return mk.State == bridge.DeliveryNotSent && strings.Contains(mk.Reason, "Mei Chen")
	})
	// A pending acknowledgement edited into a note is withdrawn.
	pending := tb.Say(th.Ref, Ana, "We are on it, {name}")
	tb.WaitFor("pending", func() bool { return tb.Desk.LastMark(pending.ID).State == bridge.DeliveryPending })
	if err := tb.Desk.Edit(ctx, th.Ref, pending, Ana, "*NOTE :* engineers say 2h"); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("withdrawn", func() bool { return tb.Desk.LastMark(pending.ID).State == bridge.DeliveryNotSent })
	// The status thread and the closing message refuse the same texts.
	if _, err := tb.StartStatusThread(ctx, v.ID, Ana, "> note: internal, do not post"); err == nil {
		t.Error("a status thread started with a note")
	}
	if _, err := tb.StartStatusThread(ctx, v.ID, Ana, "Broadband is down around Braga."); err != nil {
		t.Fatal(err)
	}
	tb.WaitFor("the first status post", func() bool { return len(tb.Net.Published()) == 1 })
	if _, err := tb.UpdateIncident(ctx, v.ID, Ana, "note： engineers blame <@UA2>"); err == nil {
		t.Error("a note went out as a status update")
	}
	if _, err := tb.ResolveIncident(ctx, v.ID, Ana, "_note:_ root cause was the router", bridge.MessageRef{}, ""); err == nil {
		t.Error("an incident was resolved with a note as its closing message")
	}
	tb.Clock.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if got := tb.Net.Published(); len(got) != 1 {
		t.Errorf("published %d, want only the first status post: %+v", len(got), got)
	}
}
