package discord_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// The whole flow with the real core, through discordgo against the fake:
// complaint → forum post (or thread) with its card → claim by button, by
// slash command in the thread and by !claim → inline reply → published →
// marked sent with its link → resolve → archived → the customer writes
// again → unarchived and reopened. Staff are allowed by their role.
func runBridgeFlow(t *testing.T, o envOpts) {
	e := newEnv(t, o)
	net := connectortest.NewStubNetwork()
	cmds := commands.New(nil, commands.Options{Logger: quietLogger()})
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Commander: cmds,
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "support", Desk: "discord", Channel: e.channel}},
				Watch:         []bridge.WatchRule{{Network: "mastodon", Mentions: true}},
				Staff:         []bridge.StaffRule{{Desk: "discord", Group: roleID, Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{net},
			Desks:    []bridge.Desk{e.desk},
			Logger:   quietLogger(),
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: e.desk.Listening,
	})
	f := e.fake

	ana := bridge.Author{ID: "109", Handle: "ana@mastodon.social", Name: "Ana Lima"}
	net.Posts <- bridge.Post{Network: "mastodon", ID: "p1", Author: ana, Text: "@shop my parcel never arrived",
		URL: "https://mastodon.social/@ana/p1", CreatedAt: time.Now(), MentionsUs: true}
	waitFor(t, "the case thread", func() bool { return len(f.Threads(e.channel)) == 1 })
	th := bridge.ThreadRef{Desk: "discord", Channel: e.channel, ID: f.Threads(e.channel)[0].ID}
	// The thread is the case's once the bridge has journaled it (a person
	// cannot press faster than that; a test can).
	waitFor(t, "the bridge to know the thread", func() bool { _, ok := b.CaseForThread(th); return ok })
	card := func() string { m, _ := f.Message(e.cardChannel(th), th.ID); return m.Visible() }
	waitCard := func(what string) {
		t.Helper()
		waitFor(t, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}
	waitCard(unclaimedText)
	waitFor(t, "the post tagged New", e.tagged(th, "New"))

	e.claimThreeWays(t, th, waitCard)

	reply, err := f.Say(staffID, th.ID, "Sorry Ana, a new parcel is on its way")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reply published", func() bool { return len(net.Replies()) == 1 })
	if r := net.Replies()[0]; r.InReplyTo != "p1" || !strings.Contains(r.Text, "new parcel") {
		t.Errorf("published %+v", r)
	}
	waitFor(t, "the sent mark and link", func() bool {
		m, _ := f.Message(th.ID, reply)
		line, ok := e.lineFor(th.ID, reply)
		return ok && strings.Contains(line.Visible(), "https://mastodon.social/@shop/r1") && slices.Equal(m.Emojis(), []string{"✅"})
	})

	// Someone without the role writes: a note, explained to them privately.
	if _, err := f.Say(beaID, th.ID, "I could take this"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Bea's private explanation", func() bool {
		return slices.ContainsFunc(private(f, beaID), func(s string) bool { return strings.Contains(s, "staff list") })
	})

	e.slash(t, staffID, th.ID, "resolve", "parcel resent")
	waitCard("Resolved: parcel resent")
	waitFor(t, "the post tagged Resolved", e.tagged(th, "Resolved"))
	waitFor(t, "the thread archived", e.archived(th, true))

	net.Posts <- bridge.Post{Network: "mastodon", ID: "p2", Author: ana, Text: "it still has not come",
		Conversation: "p1", InReplyTo: "r1", URL: "https://mastodon.social/@ana/p2", CreatedAt: time.Now(), ReplyToUs: true}
	waitFor(t, "the follow-up in the thread", func() bool {
		return slices.ContainsFunc(f.Thread(th.ID), func(m discordfake.Message) bool { return strings.Contains(m.Visible(), "it still has not come") })
	})
	waitFor(t, "the case reopened on the card", func() bool { return !strings.Contains(card(), "Resolved: parcel resent") })
	waitFor(t, "the thread unarchived", e.archived(th, false))
	if acts := e.card(t, th).Actions(); slices.ContainsFunc(acts, func(a discordfake.Action) bool { return a.CustomID == "earshot:reopen" }) {
		t.Errorf("the reopened card still offers Reopen: %+v", acts)
	}
}

func TestBridgeFlowForum(t *testing.T)   { t.Parallel(); runBridgeFlow(t, envOpts{}) }
func TestBridgeFlowThreads(t *testing.T) { t.Parallel(); runBridgeFlow(t, envOpts{thread: true}) }
func TestBridgeFlowHTTP(t *testing.T) {
	t.Parallel()
	runBridgeFlow(t, envOpts{http: true, noWebhooks: true})
}
