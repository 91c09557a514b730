package demo

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// render is a Text as a reader sees it, links as "label (url)".
func render(t Text) string {
	switch t.Kind {
	case "mrkdwn":
		return slackfake.RenderMrkdwn(t.Text)
	case "markdown":
		return discordfake.RenderMarkdown(t.Text)
	}
	return t.Text
}

// slackSide is the fake Slack workspace as its members use it.
type slackSide struct{ f *slackfake.Fake }

// slackEmoji shows Slack reaction names as the emoji people see.
var slackEmoji = map[string]string{
	"hourglass_flowing_sand": "⏳", "white_check_mark": "✅", "x": "❌",
	"no_entry_sign": "🚫", "wastebasket": "🗑️", "warning": "⚠️", "eyes": "👀",
}

var caseIDRE = regexp.MustCompile(`^[A-Za-z]{1,8}-[0-9]{1,9}$`)

func (s slackSide) connected() bool { return s.f.Connected() > 0 }

// live finds a message that is not deleted.
func (s slackSide) live(channel, ts string) (slackfake.Message, error) {
	m, ok := s.f.Message(channel, ts)
	if !ok || m.Deleted {
		return slackfake.Message{}, ErrNoSuchMessage
	}
	return m, nil
}

// escapeSlack escapes what a Slack client escapes when a person types.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s slackSide) say(channel, thread, user, text string) (string, error) {
	if thread != "" {
		root, err := s.live(channel, thread)
		if err != nil {
			return "", err
		}
		if root.ThreadTS != "" && root.ThreadTS != root.TS {
			return "", fmt.Errorf("%w: %s is itself a thread reply", ErrNoSuchMessage, thread)
		}
	}
	return s.f.Say(user, channel, thread, typedSlack(text)), nil
}

func (s slackSide) own(channel, ts, user string) error {
	m, err := s.live(channel, ts)
	if err != nil {
		return err
	}
	if m.User != user || m.BotID != "" {
		return ErrNotYours
	}
	return nil
}

func (s slackSide) edit(channel, ts, user, text string) error {
	if err := s.own(channel, ts, user); err != nil {
		return err
	}
	return s.f.Edit(channel, ts, typedSlack(text))
}

func (s slackSide) remove(channel, ts, user string) error {
	if err := s.own(channel, ts, user); err != nil {
		return err
	}
	return s.f.Delete(channel, ts)
}

func (s slackSide) press(channel, ts, user, action, option string) error {
	m, err := s.live(channel, ts)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(m.Actions(), func(a slackfake.Action) bool {
		return a.ID == action && (a.Type != "static_select" || slices.Contains(a.Options, option))
	}) {
		return ErrNoSuchAction
	}
	if err := s.f.Press(user, channel, ts, action, option); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSuchAction, err)
	}
	return nil
}

// commands are the channel commands Earshot's Slack app registers.
func (s slackSide) commands() []SlashCommand {
	out := make([]SlashCommand, 0, len(slack.SlashCommands))
	for _, c := range slack.SlashCommands {
		out = append(out, SlashCommand{Command: c.Command, Description: c.Description, Usage: c.Usage})
	}
	return out
}

func (s slackSide) slash(channel, _, user string, cmd SlashCommand, text string) error {
	s.f.Slash(user, channel, cmd.Command, typedSlack(text))
	return nil
}

func (s slackSide) cards(channel string, limit int) ([]Message, int) {
	all := s.f.Messages(channel)
	total := len(all)
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	out := make([]Message, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		m := s.view(all[i])
		m.Thread = m.ID // any Slack message can start a thread
		if all[i].ThreadTS == all[i].TS {
			m.Replies = len(s.f.Thread(channel, all[i].TS)) - 1
		}
		out = append(out, m)
	}
	return out, total
}

func (s slackSide) thread(channel, ts string) ([]Message, error) {
	if _, err := s.live(channel, ts); err != nil {
		return nil, err
	}
	msgs := s.f.Thread(channel, ts)
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		v := s.view(m)
		v.Thread = ts
		out = append(out, v)
	}
	if len(out) > 0 {
		out[0].Replies = len(out) - 1
	}
	return out, nil
}

func (s slackSide) message(channel, ts string) (Message, error) {
	m, err := s.live(channel, ts)
	if err != nil {
		return Message{}, err
	}
	return s.view(m), nil
}

func (s slackSide) notices(user string) []Notice {
	var out []Notice
	for i, e := range s.f.Ephemerals(user) {
		n := Notice{Seq: i + 1, Channel: e.Channel, Thread: e.ThreadTS, Blocks: parseBlocks(e.Blocks)}
		if e.Text != "" {
			n.Text = &Text{Kind: "mrkdwn", Text: e.Text}
		}
		out = append(out, n)
	}
	return out
}

// view turns a fake Slack message into what a page shows.
func (s slackSide) view(m slackfake.Message) Message {
	v := Message{Desk: SlackDesk, Channel: m.Channel, ID: m.TS, AuthorID: m.User, Bot: m.BotID != "",
		Blocks: parseBlocks(m.Blocks), Edited: m.Edited && m.BotID == "", At: tsTime(m.TS)}
	if len(v.Blocks) == 0 && m.Text != "" {
		v.Text = &Text{Kind: "mrkdwn", Text: m.Text}
	}
	if m.ThreadTS != "" && m.ThreadTS != m.TS {
		v.Thread = m.ThreadTS
	}
	if v.Bot {
		v.Author, v.As = "Earshot", m.Username
	} else if p, ok := PersonByID(SlackDesk, m.User); ok {
		v.Author = p.Name
	} else {
		v.Author = m.User
	}
	for _, r := range m.Reactions {
		mk := Mark{Emoji: slackEmoji[r.Name], State: string(slack.StateOfReaction(r.Name)), Count: len(r.Users)}
		if mk.Emoji == "" {
			mk.Emoji = ":" + r.Name + ":"
		}
		v.Marks = append(v.Marks, mk)
	}
	v.CaseID = cardCaseID(v)
	return v
}

// cardCaseID reads the case id from a card's header ("E-42 · Ana Lima").
func cardCaseID(v Message) string {
	if !v.Bot || len(v.Blocks) == 0 || v.Blocks[0].Type != "header" || v.Blocks[0].Text == nil {
		return ""
	}
	if id, _, ok := strings.Cut(render(*v.Blocks[0].Text), " · "); ok && caseIDRE.MatchString(id) {
		return id
	}
	return ""
}

// tsTime reads a Slack ts ("1712345678.000200") as a time.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}
	}
	return time.Unix(s, us*1000).UTC()
}

type rawText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t *rawText) view() *Text {
	if t == nil {
		return nil
	}
	k := "plain"
	if t.Type == "mrkdwn" {
		k = "mrkdwn"
	}
	return &Text{Kind: k, Text: t.Text}
}

type rawElement struct {
	Type     string   `json:"type"`
	ActionID string   `json:"action_id"`
	Style    string   `json:"style"`
	Text     *rawText `json:"text"`
	Placeh   *rawText `json:"placeholder"`
	Options  []struct {
		Value string   `json:"value"`
		Text  *rawText `json:"text"`
	} `json:"options"`
}

func (e rawElement) action() (Action, bool) {
	if e.ActionID == "" || (e.Type != "button" && e.Type != "static_select") {
		return Action{}, false
	}
	a := Action{ID: e.ActionID, Type: "button", Style: e.Style}
	if e.Type == "static_select" {
		a.Type = "select"
	}
	if e.Text != nil {
		a.Label = e.Text.Text
	} else if e.Placeh != nil {
		a.Label = e.Placeh.Text
	}
	for _, o := range e.Options {
		op := Option{Value: o.Value, Label: o.Value}
		if o.Text != nil {
			op.Label = o.Text.Text
		}
		a.Options = append(a.Options, op)
	}
	return a, true
}

// parseBlocks reads Block Kit JSON into Blocks; unknown blocks are skipped.
func parseBlocks(raw json.RawMessage) []Block {
	if len(raw) == 0 {
		return nil
	}
	var bs []struct {
		Type      string            `json:"type"`
		Text      *rawText          `json:"text"`
		Fields    []rawText         `json:"fields"`
		Elements  []json.RawMessage `json:"elements"`
		Accessory *rawElement       `json:"accessory"`
	}
	if json.Unmarshal(raw, &bs) != nil {
		return nil
	}
	var out []Block
	for _, b := range bs {
		v := Block{Type: b.Type, Text: b.Text.view()}
		for _, f := range b.Fields {
			v.Fields = append(v.Fields, *f.view())
		}
		switch b.Type {
		case "context":
			for _, e := range b.Elements {
				var t rawText
				if json.Unmarshal(e, &t) == nil && (t.Type == "mrkdwn" || t.Type == "plain_text") {
					v.Elements = append(v.Elements, *t.view())
				}
			}
		case "actions":
			for _, e := range b.Elements {
				var el rawElement
				if json.Unmarshal(e, &el) == nil {
					if a, ok := el.action(); ok {
						v.Actions = append(v.Actions, a)
					}
				}
			}
		case "header", "section", "divider":
		default:
			continue
		}
		if b.Accessory != nil {
			if a, ok := b.Accessory.action(); ok {
				v.Actions = append(v.Actions, a)
			}
		}
		out = append(out, v)
	}
	return out
}
