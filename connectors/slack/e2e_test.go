package slack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// The whole flow with the real core, through slack-go against slackfake:
// complaint → card → claim by button, by slash command and by !claim →
// inline reply → published → marked sent with its link → resolve.
func runBridgeFlow(t *testing.T, mode string) {
	e := newEnv(t, envOpts{mode: mode})
	net := connectortest.NewStubNetwork()
	cmds := commands.New(nil, commands.Options{Logger: quietLogger()})
	connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Commander: cmds,
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "support", Desk: "slack", Channel: channel}},
				Watch:         []bridge.WatchRule{{Network: "mastodon", Mentions: true}},
				Staff:         []bridge.StaffRule{{Desk: "slack", Group: groupID, Role: bridge.RoleAgent}},
				UndoWindowSet: true,
			},
			Networks: []bridge.Network{net},
			Desks:    []bridge.Desk{e.desk},
			Logger:   quietLogger(),
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: e.desk.Listening,
	})

	net.Posts <- bridge.Post{Network: "mastodon", ID: "p1", Author: bridge.Author{ID: "109", Handle: "ana@mastodon.social", Name: "Ana Lima"},
		Text: "@shop my parcel never arrived", URL: "https://mastodon.social/@ana/p1", CreatedAt: time.Now(), MentionsUs: true}
	connectortest.WaitFor(t, 10*time.Second, "the card", func() bool { return len(e.fake.Messages(channel)) == 1 })
	th := e.fake.Messages(channel)[0].TS
	card := func() string { m, _ := e.fake.Message(channel, th); return m.Visible() }
	id, _, _ := strings.Cut(card(), " ·")
	waitCard := func(what string) {
		t.Helper()
		connectortest.WaitFor(t, 10*time.Second, "the card to show "+what, func() bool { return strings.Contains(card(), what) })
	}
	claimed, unclaimed := "Claimed by "+staffName, "*Status*\nNew"

	if err := e.fake.Press(staffID, channel, th, "earshot:claim", ""); err != nil {
		t.Fatal(err)
	}
	waitCard(claimed)
	_ = e.fake.Press(staffID, channel, th, "earshot:release", "")
	waitCard(unclaimed)
	e.fake.Slash(staffID, channel, "/claim", id)
	waitCard(claimed)
	_ = e.fake.Press(staffID, channel, th, "earshot:release", "")
	waitCard(unclaimed)
	e.fake.Say(staffID, channel, th, "!claim")
	waitCard(claimed)

	ts := e.fake.Say(staffID, channel, th, "Sorry Ana, a new parcel is on its way")
	connectortest.WaitFor(t, 10*time.Second, "the reply published", func() bool { return len(net.Replies()) == 1 })
	if r := net.Replies()[0]; r.InReplyTo != "p1" || !strings.Contains(r.Text, "new parcel") {
		t.Errorf("published %+v", r)
	}
	connectortest.WaitFor(t, 10*time.Second, "the sent mark and link", func() bool {
		m, _ := e.fake.Message(channel, ts)
		linked := false
		for _, x := range e.fake.Thread(channel, th) {
			linked = linked || strings.Contains(x.Visible(), "https://mastodon.social/@shop/r1")
		}
		return linked && len(m.Reactions) == 1 && m.Reactions[0].Name == "white_check_mark"
	})

	e.fake.Slash(staffID, channel, "/resolve", id+" parcel resent")
	waitCard("*Status*\nResolved")
}

func TestBridgeFlowSocket(t *testing.T) { t.Parallel(); runBridgeFlow(t, "socket") }
func TestBridgeFlowHTTP(t *testing.T)   { t.Parallel(); runBridgeFlow(t, "http") }
