package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

func TestIncidentCardGolden(t *testing.T) {
	t.Parallel()
	for name, v := range connectortest.IncidentCards() {
		blocks, fallback := slack.RenderIncident(v)
		checkLimits(t, name, blocks)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"text": fallback, "blocks": blocks}); err != nil {
			t.Fatal(err)
		}
		connectortest.Golden(t, filepath.Join("testdata", "incident_"+name+".golden.json"), buf.Bytes())
	}
}

// actionsOf lists a message's action ids.
func actionsOf(m slackfake.Message) []string {
	var out []string
	for _, a := range m.Actions() {
		out = append(out, a.ID)
	}
	return out
}

// An incident on Slack with the real core, through slack-go against
// slackfake: complaints with cards; /incident open in the channel links
// them (their cards say so) and posts one incident card; a later
// complaint gets no card, only a line in the incident's thread; the
// owner's acknowledgement, written in that thread, goes to everyone; the
// card counts it; a linked customer's follow-up shows with Split out,
// whose press gives that case its own card; /incident resolve sends the
// closing message. A suggestion's Declare button declares it.
func TestIncidentFlowWithBridge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	net := connectortest.NewStubNetwork()
	cmds := commands.New(nil, commands.Options{Logger: quietLogger()})
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Commander: cmds,
			Config:    connectortest.IncidentBridgeConfig("slack", channel, groupID),
			Networks:  []bridge.Network{net},
			Desks:     []bridge.Desk{e.desk},
			Logger:    quietLogger(),
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: e.desk.Listening,
	})
	post := func(id, handle, text string) {
		net.Posts <- bridge.Post{Network: "mastodon", ID: id, Author: bridge.Author{ID: "id-" + handle, Handle: handle},
			Text: text, URL: "https://mastodon.social/@" + handle + "/" + id, CreatedAt: time.Now(), MentionsUs: true}
	}
	for k, h := range []string{"ana", "bo", "cy"} {
		post(fmt.Sprintf("p%d", k), h, "@shop broadband down in Braga")
	}
	connectortest.WaitFor(t, 10*time.Second, "three cards", func() bool { return len(e.fake.Messages(channel)) == 3 })
	cards := e.fake.Messages(channel)

	e.fake.Slash(staffID, channel, "/incident", `open "Fibre cut near Braga" broadband braga`)
	var card slackfake.Message
	connectortest.WaitFor(t, 10*time.Second, "the incident card", func() bool {
		for _, m := range e.fake.Messages(channel) {
			if strings.HasPrefix(m.Visible(), "INC-1 · Fibre cut near Braga") && strings.Contains(m.Visible(), "3 (mastodon 3)") {
				card = m
				return true
			}
		}
		return false
	})
	if got := actionsOf(card); !slices.Equal(got, []string{"earshot:release", "earshot:incident:late", "earshot:say"}) {
		t.Errorf("incident card actions %v", got)
	}
	connectortest.WaitFor(t, 10*time.Second, "the case cards linked", func() bool {
		for _, c := range cards {
			m, _ := e.fake.Message(channel, c.TS)
			if !strings.Contains(m.Visible(), "INC-1 · Fibre cut near Braga") || !slices.Contains(actionsOf(m), "earshot:incident:split") {
				return false
			}
		}
		return true
	})

	// The complaints linked at the declaration are listed first (bulk
	// work, after the staff action's card and lines), then a later one.
	connectortest.WaitFor(t, 10*time.Second, "the linked complaints listed in the thread", func() bool {
		for _, m := range e.fake.Thread(channel, card.TS) {
			if strings.Contains(m.Visible(), "3 more complaints linked") {
				return true
			}
		}
		return false
	})
	post("p9", "dee", "@shop is broadband down in braga?")
	connectortest.WaitFor(t, 10*time.Second, "dee listed in the thread", func() bool {
		for _, m := range e.fake.Thread(channel, card.TS) {
			if strings.Contains(m.Visible(), "1 more complaint linked") && strings.Contains(m.Visible(), "@dee on Mastodon") {
				return true
			}
		}
		return false
	})
	if n := len(e.fake.Messages(channel)); n != 4 {
		t.Errorf("%d top-level messages, want 4 (three cards and the incident's)", n)
	}

	// The acknowledgement, written once in the incident's thread.
	ack := e.fake.Say(staffID, channel, card.TS, "Hi {name}, engineers are on site in Braga.")
	connectortest.WaitFor(t, 10*time.Second, "four acknowledgements", func() bool { return len(net.Replies()) == 4 })
	for _, r := range net.Replies() {
		if r.Text != "@"+r.To.Handle+" Hi "+r.To.Handle+", engineers are on site in Braga." {
			t.Errorf("published %q", r.Text)
		}
	}
	connectortest.WaitFor(t, 10*time.Second, "the progress on the card", func() bool {
		m, _ := e.fake.Message(channel, card.TS)
		return strings.Contains(m.Visible(), "Acknowledged 4 / 4")
	})
	connectortest.WaitFor(t, 10*time.Second, "the ack marked sent", func() bool {
		m, _ := e.fake.Message(channel, ack)
		return len(m.Reactions) == 1 && m.Reactions[0].Name == "white_check_mark"
	})

	// A linked customer's follow-up, split out with its button.
	post("p10", "ana", "@shop still down!!")
	var line slackfake.Message
	connectortest.WaitFor(t, 10*time.Second, "the follow-up in the incident thread", func() bool {
		for _, m := range e.fake.Thread(channel, card.TS) {
			if strings.Contains(m.Visible(), "still down!!") {
				line = m
				return true
			}
		}
		return false
	})
	if got := actionsOf(line); !slices.Equal(got, []string{"earshot:incident:split"}) {
		t.Fatalf("follow-up actions %v", got)
	}
	if err := e.fake.Press(staffID, channel, line.TS, "earshot:incident:split", ""); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "ana's card on its own", func() bool {
		m, _ := e.fake.Message(channel, cards[0].TS)
		return !strings.Contains(m.Visible(), "INC-1") && slices.Contains(actionsOf(m), "earshot:incident:from")
	})

	e.fake.Slash(staffID, channel, "/incident", `resolve INC-1 "Service is back, {name}."`)
	connectortest.WaitFor(t, 10*time.Second, "the closing messages", func() bool { return len(net.Replies()) == 4+3 })
	connectortest.WaitFor(t, 10*time.Second, "the card resolved", func() bool {
		m, _ := e.fake.Message(channel, card.TS)
		return strings.Contains(m.Visible(), "*Status*\nResolved") && len(m.Actions()) == 0
	})

	// A surge of another kind is suggested; its Declare button declares it.
	for k := range 4 {
		post(fmt.Sprintf("s%d", k), fmt.Sprintf("m%d", k), "@shop no signal in Porto, mobile data dead")
	}
	var sugg slackfake.Message
	connectortest.WaitFor(t, 10*time.Second, "the suggestion", func() bool {
		for _, m := range e.fake.Messages(channel) {
			if strings.HasPrefix(m.Visible(), "INC-2 · Possible incident") && slices.Contains(actionsOf(m), "earshot:incident:declare") {
				sugg = m
				return true
			}
		}
		return false
	})
	if err := e.fake.Press(staffID, channel, sugg.TS, "earshot:incident:declare", ""); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "declared", func() bool {
		v, _ := b.Incident("INC-2")
		return v.Status == bridge.IncidentOpen && v.Cases == 4
	})
}

// What a staff action caused (bridge.Urgent) overtakes the cards queued in
// the channel's pace: a command's answer or a "Claimed by" line does not
// wait for a surge's cards.
func TestUrgentPostOvertakesQueuedCards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{pacing: slack.Pacing{ChannelPerSecond: 20, ChannelBurst: 1, WorkspacePerSecond: 1000, UpdatesPerMinute: 60000}})
	ctx := context.Background()
	th, err := e.desk.OpenThread(ctx, channel, connectortest.SuiteCase("E-0"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	done := make(chan error, n)
	for k := range n {
		go func() {
			_, err := e.desk.OpenThread(ctx, channel, connectortest.SuiteCase(fmt.Sprintf("E-%d", k+1)))
			done <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // the cards queue at 20 a second
	if _, err := e.desk.Post(bridge.WithUrgent(ctx), th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "Claimed by Ana."}); err != nil {
		t.Fatal(err)
	}
	cardsBefore := len(e.fake.Messages(channel)) - 1
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if cardsBefore > n/2 {
		t.Errorf("the urgent line landed after %d of %d queued cards", cardsBefore, n)
	}
}
