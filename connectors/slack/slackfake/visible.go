package slackfake

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Action is an interactive element of a message (a button or a select).
type Action struct {
	ID      string   // action_id
	Type    string   // "button", "static_select"
	Value   string   // a button's value
	Label   string   // a button's text
	Options []string // a select's option values
}

var linkRE = regexp.MustCompile(`<([^<>|]+)(?:\|([^<>]*))?>`)

// RenderMrkdwn shows Slack mrkdwn as a reader sees it: links as
// "label (url)", mentions as written, entities unescaped. Formatting marks
// (*bold*) are kept as typed.
func RenderMrkdwn(s string) string {
	s = linkRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := linkRE.FindStringSubmatch(m)
		target, label := sub[1], sub[2]
		if label == "" || label == target {
			return target
		}
		return label + " (" + target + ")"
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t *textObj) render() string {
	if t == nil {
		return ""
	}
	if t.Type == "mrkdwn" {
		return RenderMrkdwn(t.Text)
	}
	return t.Text
}

type block struct {
	Type     string            `json:"type"`
	Text     *textObj          `json:"text"`
	Fields   []*textObj        `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

// Visible is every text of the message a reader sees, one block a line:
// blocks when present, else the text.
func (m Message) Visible() string {
	var bs []block
	if len(m.Blocks) == 0 || json.Unmarshal(m.Blocks, &bs) != nil || len(bs) == 0 {
		return RenderMrkdwn(m.Text)
	}
	var lines []string
	for _, b := range bs {
		if s := b.Text.render(); s != "" {
			lines = append(lines, s)
		}
		for _, f := range b.Fields {
			lines = append(lines, f.render())
		}
		if b.Type == "context" {
			for _, e := range b.Elements {
				var t textObj
				if json.Unmarshal(e, &t) == nil && t.Text != "" {
					lines = append(lines, t.render())
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

// Actions lists the message's interactive elements in display order.
func (m Message) Actions() []Action {
	var bs []block
	if json.Unmarshal(m.Blocks, &bs) != nil {
		return nil
	}
	var out []Action
	for _, b := range bs {
		for _, raw := range b.Elements {
			var e struct {
				Type     string   `json:"type"`
				ActionID string   `json:"action_id"`
				Value    string   `json:"value"`
				Text     *textObj `json:"text"`
				Options  []struct {
					Value string `json:"value"`
				} `json:"options"`
			}
			if json.Unmarshal(raw, &e) != nil || e.ActionID == "" {
				continue
			}
			a := Action{ID: e.ActionID, Type: e.Type, Value: e.Value, Label: e.Text.render()}
			for _, o := range e.Options {
				a.Options = append(a.Options, o.Value)
			}
			out = append(out, a)
		}
	}
	return out
}
