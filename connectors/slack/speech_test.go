package slack_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
)

// speechEnv is the Slack desk and its fake for the public-speech corpus
// (issue #14) in mode "socket" or "http": a new desk per bridge run.
func speechEnv(t *testing.T, mode string) *connectortest.SpeechEnv {
	e := newEnv(t, envOpts{mode: mode})
	f := e.fake
	var mu sync.Mutex
	var shown []string
	events := f.Subscribe()
	go func() {
		for ev := range events {
			if m := ev.Message; m != nil && m.BotID != "" && m.ThreadTS != "" && m.ThreadTS != m.TS && (ev.Kind == "message" || ev.Kind == "update") {
				mu.Lock()
				shown = append(shown, m.Visible())
				mu.Unlock()
			}
		}
	}()
	used := false
	return &connectortest.SpeechEnv{
		Desk: "slack",
		NewDesk: func(tb testing.TB) connectortest.SpeechDesk {
			if !used {
				used = true
				return e.desk
			}
			d, err := slack.New(e.cfg, bridge.Deps{Logger: quietLogger()})
			if err != nil {
				tb.Fatal(err)
			}
			if mode == "http" {
				f.SetHTTPTarget(connectortest.ServeRoutes(tb, d).URL)
			}
			return d
		},
		Channel:   channel,
		Staff:     bridge.Staff{Desk: "slack", ID: staffID, Name: staffName},
		Colleague: bridge.Staff{Desk: "slack", ID: "U2BEA", Name: "Bea"},
		Markup: func(kind, arg string) string {
			switch kind {
			case "b":
				return "*" + arg + "*"
			case "i":
				return "_" + arg + "_"
			case "s":
				return "~" + arg + "~"
			case "code":
				return "`" + arg + "`"
			case "pre":
				return "```" + arg + "```"
			case "quote":
				return "&gt; "
			case "user":
				return "<@U2BEA>"
			case "group":
				return "<!subteam^" + groupID + ">"
			case "channel":
				return "<#" + channel + "|support>"
			case "here":
				return "<!here>"
			case "everyone":
				return "<!channel>"
			case "link":
				url, label, _ := strings.Cut(arg, "|")
				return "<" + url + "|" + label + ">"
			case "url":
				return "<" + arg + ">"
			case "mail":
				return "<mailto:" + arg + "|" + arg + ">"
			case "emoji":
				return ":" + arg + ":"
			}
			t.Fatalf("no Slack markup for {%s}", kind)
			return ""
		},
		Escape: func(s string) string { return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s) },
		Write: func(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef {
			ts := f.Say(staffID, th.Channel, th.ID, text)
			return bridge.MessageRef{Desk: "slack", Channel: th.Channel, Thread: th.ID, ID: ts, Author: staffID}
		},
		Edit: func(tb testing.TB, m bridge.MessageRef, text string) {
			if err := f.Edit(m.Channel, m.ID, text); err != nil {
				tb.Fatal(err)
			}
		},
		Mark:    e.deskEnv().Mark,
		Private: e.deskEnv().Private,
		Shown: func(testing.TB) []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), shown...)
		},
		Cards: func(testing.TB) []bridge.ThreadRef {
			var out []bridge.ThreadRef
			for _, m := range f.Messages(channel) {
				if m.BotID != "" {
					out = append(out, bridge.ThreadRef{Desk: "slack", Channel: channel, ID: m.TS})
				}
			}
			return out
		},
		Press: func(tb testing.TB, th bridge.ThreadRef, verb string) {
			if err := f.Press(staffID, th.Channel, th.ID, "earshot:"+verb, ""); err != nil {
				tb.Fatal(err)
			}
		},
		Slash: func(tb testing.TB, th bridge.ThreadRef, id bridge.CaseID, verb, args string) {
			f.Slash(staffID, th.Channel, "/earshot", verb+" "+string(id)+" "+args)
		},
		Hold: func(tb testing.TB, what string) (<-chan struct{}, func()) {
			switch what {
			case "card":
				return f.HoldAnswers("chat.postMessage")
			case "mark":
				// A desk that does not know a message's marks reads them first.
				return f.HoldAnswers("reactions.get")
			case "reaction":
				return f.HoldAnswers("reactions.add")
			}
			tb.Fatalf("nothing to hold for %q", what)
			return nil, nil
		},
	}
}

// The public-speech corpus through the real bridge and the Slack desk,
// over Socket Mode and over the HTTP Events API.
func TestSpeechCorpusSocket(t *testing.T) {
	t.Parallel()
	connectortest.RunSpeechCorpus(t, speechEnv(t, "socket"))
}

func TestSpeechCorpusHTTP(t *testing.T) {
	t.Parallel()
	connectortest.RunSpeechCorpus(t, speechEnv(t, "http"))
}

// Finding 5 on Slack: a crash between the card's post and its answer
// leaves one card, found again by its message metadata.
func TestCardCrash(t *testing.T) {
	t.Parallel()
	connectortest.RunCardCrash(t, speechEnv(t, "http"))
}

// Finding 6 on Slack: a refusal journaled before a crash is shown after it.
func TestRefusalCrash(t *testing.T) {
	t.Parallel()
	connectortest.RunRefusalCrash(t, speechEnv(t, "socket"))
}

// The pending line shows the exact public text (and an edit's).
func TestPendingPreview(t *testing.T) {
	t.Parallel()
	connectortest.RunPendingPreview(t, speechEnv(t, "socket"))
}

// Finding 7 on Slack: "!assign <@U…>" stores the colleague's name.
func TestAssignByMention(t *testing.T) {
	t.Parallel()
	connectortest.RunAssignByMention(t, speechEnv(t, "socket"))
}

// Finding 3 and 7 through Slack's channel commands: the app asks Slack to
// escape them, so mentions arrive as tokens and the text is read like a
// message.
func TestSlashCommandMentions(t *testing.T) {
	t.Parallel()
	connectortest.RunSlashMentions(t, speechEnv(t, "http"))
}
