package discord_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// speechEnv is the Discord desk and its fake for the public-speech corpus
// (issue #14), its queue a forum or (thread) a text channel: a new desk per
// bridge run.
func speechEnv(t *testing.T, o envOpts) *connectortest.SpeechEnv {
	e := newEnv(t, o)
	f := e.fake
	var mu sync.Mutex
	var shown []string
	events := f.Subscribe()
	go func() {
		for ev := range events {
			// Delivery lines answer the staff message they are about.
			if m := ev.Message; m != nil && m.Bot && m.Reference != "" && (ev.Kind == "message" || ev.Kind == "update") {
				mu.Lock()
				shown = append(shown, m.Visible())
				mu.Unlock()
			}
		}
	}()
	used := false
	de := e.deskEnv()
	return &connectortest.SpeechEnv{
		Desk: "discord",
		NewDesk: func(tb testing.TB) connectortest.SpeechDesk {
			if !used {
				used = true
				return e.desk
			}
			d, err := discord.New(e.cfg, bridge.Deps{Logger: quietLogger()})
			if err != nil {
				tb.Fatal(err)
			}
			return d
		},
		Channel:   e.channel,
		Staff:     bridge.Staff{Desk: "discord", ID: staffID, Name: staffName},
		Colleague: bridge.Staff{Desk: "discord", ID: beaID, Name: "Bea"},
		Markup: func(kind, arg string) string {
			switch kind {
			case "b":
				return "**" + arg + "**"
			case "i":
				return "*" + arg + "*"
			case "s":
				return "~~" + arg + "~~"
			case "code":
				return "`" + arg + "`"
			case "pre":
				return "```\n" + arg + "\n```"
			case "spoiler":
				return "||" + arg + "||"
			case "quote":
				return "> "
			case "user":
				return "<@" + beaID + ">"
			case "group":
				return "<@&" + roleID + ">"
			case "channel":
				return "<#" + textID + ">"
			case "here":
				return "@here"
			case "everyone":
				return "@everyone"
			case "link":
				url, label, _ := strings.Cut(arg, "|")
				return "[" + label + "](" + url + ")"
			case "url":
				return "<" + arg + ">"
			case "mail":
				return arg
			case "emoji":
				return "<:" + arg + ":112233445566778899>"
			}
			t.Fatalf("no Discord markup for {%s}", kind)
			return ""
		},
		Write: func(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef { return e.say(tb, th, text) },
		Edit: func(tb testing.TB, m bridge.MessageRef, text string) {
			if err := f.Edit(m.Thread, m.ID, text); err != nil {
				tb.Fatal(err)
			}
		},
		Mark:    de.Mark,
		Private: de.Private,
		Shown: func(testing.TB) []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), shown...)
		},
		Cards: func(testing.TB) []bridge.ThreadRef {
			var out []bridge.ThreadRef
			if e.forum {
				for _, c := range f.Threads(e.channel) {
					out = append(out, bridge.ThreadRef{Desk: "discord", Channel: e.channel, ID: c.ID})
				}
				return out
			}
			for _, m := range f.Messages(e.channel) {
				if m.Bot && m.Embeds != nil {
					out = append(out, bridge.ThreadRef{Desk: "discord", Channel: e.channel, ID: m.ID})
				}
			}
			return out
		},
		Press: func(tb testing.TB, th bridge.ThreadRef, verb string) { e.press(tb, staffID, th, verb, "") },
		Slash: func(tb testing.TB, th bridge.ThreadRef, _ bridge.CaseID, verb, args string) {
			e.slash(tb, staffID, th.ID, verb, args)
		},
		Hold: func(tb testing.TB, what string) (<-chan struct{}, func()) {
			switch {
			case what == "card" && e.forum:
				return f.HoldAnswers("POST /channels/{id}/threads")
			case what == "card":
				return f.HoldAnswers("POST /channels/{id}/messages")
			case what == "mark":
				// A desk that does not know a message's marks reads them first.
				return f.HoldAnswers("GET /channels/{id}/messages/{mid}")
			case what == "reaction":
				return f.HoldAnswers("PUT /channels/{id}/messages/{mid}/reactions/{emoji}/@me")
			}
			tb.Fatalf("nothing to hold for %q", what)
			return nil, nil
		},
	}
}

// The public-speech corpus through the real bridge and the Discord desk.
func TestSpeechCorpus(t *testing.T) {
	t.Parallel()
	connectortest.RunSpeechCorpus(t, speechEnv(t, envOpts{}))
}

// Finding 5 on Discord: a crash between the card's post and its answer
// leaves one card: in a forum found among the active threads, in a text
// channel by its nonce and its case in the channel's history.
func TestCardCrashForum(t *testing.T) {
	t.Parallel()
	connectortest.RunCardCrash(t, speechEnv(t, envOpts{}))
}

func TestCardCrashThreads(t *testing.T) {
	t.Parallel()
	connectortest.RunCardCrash(t, speechEnv(t, envOpts{thread: true}))
}

// Finding 6 on Discord: a refusal journaled before a crash is shown after it.
func TestRefusalCrash(t *testing.T) {
	t.Parallel()
	connectortest.RunRefusalCrash(t, speechEnv(t, envOpts{thread: true}))
}

// The pending line shows the exact public text (and an edit's).
func TestPendingPreview(t *testing.T) {
	t.Parallel()
	connectortest.RunPendingPreview(t, speechEnv(t, envOpts{}))
}

// "!assign <@…>" stores the colleague's name on Discord too.
func TestAssignByMention(t *testing.T) {
	t.Parallel()
	connectortest.RunAssignByMention(t, speechEnv(t, envOpts{thread: true}))
}

// Finding 3 and 7 through Discord's slash commands in the case's thread.
func TestSlashCommandMentions(t *testing.T) {
	t.Parallel()
	connectortest.RunSlashMentions(t, speechEnv(t, envOpts{}))
}
