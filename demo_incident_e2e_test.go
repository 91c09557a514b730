package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/demo"
)

// The sandbox against the real demo, as a newcomer tries incident mode: a
// few similar complaints on three networks bring a suggestion to the
// desk; a press declares the incident; one acknowledgement written in its
// thread reaches every complainant on their timeline, once each.
func TestDemoSandboxIncident(t *testing.T) {
	t.Parallel()
	base, _ := startDemo(t, "--undo-window", "1s")
	c := sandboxClient{t: t, base: base}
	bb, ok := demo.ChannelOfQueue("broadband")
	if !ok {
		t.Fatal("no broadband queue in the demo")
	}
	const rui = "U01RUI"
	complaints := map[string]string{} // post id → network
	for i, n := range []string{demo.X, demo.Bluesky, demo.Mastodon, demo.X} {
		at := "@earshot"
		if n == demo.Bluesky {
			at = "@earshot.fake.bsky"
		}
		var p demo.PublicPost
		c.post("/api/public/post", map[string]any{"network": n, "handle": fmt.Sprintf("newbie%d", i),
			"text": at + " broadband down in Braga, no internet since noon"}, &p)
		complaints[p.ID] = n
	}

	var card demo.Message
	c.waitFor("the suggestion", func() bool {
		for _, m := range c.cards(bb.ID) {
			if strings.HasPrefix(m.CaseID, "INC-") && m.Has("earshot:incident:declare") {
				card = m
				return true
			}
		}
		return false
	})
	c.post("/api/desk/press", map[string]any{"desk": "slack", "as": rui, "channel": card.Channel, "id": card.ID, "action": "earshot:incident:declare"}, nil)
	c.waitFor("the incident declared and owned by Rui", func() bool {
		for _, m := range c.cards(bb.ID) {
			if m.ID == card.ID {
				return shows(m, "Rui Costa") && !m.Has("earshot:incident:declare")
			}
		}
		return false
	})

	c.post("/api/desk/say", map[string]any{"desk": "slack", "as": rui, "channel": bb.ID, "thread": card.Thread,
		"text": "Hi {name}, sorry: a fibre cut near Braga is affecting broadband. Engineers are on site."}, nil)
	c.waitFor("an answer to every complainant", func() bool {
		answered := map[string]int{}
		for _, n := range []string{demo.X, demo.Bluesky, demo.Mastodon} {
			posts, _ := c.public(n)
			for _, p := range posts {
				if p.Brand && complaints[p.InReplyTo] == n && strings.Contains(p.Text, "fibre cut near Braga") {
					answered[p.InReplyTo]++
				}
			}
		}
		for id, k := range answered {
			if k > 1 {
				t.Fatalf("%d answers to %s", k, id)
			}
		}
		return len(answered) == len(complaints)
	})
}
