package slack_test

import (
	"encoding/json"
	"slices"
	"testing"

	goslack "github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/slack"
)

func TestParseSlash(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cmd, text, name string
		args            []string
		raw             string
	}{
		{"/claim", "", "claim", nil, ""},
		{"/claim", "E-42", "claim", []string{"E-42"}, "E-42"},
		{"/escalate", "E-42 billing", "escalate", []string{"E-42", "billing"}, "E-42 billing"},
		{"/resolve", `E-42 "refund sent, all good"`, "resolve", []string{"E-42", "refund sent, all good"}, `E-42 "refund sent, all good"`},
		{"/queue", "  ", "queue", nil, ""},
		{"/earshot", "escalate E-42 billing", "escalate", []string{"E-42", "billing"}, "E-42 billing"},
		{"/earshot", "", "help", nil, ""},
		{"/EARSHOT", "Claim e-42", "claim", []string{"e-42"}, "e-42"},
		{"/earshot", "note E-1 “smart quotes here” &lt;ok&gt;", "note", []string{"E-1", "smart quotes here", "<ok>"}, "E-1 “smart quotes here” <ok>"},
		{"/earshot", `tag E-1 '' x`, "tag", []string{"E-1", "", "x"}, `E-1 '' x`},
		{"/earshot", "claim\nE-9", "claim", []string{"E-9"}, "E-9"},
		{"/resolve", "E-42 customer's fine", "resolve", []string{"E-42", "customer's", "fine"}, "E-42 customer's fine"},
		{"/resolve", `E-42 "unclosed`, "resolve", []string{"E-42", `"unclosed`}, `E-42 "unclosed`},
	}
	for _, c := range cases {
		name, args, raw := slack.ParseSlash(c.cmd, c.text)
		if name != c.name || !slices.Equal(args, c.args) || raw != c.raw {
			t.Errorf("ParseSlash(%q, %q) = %q %q %q, want %q %q %q", c.cmd, c.text, name, args, raw, c.name, c.args, c.raw)
		}
	}
}

func FuzzParseSlash(f *testing.F) {
	f.Add("/earshot", `escalate E-42 "billing team" x`)
	f.Add("/claim", `"unterminated`)
	f.Add("/resolve", "‘a’ “b” \t\n c")
	f.Fuzz(func(t *testing.T, cmd, text string) {
		name, args, _ := slack.ParseSlash(cmd, text)
		_ = name
		for _, a := range args {
			_ = a
		}
	})
}

func TestParseStaffMessage(t *testing.T) {
	t.Parallel()
	wrap := func(ev string) []byte {
		return []byte(`{"type":"event_callback","event_id":"Ev1","event":` + ev + `}`)
	}
	m, user, ok := slack.ParseStaffMessage(wrap(`{"type":"message","channel":"C1","user":"U1","text":"a &amp; b","ts":"2.000001","thread_ts":"1.000001"}`), "UBOT")
	if !ok || user != "U1" || m.Kind != bridge.MessageNew || m.Text != "a & b" || m.Thread.ID != "1.000001" || m.Message.ID != "2.000001" || m.At.IsZero() {
		t.Errorf("reply: %+v %q %v", m, user, ok)
	}
	for name, ev := range map[string]string{
		"top level":    `{"type":"message","channel":"C1","user":"U1","text":"x","ts":"2.1"}`,
		"thread root":  `{"type":"message","channel":"C1","user":"U1","text":"x","ts":"2.1","thread_ts":"2.1"}`,
		"our bot":      `{"type":"message","channel":"C1","user":"UBOT","text":"x","ts":"2.1","thread_ts":"1.1"}`,
		"another bot":  `{"type":"message","subtype":"bot_message","channel":"C1","bot_id":"B9","text":"x","ts":"2.1","thread_ts":"1.1"}`,
		"bot id only":  `{"type":"message","channel":"C1","user":"U2","bot_id":"B9","text":"x","ts":"2.1","thread_ts":"1.1"}`,
		"join":         `{"type":"message","subtype":"channel_join","channel":"C1","user":"U1","ts":"2.1","thread_ts":"1.1"}`,
		"unfurl edit":  `{"type":"message","subtype":"message_changed","channel":"C1","message":{"user":"U1","text":"x","ts":"2.1","thread_ts":"1.1"},"previous_message":{"user":"U1","text":"x","ts":"2.1","thread_ts":"1.1"}}`,
		"other events": `{"type":"reaction_added","user":"U1"}`,
	} {
		if _, _, ok := slack.ParseStaffMessage(wrap(ev), "UBOT"); ok {
			t.Errorf("%s was handed over", name)
		}
	}
	m, _, ok = slack.ParseStaffMessage(wrap(`{"type":"message","subtype":"message_changed","channel":"C1","message":{"user":"U1","text":"new","ts":"2.1","thread_ts":"1.1"},"previous_message":{"user":"U1","text":"old","ts":"2.1","thread_ts":"1.1"}}`), "UBOT")
	if !ok || m.Kind != bridge.MessageEdited || m.Text != "new" || m.Message.ID != "2.1" {
		t.Errorf("edit: %+v %v", m, ok)
	}
	m, _, ok = slack.ParseStaffMessage(wrap(`{"type":"message","subtype":"message_deleted","channel":"C1","deleted_ts":"2.1","previous_message":{"user":"U1","text":"old","ts":"2.1","thread_ts":"1.1"}}`), "UBOT")
	if !ok || m.Kind != bridge.MessageDeleted || m.Message.ID != "2.1" || m.Thread.ID != "1.1" {
		t.Errorf("delete: %+v %v", m, ok)
	}
}

func FuzzParseStaffMessage(f *testing.F) {
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"2.1","thread_ts":"1.1"}}`))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","subtype":"message_deleted","channel":"C1","previous_message":{"user":"U1"}}}`))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","subtype":"message_changed","channel":"C1","message":null}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, user, ok := slack.ParseStaffMessage(payload, "UBOT")
		if ok && (user == "" || user == "UBOT" || m.Thread.ID == "" || m.Message.ID == "" || m.Thread.ID == m.Message.ID) {
			t.Errorf("accepted %+v by %q", m, user)
		}
	})
}

func TestParseInteraction(t *testing.T) {
	t.Parallel()
	payload := `{"type":"block_actions","user":{"id":"U1","name":"ana"},"channel":{"id":"C1"},
		"container":{"type":"message","message_ts":"5.1","channel_id":"C1","thread_ts":"1.1"},
		"actions":[{"action_id":"earshot:retry","block_id":"earshot:retry","type":"button","value":"{\"o\":\"ob-3\",\"m\":\"4.1\",\"a\":\"U1\"}"}]}`
	var cb goslack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		t.Fatal(err)
	}
	inv, ok := slack.ParseInteraction(cb)
	if !ok || inv.Name != "retry" || !slices.Equal(inv.Args, []string{"ob-3"}) || inv.Message.ID != "4.1" || inv.Thread.ID != "1.1" || inv.Source != bridge.SourceButton {
		t.Errorf("retry: %+v %v", inv, ok)
	}
	card := `{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"container":{"type":"message","message_ts":"1.1","channel_id":"C1"},
		"actions":[{"action_id":"earshot:escalate","block_id":"earshot:card","type":"static_select","selected_option":{"value":"customer care"}}]}`
	cb = goslack.InteractionCallback{}
	if err := json.Unmarshal([]byte(card), &cb); err != nil {
		t.Fatal(err)
	}
	inv, ok = slack.ParseInteraction(cb)
	if !ok || inv.Name != "escalate" || !slices.Equal(inv.Args, []string{"customer care"}) || inv.Raw != "" || inv.Thread.ID != "1.1" {
		t.Errorf("escalate: %+v %v", inv, ok)
	}
}

func FuzzParseInteraction(f *testing.F) {
	f.Add(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"earshot:claim","value":"E-1"}]}`)
	f.Add(`{"type":"block_actions","actions":[{"action_id":"earshot:retry","value":"{bad"}]}`)
	f.Add(`{"type":"block_actions","actions":[{"action_id":"earshot:escalate"}]}`)
	f.Fuzz(func(t *testing.T, payload string) {
		var cb goslack.InteractionCallback
		if json.Unmarshal([]byte(payload), &cb) != nil {
			return
		}
		if inv, ok := slack.ParseInteraction(cb); ok && inv.Name == "" {
			t.Errorf("accepted an empty verb: %+v", inv)
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("1531420618", exampleSig, []byte(exampleBody))
	f.Add("", "v0=zz", []byte{})
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		_ = slack.VerifySignature(exampleSecret, ts, sig, body, exampleNow)
	})
}

func BenchmarkParseStaffMessage(b *testing.B) {
	payload := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"C1","user":"U1","text":"Hi Ana &amp; team, sorry!","ts":"1700000001.000200","thread_ts":"1700000000.000100"}}`)
	b.ReportAllocs()
	for range b.N {
		if _, _, ok := slack.ParseStaffMessage(payload, "UBOT"); !ok {
			b.Fatal("not parsed")
		}
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if err := slack.VerifySignature(exampleSecret, exampleTS, exampleSig, []byte(exampleBody), exampleNow); err != nil {
			b.Fatal(err)
		}
	}
}
