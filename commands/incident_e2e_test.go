package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
	"github.com/earshot-dev/earshot/commands"
)

// The real core satisfies what the incident commands consume.
var _ commands.Incidents = (*bridge.Bridge)(nil)

// incidentBridge is the test bridge with the staff commands wired in.
func incidentBridge(t *testing.T) *TestBridge {
	reg := commands.New(nil, commands.Options{})
	return NewTestBridge(t, WithCommander(reg, func(b *bridge.Bridge) { reg.Bind(b) }), WithConfig(func(c *bridge.Config) {
		c.Incidents.BatchEvery, c.Incidents.CardEvery = 5*time.Millisecond, 5*time.Millisecond
		c.Replies = []bridge.SavedReply{{Name: "outage", Text: "Sorry {name}, there is an outage; we are on it."}}
	}))
}

// cmd runs a command as a desk would deliver it: a slash command in the
// channel, or a button on a message in thread th.
func cmd(tb *TestBridge, by bridge.Staff, th bridge.ThreadRef, source bridge.Source, name string, args ...string) bridge.Response {
	inv := bridge.Invocation{Desk: "desk", Source: source, Staff: by, Channel: "C-SUP", Thread: th, Name: name, Args: args}
	if source != bridge.SourceButton {
		inv.Raw = commands.Join(args)
	}
	return tb.Command(context.Background(), inv)
}

// An incident worked through the commands, as on the desks: declared with
// `/incident open` in the channel, owned with `!claim` in its thread,
// acknowledged with `!reply` there (edited in the undo window), a case
// split out with its button, an update, resolved with `!resolve` in the
// thread; suggestions declared and dismissed with their buttons; a saved
// reply in a case.
func TestIncidentCommandsWithBridge(t *testing.T) {
	t.Parallel()
	tb := incidentBridge(t)
	for _, h := range []string{"ana", "bo"} {
		if err := tb.Post(context.Background(), Mention(Customer(h), "@brand broadband down in braga")); err != nil {
			t.Fatal(err)
		}
	}
	res := cmd(tb, Zed, bridge.ThreadRef{}, bridge.SourceSlash, "incident", "open", "Fibre cut near Braga", "broadband", "braga")
	if res.OK || !strings.Contains(res.Text, "Only staff") {
		t.Errorf("a stranger declared: %+v", res)
	}
	res = cmd(tb, Ana, bridge.ThreadRef{}, bridge.SourceSlash, "incident", "open", "Fibre cut near Braga", "broadband", "braga")
	if !res.OK || !strings.Contains(res.Text, "INC-1 declared: Fibre cut near Braga. 2 complaints linked") {
		t.Fatalf("declare: %+v", res)
	}
	var th Thread
	tb.WaitFor("the incident card", func() bool { var ok bool; th, ok = tb.Desk.IncidentThread("INC-1"); return ok })

	// In the thread, the case verbs speak for the incident.
	if res := cmd(tb, Bea, th.Ref, bridge.SourceText, "claim"); res.OK || !strings.Contains(res.Text, "already owns INC-1") {
		t.Errorf("Bea took Ana's incident: %+v", res)
	}
	if res := cmd(tb, Ana, th.Ref, bridge.SourceButton, "release"); !res.OK {
		t.Fatalf("release: %+v", res)
	}
	if res := cmd(tb, Bea, th.Ref, bridge.SourceText, "claim"); !res.OK || !strings.Contains(res.Text, "You own INC-1") {
		t.Fatalf("claim in the thread: %+v", res)
	}
	m := tb.Say(th.Ref, Bea, "!reply We know, {name}.")
	if err := tb.Desk.Edit(context.Background(), th.Ref, m, Bea, "!reply We know, {name}; engineers are on site."); err != nil {
		t.Fatal(err)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("two acknowledgements", func() bool { return len(tb.Net.Published()) == 2 })
	for _, r := range tb.Net.Published() {
		if r.Text != "@"+r.To.Handle+" We know, "+r.To.Handle+"; engineers are on site." {
			t.Errorf("published %q", r.Text)
		}
	}
	if res := cmd(tb, Bea, th.Ref, bridge.SourceText, "say", "outage"); !res.OK {
		t.Errorf("!say in the thread: %+v", res)
	}

	// The Split out button of a follow-up line.
	c2, _ := tb.Case("E-2")
	if res := cmd(tb, Bea, th.Ref, bridge.SourceButton, "incident", "split", string(c2.ID)); !res.OK {
		t.Fatalf("split: %+v", res)
	}
	tb.WaitFor("bo's own card", func() bool { return len(tb.Desk.ThreadsOf(c2.ID)) == 1 })
	if res := cmd(tb, Bea, th.Ref, bridge.SourceText, "incident", "update", "Engineers", "on", "site"); !res.OK {
		t.Errorf("update: %+v", res)
	}
	if res := cmd(tb, Ana, th.Ref, bridge.SourceText, "resolve", "It works again"); res.OK || !strings.Contains(res.Text, "Bea owns INC-1") {
		t.Errorf("Ana resolved Bea's incident with a closing message: %+v", res)
	}
	if res := cmd(tb, Bea, th.Ref, bridge.SourceText, "resolve", "It works again, {name}"); !res.OK || !strings.Contains(res.Text, "INC-1 resolved with its 1 cases") {
		t.Fatalf("resolve: %+v", res)
	}
	tb.Clock.Advance(10 * time.Second)
	tb.WaitFor("the closing message", func() bool { return len(tb.Net.PublishedTo("ana")) == 2 })

	// A suggestion's buttons; a saved reply in a case.
	for k := range 15 {
		if err := tb.Post(context.Background(), Mention(Customer(fmt.Sprintf("s%d", k)), "@brand no signal in porto, mobile data dead")); err != nil {
			t.Fatal(err)
		}
	}
	tb.WaitFor("a suggestion", func() bool { return len(tb.Incidents("support")) == 1 })
	sugg := tb.Incidents("support")[0]
	if res := cmd(tb, Ana, bridge.ThreadRef{}, bridge.SourceButton, "incident", "declare", string(sugg.ID)); !res.OK || !strings.Contains(res.Text, "15 complaints linked") {
		t.Errorf("declare a suggestion: %+v", res)
	}
	tb.MustClaim(c2.ID, Bea)
	if res := cmd(tb, Bea, tb.Desk.ThreadsOf(c2.ID)[0].Ref, bridge.SourceText, "say", "outage"); !res.OK {
		t.Errorf("!say in a case: %+v", res)
	}
	if res := cmd(tb, Bea, bridge.ThreadRef{}, bridge.SourceSlash, "incident", "list"); !res.OK || !strings.Contains(res.Text, "INC-2 · open · 15 cases") {
		t.Errorf("list: %+v", res)
	}
}
