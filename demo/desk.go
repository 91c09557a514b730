package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// MaxMessageRunes bounds what a person may type in a desk through the world.
const MaxMessageRunes = 4000

// Text is a piece of text in a message block, as its desk formats it:
// Kind "plain" is shown verbatim, "mrkdwn" is Slack markup (links as
// <url|label>, *bold*, &lt; &gt; &amp; escapes).
type Text struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Option is one choice of a select.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Action is a button or a select on a message.
type Action struct {
	ID      string   `json:"id"`
	Type    string   `json:"type"` // "button" or "static_select"
	Label   string   `json:"label"`
	Value   string   `json:"value,omitempty"`
	Style   string   `json:"style,omitempty"` // "primary", "danger" or ""
	Options []Option `json:"options,omitempty"`
}

// Block is one block of a message, desk-neutral enough for a page to render.
type Block struct {
	Type     string   `json:"type"` // header, section, context, actions, divider
	Text     *Text    `json:"text,omitempty"`
	Fields   []Text   `json:"fields,omitempty"`
	Elements []Text   `json:"elements,omitempty"` // a context block's texts
	Actions  []Action `json:"actions,omitempty"`  // an actions block's elements, or a section's accessory
}

// Mark is a reaction on a message; Earshot's delivery marks have a State.
type Mark struct {
	Name  string `json:"name"`
	Emoji string `json:"emoji"`
	State string `json:"state,omitempty"` // pending, sent, failed, not_sent, cancelled, uncertain
	Count int    `json:"count"`
}

// Message is a desk message as its channel shows it.
type Message struct {
	Desk     string    `json:"desk"`
	Channel  string    `json:"channel"`
	TS       string    `json:"ts"`
	Thread   string    `json:"thread,omitempty"` // the thread root's ts, for a reply
	AuthorID string    `json:"author_id"`
	Author   string    `json:"author"`
	Bot      bool      `json:"bot"`              // written by Earshot
	As       string    `json:"as,omitempty"`     // posted by Earshot under this name (a customer's follow-up)
	Text     string    `json:"text"`             // mrkdwn; shown when there are no blocks
	Blocks   []Block   `json:"blocks,omitempty"` // the card and Earshot's rich messages
	Marks    []Mark    `json:"marks,omitempty"`
	Edited   bool      `json:"edited,omitempty"`
	Replies  int       `json:"replies,omitempty"` // thread replies, for a root
	CaseID   string    `json:"case_id,omitempty"` // for a card
	At       time.Time `json:"at"`
}

// Notice is a message only one person sees (a Slack ephemeral).
type Notice struct {
	Seq     int     `json:"seq"` // its place among this person's notices
	Channel string  `json:"channel"`
	Thread  string  `json:"thread,omitempty"`
	Text    string  `json:"text"`
	Blocks  []Block `json:"blocks,omitempty"`
}

// Errors of desk actions, for callers that answer people (a 4xx).
var (
	ErrUnknownDesk    = errors.New("unknown desk")
	ErrUnknownChannel = errors.New("unknown channel")
	ErrUnknownPerson  = errors.New("unknown staff member")
	ErrNoSuchMessage  = errors.New("no such message")
	ErrNotYours       = errors.New("you can only edit or delete your own messages")
	ErrBadMessage     = fmt.Errorf("a message is 1 to %d characters", MaxMessageRunes)
	ErrBadCommand     = errors.New("not a slash command of this workspace")
	ErrNoSuchAction   = errors.New("the message has no such button or choice")
)

// markEmoji shows Slack reaction names as the emoji people see.
var markEmoji = map[string]string{
	"hourglass_flowing_sand": "⏳", "white_check_mark": "✅", "x": "❌",
	"no_entry_sign": "🚫", "wastebasket": "🗑️", "warning": "⚠️", "eyes": "👀",
}

var tsRE = regexp.MustCompile(`^[0-9]{1,12}\.[0-9]{6}$`)

// check validates the desk, channel and acting person of a desk action.
func (w *World) check(desk, channel, user string) error {
	if desk != SlackDesk {
		return fmt.Errorf("%w %q", ErrUnknownDesk, desk)
	}
	if _, ok := ChannelByID(desk, channel); !ok {
		return fmt.Errorf("%w %q", ErrUnknownChannel, channel)
	}
	if user != "" {
		if _, ok := PersonByID(desk, user); !ok {
			return fmt.Errorf("%w %q", ErrUnknownPerson, user)
		}
	}
	return nil
}

func checkText(text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > MaxMessageRunes {
		return "", ErrBadMessage
	}
	return text, nil
}

// message finds a live message by ts.
func (w *World) message(channel, ts string) (slackfake.Message, error) {
	if !tsRE.MatchString(ts) {
		return slackfake.Message{}, ErrNoSuchMessage
	}
	m, ok := w.Slack.Message(channel, ts)
	if !ok || m.Deleted {
		return slackfake.Message{}, ErrNoSuchMessage
	}
	return m, nil
}

// Say writes text as user in channel, in the thread rooted at thread
// unless it is "" (a channel message). It returns the new message's ts.
func (w *World) Say(desk, channel, thread, user, text string) (string, error) {
	if err := w.check(desk, channel, user); err != nil {
		return "", err
	}
	text, err := checkText(text)
	if err != nil {
		return "", err
	}
	if thread != "" {
		root, err := w.message(channel, thread)
		if err != nil {
			return "", err
		}
		if root.ThreadTS != "" && root.ThreadTS != root.TS {
			return "", fmt.Errorf("%w: %s is itself a thread reply", ErrNoSuchMessage, thread)
		}
	}
	return w.Slack.Say(user, channel, thread, escapeSlack(text)), nil
}

// escapeSlack escapes what a Slack client escapes when a person types.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Edit changes the text of user's own message ts.
func (w *World) Edit(desk, channel, ts, user, text string) error {
	if err := w.check(desk, channel, user); err != nil {
		return err
	}
	text, err := checkText(text)
	if err != nil {
		return err
	}
	m, err := w.message(channel, ts)
	if err != nil {
		return err
	}
	if m.User != user || m.BotID != "" {
		return ErrNotYours
	}
	return w.Slack.Edit(channel, ts, escapeSlack(text))
}

// Delete deletes user's own message ts.
func (w *World) Delete(desk, channel, ts, user string) error {
	if err := w.check(desk, channel, user); err != nil {
		return err
	}
	m, err := w.message(channel, ts)
	if err != nil {
		return err
	}
	if m.User != user || m.BotID != "" {
		return ErrNotYours
	}
	return w.Slack.Delete(channel, ts)
}

// Press presses, as user, button action (or picks option of select
// action) on message ts.
func (w *World) Press(desk, channel, ts, user, action, option string) error {
	if err := w.check(desk, channel, user); err != nil {
		return err
	}
	m, err := w.message(channel, ts)
	if err != nil {
		return err
	}
	found := false
	for _, a := range m.Actions() {
		if a.ID == action && (a.Type != "static_select" || slices.Contains(a.Options, option)) {
			found = true
		}
	}
	if !found {
		return ErrNoSuchAction
	}
	if err := w.Slack.Press(user, channel, ts, action, option); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSuchAction, err)
	}
	return nil
}

// SlashCommands are the channel commands the workspace knows (Earshot's
// app registers them); Slack refuses slash commands inside threads.
func SlashCommands() []struct{ Command, Description, Usage string } {
	return slack.SlashCommands
}

// Slash runs a registered slash command as user in channel.
func (w *World) Slash(desk, channel, user, command, text string) error {
	if err := w.check(desk, channel, user); err != nil {
		return err
	}
	command = strings.ToLower(strings.TrimSpace(command))
	if !strings.HasPrefix(command, "/") {
		command = "/" + command
	}
	known := false
	for _, c := range slack.SlashCommands {
		known = known || c.Command == command
	}
	if !known {
		return fmt.Errorf("%w: %s", ErrBadCommand, command)
	}
	text = strings.TrimSpace(text)
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return ErrBadMessage
	}
	w.Slack.Slash(user, channel, command, escapeSlack(text))
	return nil
}

// Cards returns the latest top-level messages of channel (Earshot's cards,
// and anything said in the channel), newest first, at most limit, and
// how many there are.
func (w *World) Cards(desk, channel string, limit int) ([]Message, int, error) {
	if err := w.check(desk, channel, ""); err != nil {
		return nil, 0, err
	}
	all := w.Slack.Messages(channel)
	total := len(all)
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	out := make([]Message, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		m := w.view(all[i])
		if all[i].ThreadTS == all[i].TS {
			m.Replies = len(w.Slack.Thread(channel, all[i].TS)) - 1
		}
		out = append(out, m)
	}
	return out, total, nil
}

// Thread returns the thread rooted at ts: the root, then the replies, oldest first.
func (w *World) Thread(desk, channel, ts string) ([]Message, error) {
	if err := w.check(desk, channel, ""); err != nil {
		return nil, err
	}
	if _, err := w.message(channel, ts); err != nil {
		return nil, err
	}
	msgs := w.Slack.Thread(channel, ts)
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, w.view(m))
	}
	if len(out) > 0 {
		out[0].Replies = len(out) - 1
	}
	return out, nil
}

// Message returns one live message of channel as the channel shows it.
func (w *World) Message(desk, channel, ts string) (Message, error) {
	if err := w.check(desk, channel, ""); err != nil {
		return Message{}, err
	}
	m, err := w.message(channel, ts)
	if err != nil {
		return Message{}, err
	}
	return w.view(m), nil
}

// Notices returns the latest private notices user saw in channel (all
// channels when channel is ""), oldest first, at most limit.
func (w *World) Notices(desk, channel, user string, limit int) ([]Notice, error) {
	if err := w.check(desk, Channels[0].ID, user); err != nil {
		return nil, err
	}
	if channel != "" {
		if _, ok := ChannelByID(desk, channel); !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownChannel, channel)
		}
	}
	var out []Notice
	for i, e := range w.Slack.Ephemerals(user) {
		if channel != "" && e.Channel != channel {
			continue
		}
		out = append(out, Notice{Seq: i + 1, Channel: e.Channel, Thread: e.ThreadTS, Text: e.Text, Blocks: parseBlocks(e.Blocks)})
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// view turns a fake Slack message into what a page shows.
func (w *World) view(m slackfake.Message) Message {
	v := Message{Desk: SlackDesk, Channel: m.Channel, TS: m.TS, AuthorID: m.User, Bot: m.BotID != "",
		Text: m.Text, Blocks: parseBlocks(m.Blocks), Edited: m.Edited && m.BotID == "", At: tsTime(m.TS)}
	if m.ThreadTS != "" && m.ThreadTS != m.TS {
		v.Thread = m.ThreadTS
	}
	switch {
	case v.Bot:
		v.Author = "Earshot"
		v.As = m.Username
	default:
		if p, ok := PersonByID(SlackDesk, m.User); ok {
			v.Author = p.Name
		} else {
			v.Author = m.User
		}
	}
	for _, r := range m.Reactions {
		mk := Mark{Name: r.Name, Emoji: markEmoji[r.Name], State: string(slack.StateOfReaction(r.Name)), Count: len(r.Users)}
		if mk.Emoji == "" {
			mk.Emoji = ":" + r.Name + ":"
		}
		v.Marks = append(v.Marks, mk)
	}
	if v.Bot && len(v.Blocks) > 0 && v.Blocks[0].Type == "header" && v.Blocks[0].Text != nil {
		if id, _, ok := strings.Cut(v.Blocks[0].Text.Text, " · "); ok && caseIDRE.MatchString(id) {
			v.CaseID = id
		}
	}
	return v
}

var caseIDRE = regexp.MustCompile(`^[A-Za-z]{1,8}-[0-9]{1,9}$`)

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
	Value    string   `json:"value"`
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
	a := Action{ID: e.ActionID, Type: e.Type, Value: e.Value, Style: e.Style}
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

// Visible is the message's text as a reader sees it, blocks included, one
// block a line (links as "label (url)").
func (m Message) Visible() string {
	if len(m.Blocks) == 0 {
		return slackfake.RenderMrkdwn(m.Text)
	}
	var lines []string
	add := func(t *Text) {
		if t == nil || t.Text == "" {
			return
		}
		if t.Kind == "mrkdwn" {
			lines = append(lines, slackfake.RenderMrkdwn(t.Text))
		} else {
			lines = append(lines, t.Text)
		}
	}
	for _, b := range m.Blocks {
		add(b.Text)
		for i := range b.Fields {
			add(&b.Fields[i])
		}
		for i := range b.Elements {
			add(&b.Elements[i])
		}
	}
	return strings.Join(lines, "\n")
}

// State is the message's delivery state from its mark ("" when unmarked).
func (m Message) State() string {
	for _, mk := range m.Marks {
		if mk.State != "" {
			return mk.State
		}
	}
	return ""
}
