package demo

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessageRunes bounds what a person may type in a desk through the world.
const MaxMessageRunes = 4000

// Text is a piece of text in a message block, as its desk formats it:
// Kind "plain" is shown verbatim, "mrkdwn" is Slack markup (links as
// <url|label>, *bold*, &lt; &gt; &amp; escapes), "markdown" is Discord's
// ([label](url), **bold**, backslash escapes).
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
	Type    string   `json:"type"` // "button" or "select"
	Label   string   `json:"label"`
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
	Emoji string `json:"emoji"`
	State string `json:"state,omitempty"` // pending, sent, failed, not_sent, cancelled, uncertain
	Count int    `json:"count"`
}

// Message is a desk message as its channel shows it.
type Message struct {
	Desk string `json:"desk"`
	// Channel is where the message lives (a Slack channel; a Discord
	// channel or thread): edits, deletes and presses name it.
	Channel string `json:"channel"`
	ID      string `json:"id"` // a Slack ts, a Discord snowflake
	// Thread is the thread this message starts (a card) or belongs to (a
	// reply): what to open. "" for a channel message with no thread.
	Thread   string    `json:"thread,omitempty"`
	AuthorID string    `json:"author_id"`
	Author   string    `json:"author"`
	Bot      bool      `json:"bot"`              // written by Earshot
	As       string    `json:"as,omitempty"`     // posted by Earshot under this name (a customer's follow-up)
	Text     *Text     `json:"text,omitempty"`   // the message's own text
	Blocks   []Block   `json:"blocks,omitempty"` // the card and Earshot's rich messages
	Marks    []Mark    `json:"marks,omitempty"`
	Tags     []string  `json:"tags,omitempty"` // a Discord forum post's tags
	Edited   bool      `json:"edited,omitempty"`
	Replies  int       `json:"replies,omitempty"` // thread replies, for a card
	CaseID   string    `json:"case_id,omitempty"` // for a card
	At       time.Time `json:"at"`
}

// Notice is a message only one person sees (a Slack or Discord ephemeral).
type Notice struct {
	Seq     int     `json:"seq"`     // its place among this person's notices
	Channel string  `json:"channel"` // the queue channel
	Thread  string  `json:"thread,omitempty"`
	Text    *Text   `json:"text,omitempty"`
	Blocks  []Block `json:"blocks,omitempty"`
}

// SlashCommand is a slash command a desk offers.
type SlashCommand struct {
	Command     string `json:"command"` // "/claim"
	Description string `json:"description"`
	Usage       string `json:"usage,omitempty"`
	// InThreads: the desk runs it inside a thread too (Discord does, Slack does not).
	InThreads bool `json:"in_threads"`

	option string // the Discord command's one text option ("args"), if it has one
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
	ErrNotHere        = errors.New("not possible here")
)

// deskSide is one team chat of the world: its fake driven as people and
// read as they see it. Arguments are validated by World before a call.
type deskSide interface {
	connected() bool
	say(channel, thread, user, text string) (string, error)
	edit(channel, id, user, text string) error
	remove(channel, id, user string) error
	press(channel, id, user, action, option string) error
	slash(channel, thread, user string, cmd SlashCommand, text string) error
	commands() []SlashCommand
	cards(channel string, limit int) ([]Message, int)
	thread(channel, thread string) ([]Message, error)
	message(channel, id string) (Message, error)
	notices(user string) []Notice
}

// side finds desk's side and checks channel (a queue channel of that
// desk, when given) and user (a person of that desk, when given).
func (w *World) side(desk, channel, user string) (deskSide, error) {
	d, ok := w.desks[desk]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDesk, desk)
	}
	if channel != "" {
		if _, ok := ChannelByID(desk, channel); !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownChannel, channel)
		}
	}
	if user != "" {
		if _, ok := PersonByID(desk, user); !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownPerson, user)
		}
	}
	return d, nil
}

func checkText(text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > MaxMessageRunes {
		return "", ErrBadMessage
	}
	return text, nil
}

// checkID refuses ids that are not a desk's id shape (a Slack ts, a
// Discord snowflake) before any lookup.
func checkID(id string) error {
	if id == "" || len(id) > 32 || strings.Trim(id, "0123456789.") != "" {
		return ErrNoSuchMessage
	}
	return nil
}

// Say writes text as user in queue channel channel: in the thread thread
// unless it is "" (a message in the channel itself). It returns the new
// message's id.
func (w *World) Say(desk, channel, thread, user, text string) (string, error) {
	d, err := w.side(desk, channel, user)
	if err != nil {
		return "", err
	}
	if text, err = checkText(text); err != nil {
		return "", err
	}
	if thread != "" {
		if err := checkID(thread); err != nil {
			return "", err
		}
	}
	return d.say(channel, thread, user, text)
}

// Edit changes the text of user's own message id, which lives in where
// (Message.Channel).
func (w *World) Edit(desk, where, id, user, text string) error {
	d, err := w.side(desk, "", user)
	if err != nil {
		return err
	}
	if text, err = checkText(text); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	return d.edit(where, id, user, text)
}

// Delete deletes user's own message id, which lives in where.
func (w *World) Delete(desk, where, id, user string) error {
	d, err := w.side(desk, "", user)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	return d.remove(where, id, user)
}

// Press presses, as user, button action (or picks option of select
// action) on message id, which lives in where.
func (w *World) Press(desk, where, id, user, action, option string) error {
	d, err := w.side(desk, "", user)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if action == "" || len(action) > 100 || len(option) > 100 {
		return ErrNoSuchAction
	}
	return d.press(where, id, user, action, option)
}

// SlashCommands are the slash commands desk offers (Earshot registers them).
func (w *World) SlashCommands(desk string) []SlashCommand {
	if d, ok := w.desks[desk]; ok {
		return d.commands()
	}
	return nil
}

// Slash runs the slash command line ("/claim E-3") as user in queue
// channel channel, inside thread thread when it is not "" (where the desk
// allows it).
func (w *World) Slash(desk, channel, thread, user, line string) error {
	d, err := w.side(desk, channel, user)
	if err != nil {
		return err
	}
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) > MaxMessageRunes {
		return ErrBadMessage
	}
	name, text, _ := strings.Cut(line, " ")
	name = strings.ToLower(name)
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	i := slices.IndexFunc(d.commands(), func(c SlashCommand) bool { return c.Command == name })
	if i < 0 {
		return fmt.Errorf("%w: %s (try /earshot help)", ErrBadCommand, name)
	}
	cmd := d.commands()[i]
	if thread != "" {
		if !cmd.InThreads {
			return fmt.Errorf("%w: %s does not run slash commands inside threads: type !%s in the thread, or run %s in the channel",
				ErrNotHere, deskTitle(desk), strings.TrimPrefix(name, "/"), name)
		}
		if err := checkID(thread); err != nil {
			return err
		}
	}
	return d.slash(channel, thread, user, cmd, strings.TrimSpace(text))
}

// Cards returns the latest cards (and other messages) of queue channel
// channel, newest first, at most limit, and how many there are.
func (w *World) Cards(desk, channel string, limit int) ([]Message, int, error) {
	d, err := w.side(desk, channel, "")
	if err != nil {
		return nil, 0, err
	}
	cards, total := d.cards(channel, limit)
	return cards, total, nil
}

// Thread returns thread of queue channel channel: its first message (the
// card), then the replies, oldest first.
func (w *World) Thread(desk, channel, thread string) ([]Message, error) {
	d, err := w.side(desk, channel, "")
	if err != nil {
		return nil, err
	}
	if err := checkID(thread); err != nil {
		return nil, err
	}
	return d.thread(channel, thread)
}

// Message returns message id, which lives in where, as its channel shows it.
func (w *World) Message(desk, where, id string) (Message, error) {
	d, err := w.side(desk, "", "")
	if err != nil {
		return Message{}, err
	}
	if err := checkID(id); err != nil {
		return Message{}, err
	}
	return d.message(where, id)
}

// Notices returns the latest private notices user saw in queue channel
// channel (every channel when it is ""), oldest first, at most limit.
func (w *World) Notices(desk, channel, user string, limit int) ([]Notice, error) {
	d, err := w.side(desk, channel, user)
	if err != nil {
		return nil, err
	}
	if user == "" {
		return nil, fmt.Errorf("%w: notices are someone's", ErrUnknownPerson)
	}
	var out []Notice
	for _, n := range d.notices(user) {
		if channel == "" || n.Channel == channel {
			out = append(out, n)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// Visible is the message's text as a reader sees it, blocks included, one
// part a line (Slack links as "label (url)").
func (m Message) Visible() string {
	var lines []string
	add := func(t *Text) {
		if t != nil && t.Text != "" {
			lines = append(lines, render(*t))
		}
	}
	add(m.Text)
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

// Has reports whether the message carries action id.
func (m Message) Has(id string) bool {
	for _, b := range m.Blocks {
		if slices.ContainsFunc(b.Actions, func(a Action) bool { return a.ID == id }) {
			return true
		}
	}
	return false
}

func deskTitle(desk string) string {
	switch desk {
	case SlackDesk:
		return "Slack"
	case DiscordDesk:
		return "Discord"
	}
	return desk
}
