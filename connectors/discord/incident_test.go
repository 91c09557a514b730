package discord_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

func TestIncidentCardGolden(t *testing.T) {
	t.Parallel()
	for name, v := range connectortest.IncidentCards() {
		embed, comps := discord.RenderIncident(v)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"embeds": []*discordgo.MessageEmbed{embed}, "components": comps}); err != nil {
			t.Fatal(err)
		}
		if err := discordfake.CheckMessage(buf.Bytes()); err != nil {
			t.Errorf("incident card %s: %v", name, err)
		}
		connectortest.Golden(t, filepath.Join("testdata", "incident_"+name+".golden.json"), buf.Bytes())
	}
}

func customIDs(m discordfake.Message) []string {
	var out []string
	for _, a := range m.Actions() {
		out = append(out, a.CustomID)
	}
	return out
}

// An incident on Discord with the real core, through discordgo against
// the fake: complaints with their forum posts (or threads); /incident open
// links them and posts one incident card; a later complaint gets no post
// of its own, only a line in the incident's; the owner's acknowledgement,
// written there, goes to everyone and the card counts it; a linked
// customer's follow-up shows with Split out, whose press gives the case
// its post back; /resolve in the incident's thread sends the closing
// message; a suggestion's Declare button declares it.
func runIncidentFlow(t *testing.T, o envOpts) {
	e := newEnv(t, o)
	net := connectortest.NewStubNetwork()
	cmds := commands.New(nil, commands.Options{Logger: quietLogger()})
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Commander: cmds,
			Config:    connectortest.IncidentBridgeConfig("discord", e.channel, roleID),
			Networks:  []bridge.Network{net},
			Desks:     []bridge.Desk{e.desk},
			Logger:    quietLogger(),
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: e.desk.Listening,
	})
	f := e.fake
	post := func(id, handle, text string) {
		net.Posts <- bridge.Post{Network: "mastodon", ID: id, Author: bridge.Author{ID: "id-" + handle, Handle: handle},
			Text: text, URL: "https://mastodon.social/@" + handle + "/" + id, CreatedAt: time.Now(), MentionsUs: true}
	}
	for k, h := range []string{"ana", "bo", "cy"} {
		post(fmt.Sprintf("p%d", k), h, "@shop broadband down in Braga")
	}
	waitFor(t, "three case threads", func() bool { return len(f.Threads(e.channel)) == 3 })
	cases := f.Threads(e.channel)
	threadOf := func(name string) (bridge.ThreadRef, bool) {
		for _, c := range f.Threads(e.channel) {
			if strings.HasPrefix(c.Name, name) {
				return bridge.ThreadRef{Desk: "discord", Channel: e.channel, ID: c.ID}, true
			}
		}
		return bridge.ThreadRef{}, false
	}
	// /incident in one of the queue's threads (a forum takes no commands
	// of its own): the incident is that queue's.
	e.slash(t, staffID, cases[0].ID, "incident", `open "Fibre cut near Braga" broadband braga`)
	var inc bridge.ThreadRef
	waitFor(t, "the incident's thread", func() bool { var ok bool; inc, ok = threadOf("INC-1"); return ok })
	waitFor(t, "the incident card", func() bool {
		return strings.Contains(e.card(t, inc).Visible(), "3 (mastodon 3)")
	})
	if got := customIDs(e.card(t, inc)); !slices.Equal(got, []string{"earshot:release", "earshot:incident:late:off", "earshot:say"}) {
		t.Errorf("incident card components %v", got)
	}
	caseRef := func(c discordfake.Channel) bridge.ThreadRef {
		return bridge.ThreadRef{Desk: "discord", Channel: e.channel, ID: c.ID}
	}
	waitFor(t, "the case cards linked", func() bool {
		for _, c := range cases {
			m := e.card(t, caseRef(c))
			if !strings.Contains(m.Visible(), "INC-1 · Fibre cut near Braga") || !slices.Contains(customIDs(m), "earshot:incident:split:"+strings.Fields(c.Name)[0]) {
				return false
			}
		}
		return true
	})

	post("p9", "dee", "@shop is broadband down in braga?")
	waitFor(t, "dee listed in the incident's thread", func() bool {
		return slices.ContainsFunc(f.Thread(inc.ID), func(m discordfake.Message) bool { return strings.Contains(m.Visible(), "@dee on Mastodon") })
	})
	if n := len(f.Threads(e.channel)); n != 4 {
		t.Errorf("%d threads, want 4 (three cases and the incident)", n)
	}

	// The acknowledgement, written once in the incident's thread.
	ack, err := f.Say(staffID, inc.ID, "Hi {name}, engineers are on site in Braga.")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four acknowledgements", func() bool { return len(net.Replies()) == 4 })
	for _, r := range net.Replies() {
		if r.Text != "@"+r.To.Handle+" Hi "+r.To.Handle+", engineers are on site in Braga." {
			t.Errorf("published %q", r.Text)
		}
	}
	waitFor(t, "the progress on the card", func() bool { return strings.Contains(e.card(t, inc).Visible(), "Acknowledged 4 / 4") })
	waitFor(t, "the ack marked sent", func() bool { m, _ := f.Message(inc.ID, ack); return slices.Equal(m.Emojis(), []string{"✅"}) })

	// A linked customer's follow-up, split out with its button.
	post("p10", "ana", "@shop still down!!")
	var line discordfake.Message
	waitFor(t, "the follow-up in the incident's thread", func() bool {
		for _, m := range f.Thread(inc.ID) {
			if strings.Contains(m.Visible(), "still down!!") {
				line = m
				return true
			}
		}
		return false
	})
	anaThread, _ := threadOf("E-1")
	if got := customIDs(line); !slices.Equal(got, []string{"earshot:incident:split:E-1"}) {
		t.Fatalf("follow-up components %v", got)
	}
	if _, err := f.Press(staffID, inc.ID, line.ID, "earshot:incident:split:E-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ana's card on its own", func() bool {
		m := e.card(t, anaThread)
		return !strings.Contains(m.Visible(), "INC-1") && slices.Contains(customIDs(m), "earshot:incident:from:E-1")
	})

	e.slash(t, staffID, inc.ID, "resolve", "Service is back, {name}.")
	waitFor(t, "the closing messages", func() bool { return len(net.Replies()) == 4+3 })
	waitFor(t, "the card resolved", func() bool {
		m := e.card(t, inc)
		return strings.Contains(m.Visible(), "Resolved") && len(m.Actions()) == 0
	})

	// A surge of another kind is suggested; its Declare button declares it.
	for k := range 4 {
		post(fmt.Sprintf("s%d", k), fmt.Sprintf("m%d", k), "@shop no signal in Porto, mobile data dead")
	}
	var sugg bridge.ThreadRef
	waitFor(t, "the suggestion", func() bool { var ok bool; sugg, ok = threadOf("INC-2"); return ok })
	waitFor(t, "its Declare button", func() bool {
		return slices.Contains(customIDs(e.card(t, sugg)), "earshot:incident:declare:INC-2")
	})
	if _, err := f.Press(staffID, e.cardChannel(sugg), sugg.ID, "earshot:incident:declare:INC-2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "declared", func() bool { v, _ := b.Incident("INC-2"); return v.Status == bridge.IncidentOpen && v.Cases == 4 })
}

func TestIncidentFlowForum(t *testing.T)   { t.Parallel(); runIncidentFlow(t, envOpts{}) }
func TestIncidentFlowThreads(t *testing.T) { t.Parallel(); runIncidentFlow(t, envOpts{thread: true}) }

// What a staff action caused (bridge.Urgent) overtakes the lines queued in
// a thread's pace: a "Claimed by" line does not wait for an incident's
// batch lines.
func TestUrgentPostOvertakesQueuedLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{pacing: discord.Pacing{ChannelPerSecond: 20, ChannelBurst: 1, GlobalPerSecond: 1000}})
	ctx := ctx10(t)
	th, err := e.desk.OpenThread(ctx, forumID, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Messages(th.ID))
	const n = 30
	done := make(chan error, n)
	for k := range n {
		go func() {
			_, err := e.desk.Post(ctx, th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: fmt.Sprintf("line %d", k)})
			done <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // the lines queue at 20 a second
	if _, err := e.desk.Post(bridge.WithUrgent(ctx), th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "Claimed by Ana."}); err != nil {
		t.Fatal(err)
	}
	linesBefore := len(e.fake.Messages(th.ID)) - before - 1
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if linesBefore > n/2 {
		t.Errorf("the urgent line landed after %d of %d queued lines", linesBefore, n)
	}
}
