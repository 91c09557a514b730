package slack_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

func runFlow(t *testing.T, mode string) {
	e := newEnv(t, envOpts{mode: mode})
	ctx := context.Background()
	b := connectortest.NewScriptedBridge(e.desk, connectortest.SuiteCase("E-1"))
	th, err := e.desk.OpenThread(ctx, channel, b.Case())
	if err != nil {
		t.Fatal(err)
	}
	b.SetThread(th)
	listen(t, e.desk, b)
	card := func() string { m, _ := e.fake.Message(channel, th.ID); return m.Visible() }
	waitCard := func(what string) {
		t.Helper()
		connectortest.WaitFor(t, 10*time.Second, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}

	// Claim by button, release by button, claim by slash command, release, claim by !claim.
	if err := e.fake.Press(staffID, channel, th.ID, "earshot:claim", ""); err != nil {
		t.Fatal(err)
	}
	waitCard("Claimed by " + staffName)
	_ = e.fake.Press(staffID, channel, th.ID, "earshot:release", "")
	waitCard("*Status*\nNew")
	e.fake.Slash(staffID, channel, "/claim", "E-1")
	waitCard("Claimed by " + staffName)
	_ = e.fake.Press(staffID, channel, th.ID, "earshot:release", "")
	waitCard("*Status*\nNew")
	e.fake.Say(staffID, channel, th.ID, "!claim")
	waitCard("Claimed by " + staffName)

	// An inline reply is published, marked sent with its link, and the card follows.
	ts := e.fake.Say(staffID, channel, th.ID, "Sorry Ana, a new parcel is on its way")
	waitCard("Waiting on customer")
	connectortest.WaitFor(t, 10*time.Second, "the sent mark", func() bool {
		m, _ := e.fake.Message(channel, ts)
		return len(m.Reactions) == 1 && m.Reactions[0].Name == "white_check_mark"
	})
	found := false
	for _, m := range e.fake.Thread(channel, th.ID) {
		if strings.Contains(m.Visible(), "https://mastodon.social/@shop/1") {
			found = true
		}
	}
	if !found {
		t.Error("no thread line with the published link")
	}
	if got := b.Published(); !slices.Equal(got, []string{"Sorry Ana, a new parcel is on its way"}) {
		t.Errorf("published %q", got)
	}

	// Resolve by slash command: the card shows it and offers Reopen.
	e.fake.Slash(staffID, channel, "/resolve", "E-1")
	waitCard("*Status*\nResolved")
	m, _ := e.fake.Message(channel, th.ID)
	var verbs []string
	for _, a := range m.Actions() {
		verbs = append(verbs, a.ID)
	}
	if !slices.Equal(verbs, []string{"earshot:reopen"}) {
		t.Errorf("resolved card offers %v", verbs)
	}
	for _, s := range []bridge.Source{bridge.SourceButton, bridge.SourceSlash, bridge.SourceText} {
		if !slices.ContainsFunc(b.Invocations(), func(i bridge.Invocation) bool { return i.Source == s }) {
			t.Errorf("no command came by %s", s)
		}
	}
	if got := len(e.fake.Ephemerals(staffID)); got < 5 {
		t.Errorf("%d private answers, want one per command", got)
	}
}

func TestFlowSocket(t *testing.T) { t.Parallel(); runFlow(t, "socket") }
func TestFlowHTTP(t *testing.T)   { t.Parallel(); runFlow(t, "http") }
