package discord_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// The whole flow through discordgo against the fake: complaint → post (with
// its status tag in a forum) → claim by button, by slash command in the
// thread and by !claim → inline reply → marked sent with its link → card
// (and tag) updated → resolve → archived → the customer writes again →
// unarchived and reopened.
func runFlow(t *testing.T, o envOpts) {
	e := newEnv(t, o)
	ctx := context.Background()
	f := e.fake
	b := connectortest.NewScriptedBridge(e.desk, connectortest.SuiteCase("E-1"))
	th, err := e.desk.OpenThread(ctx, e.channel, b.Case())
	if err != nil {
		t.Fatal(err)
	}
	b.SetThread(th)
	listen(t, e.desk, b)
	card := func() string { return e.card(t, th).Visible() }
	waitCard := func(what string) {
		t.Helper()
		waitFor(t, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}

	waitFor(t, "the post tagged New", e.tagged(th, "New"))
	waitCard(unclaimedText)

	// Claim by button, release by button, claim by /claim in the thread,
	// release, claim by !claim typed in the thread.
	e.claimThreeWays(t, th, waitCard)
	// The !claim answer reaches only its author (an ephemeral follow-up of
	// the Release press, still at hand in this channel, or a DM).
	waitFor(t, "the private answer to !claim", func() bool {
		return slices.ContainsFunc(private(f, staffID), func(s string) bool { return strings.Contains(s, "done: claim") })
	})

	// A note from someone who does not hold the claim is not sent, and its
	// author is told privately.
	if _, err := f.Say(beaID, th.ID, "I can take this one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Bea's private explanation", func() bool {
		return slices.ContainsFunc(private(f, beaID), func(s string) bool { return strings.Contains(s, "claim the case first") })
	})

	// An inline reply is published, marked sent with its link, and the card follows.
	reply, err := f.Say(staffID, th.ID, "Sorry Ana, a new parcel is on its way")
	if err != nil {
		t.Fatal(err)
	}
	waitCard("Waiting on customer")
	waitFor(t, "the post tagged Waiting", e.tagged(th, "Waiting"))
	waitFor(t, "the sent mark", func() bool {
		m, _ := f.Message(th.ID, reply)
		return slices.Equal(m.Emojis(), []string{"✅"})
	})
	line, ok := e.lineFor(th.ID, reply)
	if !ok || !strings.Contains(line.Visible(), "https://mastodon.social/@shop/1") {
		t.Errorf("no reply line with the published link: %+v", line)
	}
	if got := b.Published(); !slices.Equal(got, []string{"Sorry Ana, a new parcel is on its way"}) {
		t.Errorf("published %q", got)
	}

	// Resolve by slash command in the thread: the card shows it, offers
	// Reopen only, and the thread is archived.
	e.slash(t, staffID, th.ID, "resolve", "parcel resent")
	waitCard("Resolved: parcel resent")
	waitFor(t, "the post tagged Resolved", e.tagged(th, "Resolved"))
	waitFor(t, "the thread archived", e.archived(th, true))
	var verbs []string
	for _, a := range e.card(t, th).Actions() {
		verbs = append(verbs, a.CustomID)
	}
	if !slices.Equal(verbs, []string{"earshot:reopen"}) {
		t.Errorf("resolved card offers %v", verbs)
	}

	// The customer writes again: the follow-up lands in the thread (which
	// unarchives it) and the case is reopened.
	if err := b.CustomerWrites(ctx, "it still has not arrived"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the thread unarchived", e.archived(th, false))
	waitCard(claimedText)
	waitFor(t, "the post tagged Claimed again", e.tagged(th, "Claimed"))
	found := false
	for _, m := range f.Thread(th.ID) {
		found = found || strings.Contains(m.Visible(), "it still has not arrived")
	}
	if !found {
		t.Error("the customer's follow-up is not in the thread")
	}

	for _, s := range []bridge.Source{bridge.SourceButton, bridge.SourceSlash, bridge.SourceText} {
		if !slices.ContainsFunc(b.Invocations(), func(i bridge.Invocation) bool { return i.Source == s }) {
			t.Errorf("no command came by %s", s)
		}
	}
	if got := len(private(f, staffID)); got < 5 {
		t.Errorf("%d private answers, want one per command", got)
	}
}

func TestFlowForum(t *testing.T)   { t.Parallel(); runFlow(t, envOpts{}) }
func TestFlowThreads(t *testing.T) { t.Parallel(); runFlow(t, envOpts{thread: true}) }
func TestFlowForumHTTP(t *testing.T) {
	t.Parallel()
	runFlow(t, envOpts{http: true})
}
