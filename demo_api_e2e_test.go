package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

// sandboxClient speaks the sandbox page's JSON API, as the page does.
type sandboxClient struct {
	t    *testing.T
	base string // "http://127.0.0.1:port/"
}

func (c sandboxClient) get(path string, into any) {
	c.t.Helper()
	resp, err := http.Get(c.base + strings.TrimPrefix(path, "/"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, into) != nil {
		c.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
}

func (c sandboxClient) post(path string, req, into any) {
	c.t.Helper()
	raw, _ := json.Marshal(req)
	resp, err := http.Post(c.base+strings.TrimPrefix(path, "/"), "application/json", bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || (into != nil && json.Unmarshal(body, into) != nil) {
		c.t.Fatalf("POST %s %s = %d %s", path, raw, resp.StatusCode, body)
	}
}

// waitFor polls cond for up to a minute (the demo shares the machine with
// the whole suite).
func (c sandboxClient) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c sandboxClient) cards(channel string) []demo.Message {
	var v struct{ Cards []demo.Message }
	c.get("/api/desk/slack/"+channel, &v)
	return v.Cards
}

func (c sandboxClient) thread(channel, thread string) []demo.Message {
	var v struct{ Messages []demo.Message }
	c.get("/api/desk/slack/"+channel+"/thread/"+thread, &v)
	return v.Messages
}

func (c sandboxClient) public(network string) (posts []demo.PublicPost, dms []demo.DM) {
	var v struct {
		Posts []demo.PublicPost
		DMs   []demo.DM
	}
	c.get("/api/public/"+network, &v)
	return v.Posts, v.DMs
}

func shows(m demo.Message, s string) bool {
	raw, _ := json.Marshal(m)
	return strings.Contains(string(raw), s)
}

func markOf(msgs []demo.Message, id string) string {
	for _, m := range msgs {
		if m.ID == id {
			var states []string
			for _, mk := range m.Marks {
				states = append(states, mk.State)
			}
			return strings.Join(states, ",")
		}
	}
	return "<gone>"
}

// The sandbox against the real demo through its JSON API, for what the
// browser test does not do: inside the undo window an edit changes what
// is published and a delete cancels it; a note and a non-staff colleague's
// message stay in the desk, marked not sent; !dm posts the public line and
// the question arrives as a DM on the network; !resolve closes the case.
func TestDemoSandboxUndoWindowNotesAndDM(t *testing.T) {
	t.Parallel()
	base, _ := startDemo(t, "--undo-window", "6s")
	c := sandboxClient{t: t, base: base}
	const rail, rui, alex = "C02RAIL", "U01RUI", "U06ALEX"

	var complaint demo.PublicPost
	c.post("/api/public/post", map[string]any{"network": "mastodon", "handle": "yara",
		"text": "@earshot my train to Faro is cancelled (api check)"}, &complaint)
	var card demo.Message
	c.waitFor("the card", func() bool {
		for _, m := range c.cards(rail) {
			if shows(m, "(api check)") {
				card = m
				return true
			}
		}
		return false
	})
	c.post("/api/desk/press", map[string]any{"desk": "slack", "as": rui, "channel": card.Channel, "id": card.ID, "action": "earshot:claim"}, nil)
	c.waitFor("the claim on the card", func() bool {
		for _, m := range c.cards(rail) {
			if m.ID == card.ID {
				return shows(m, "Claimed by Rui Costa")
			}
		}
		return false
	})

	say := func(as, text string) string {
		var s struct{ ID string }
		c.post("/api/desk/say", map[string]any{"desk": "slack", "as": as, "channel": rail, "thread": card.Thread, "text": text}, &s)
		return s.ID
	}
	// Both inside the undo window: the one said first is deleted, the
	// second is edited. The outbox publishes a case's replies in order, so
	// once the edit is public a reply not cancelled would be public too.
	deleted := say(rui, "Sorry Yara, wrong answer (to delete)")
	edited := say(rui, "first draft (to edit)")
	c.post("/api/desk/delete", map[string]any{"desk": "slack", "as": rui, "channel": rail, "id": deleted}, nil)
	c.post("/api/desk/edit", map[string]any{"desk": "slack", "as": rui, "channel": rail, "id": edited,
		"text": "Sorry Yara, a replacement bus leaves at 10:30 (edited)"}, nil)
	note := say(rui, "note: ops say the line reopens at noon")
	colleague := say(alex, "Can we say the line reopens at noon?")

	var brand []demo.PublicPost
	c.waitFor("the edited reply on the timeline", func() bool {
		posts, _ := c.public(demo.Mastodon)
		brand = brand[:0]
		for _, p := range posts {
			if p.Brand && p.InReplyTo == complaint.ID {
				brand = append(brand, p)
			}
		}
		return len(brand) > 0
	})
	if len(brand) != 1 || !strings.Contains(brand[0].Text, "replacement bus leaves at 10:30 (edited)") {
		t.Errorf("the brand's public replies to the complaint: %+v", brand)
	}
	c.waitFor("the edited reply marked sent", func() bool { return markOf(c.thread(rail, card.Thread), edited) == "sent" })
	msgs := c.thread(rail, card.Thread)
	if got := markOf(msgs, deleted); got != "<gone>" {
		t.Errorf("the deleted message is still in the thread, marked %q", got)
	}
	c.waitFor("the note and the colleague's message marked not sent", func() bool {
		msgs := c.thread(rail, card.Thread)
		return markOf(msgs, note) == "not_sent" && markOf(msgs, colleague) == "not_sent"
	})

	say(rui, "!dm Could you send me your booking reference?")
	c.waitFor("the DM to @yara", func() bool {
		_, dms := c.public(demo.Mastodon)
		for _, dm := range dms {
			if dm.Brand && strings.Contains(dm.To, "yara") && strings.Contains(dm.Text, "booking reference") {
				return true
			}
		}
		return false
	})
	posts, _ := c.public(demo.Mastodon)
	for _, p := range posts {
		if p.Brand && strings.Contains(p.Text, "booking reference") {
			t.Errorf("the DM's text went out publicly: %+v", p)
		}
		if strings.Contains(p.Text, "noon") {
			t.Errorf("a note went out publicly: %+v", p)
		}
	}
	say(rui, "!resolve replacement bus, booking by DM")
	c.waitFor("the card resolved", func() bool {
		for _, m := range c.cards(rail) {
			if m.ID == card.ID {
				return shows(m, "Resolved")
			}
		}
		return false
	})
}

// What a newcomer to the demo tries first in a claimed thread (issue #14):
// "*note:* check the log" stays a note, and "Thanks @mei" (a colleague
// picked as a mention) is refused; each is marked not sent and explained
// to its author in the sandbox's notices, and nothing reaches the network.
// On Slack and on Discord.
func TestDemoNewcomerNotesAndMentions(t *testing.T) {
	t.Parallel()
	base, _ := startDemo(t)
	c := sandboxClient{t: t, base: base}
	for _, d := range []struct{ desk, channel, as, colleague, handle, text string }{
		{"slack", "C01CARE", "U01RUI", "Mei Chen", "kira", "@earshot my refund never came (newcomer slack)"},
		{"discord", "3100000000000000001", "3300000000000000001", "Tomás Ruiz", "lina", "@earshot my phone has no bars (newcomer discord)"},
	} {
		var complaint demo.PublicPost
		c.post("/api/public/post", map[string]any{"network": "mastodon", "handle": d.handle, "text": d.text}, &complaint)
		var card demo.Message
		c.waitFor("the card on "+d.desk, func() bool {
			var v struct{ Cards []demo.Message }
			c.get("/api/desk/"+d.desk+"/"+d.channel, &v)
			for _, m := range v.Cards {
				if shows(m, d.text[len("@earshot "):]) {
					card = m
					return true
				}
			}
			return false
		})
		c.post("/api/desk/press", map[string]any{"desk": d.desk, "as": d.as, "channel": card.Channel, "id": card.ID, "action": "earshot:claim"}, nil)
		thread := func() (msgs []demo.Message, notices []demo.Notice) {
			var v struct {
				Messages []demo.Message
				Notices  []demo.Notice
			}
			c.get("/api/desk/"+d.desk+"/"+d.channel+"/thread/"+card.Thread+"?as="+d.as, &v)
			return v.Messages, v.Notices
		}
		c.waitFor("the claim on "+d.desk, func() bool {
			var v struct{ Cards []demo.Message }
			c.get("/api/desk/"+d.desk+"/"+d.channel, &v)
			return slices.ContainsFunc(v.Cards, func(m demo.Message) bool { return m.ID == card.ID && shows(m, "Claimed by") })
		})
		say := func(text string) string {
			var s struct{ ID string }
			c.post("/api/desk/say", map[string]any{"desk": d.desk, "as": d.as, "channel": d.channel, "thread": card.Thread, "text": text}, &s)
			return s.ID
		}
		bold := "*note:* check the log"
		if d.desk == "discord" {
			bold = "**note:** check the log"
		}
		colleague := "tomas"
		if d.desk == "slack" {
			colleague = "mei"
		}
		note, mention := say(bold), say("Thanks @"+colleague+"!")
		c.waitFor("both marked not sent and explained on "+d.desk, func() bool {
			msgs, notices := thread()
			raw, _ := json.Marshal(notices)
			explained := strings.Contains(string(raw), "A note") && strings.Contains(string(raw), "your colleague "+d.colleague)
			return markOf(msgs, note) == "not_sent" && markOf(msgs, mention) == "not_sent" && explained
		})
		posts, _ := c.public(demo.Mastodon)
		for _, p := range posts {
			if p.Brand && p.InReplyTo == complaint.ID {
				t.Errorf("%s: something was published: %+v", d.desk, p)
			}
		}
	}
}
