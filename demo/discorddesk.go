package demo

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// discordSide is the fake Discord guild as its members use it.
type discordSide struct{ f *discordfake.Fake }

func (d discordSide) connected() bool { return d.f.Connected() > 0 }

// live finds a message that is not deleted.
func (d discordSide) live(where, id string) (discordfake.Message, error) {
	m, ok := d.f.Message(where, id)
	if !ok || m.Deleted {
		return discordfake.Message{}, ErrNoSuchMessage
	}
	return m, nil
}

// threadOf finds thread id under queue channel channel.
func (d discordSide) threadOf(channel, id string) (discordfake.Channel, error) {
	th, ok := d.f.Channel(id)
	if !ok || th.Type != discordfake.TypeThread || th.ParentID != channel {
		return discordfake.Channel{}, fmt.Errorf("%w: no thread %s in this channel", ErrNoSuchMessage, id)
	}
	return th, nil
}

func (d discordSide) say(channel, thread, user, text string) (string, error) {
	target := channel
	if thread != "" {
		if _, err := d.threadOf(channel, thread); err != nil {
			return "", err
		}
		target = thread
	} else if c, _ := d.f.Channel(channel); c.Type == discordfake.TypeForum {
		return "", fmt.Errorf("%w: a Discord forum takes no messages of its own: write in one of its posts", ErrNotHere)
	}
	id, err := d.f.Say(user, target, typedDiscord(text))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotHere, err)
	}
	return id, nil
}

func (d discordSide) own(where, id, user string) error {
	m, err := d.live(where, id)
	if err != nil {
		return err
	}
	if m.AuthorID != user || m.Bot {
		return ErrNotYours
	}
	return nil
}

func (d discordSide) edit(where, id, user, text string) error {
	if err := d.own(where, id, user); err != nil {
		return err
	}
	if err := d.f.Edit(where, id, typedDiscord(text)); err != nil {
		return fmt.Errorf("%w: %v", ErrNotHere, err)
	}
	return nil
}

func (d discordSide) remove(where, id, user string) error {
	if err := d.own(where, id, user); err != nil {
		return err
	}
	return d.f.Delete(where, id)
}

func (d discordSide) press(where, id, user, action, option string) error {
	m, err := d.live(where, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(m.Actions(), func(a discordfake.Action) bool { return a.CustomID == action && !a.Disabled })
	if i < 0 {
		return ErrNoSuchAction
	}
	a := m.Actions()[i]
	if a.Type == "select" {
		if !slices.Contains(a.Options, option) {
			return ErrNoSuchAction
		}
		_, err = d.f.Select(user, where, id, action, option)
	} else {
		_, err = d.f.Press(user, where, id, action)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSuchAction, err)
	}
	return nil
}

// commands are the guild commands Earshot registered (earshot discord register).
func (d discordSide) commands() []SlashCommand {
	var out []SlashCommand
	for _, c := range d.f.Commands() {
		sc := SlashCommand{Command: "/" + c.Name, Description: c.Description, InThreads: true}
		if len(c.Options) > 0 {
			sc.Usage, sc.option = c.Options[0].Description, c.Options[0].Name
		}
		out = append(out, sc)
	}
	return out
}

func (d discordSide) slash(channel, thread, user string, cmd SlashCommand, text string) error {
	target := channel
	if thread != "" {
		if _, err := d.threadOf(channel, thread); err != nil {
			return err
		}
		target = thread
	} else if c, _ := d.f.Channel(channel); c.Type == discordfake.TypeForum {
		return fmt.Errorf("%w: Discord offers no command box in a forum channel: run %s inside one of its posts", ErrNotHere, cmd.Command)
	}
	opts := map[string]string{}
	if text != "" {
		if cmd.option == "" {
			return fmt.Errorf("%w: %s takes no arguments", ErrBadCommand, cmd.Command)
		}
		opts[cmd.option] = typedDiscord(text)
	}
	if _, err := d.f.Slash(user, target, cmd.Command[1:], opts); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return nil
}

func (d discordSide) cards(channel string, limit int) ([]Message, int) {
	c, _ := d.f.Channel(channel)
	var out []Message
	if c.Type == discordfake.TypeForum {
		posts := d.f.Threads(channel)
		total := len(posts)
		for i := len(posts) - 1; i >= 0 && len(out) < limit; i-- {
			p := posts[i]
			msgs := d.f.Thread(p.ID)
			if len(msgs) == 0 {
				continue
			}
			m := d.view(msgs[0])
			m.Thread, m.Replies, m.Tags = p.ID, len(msgs)-1, p.TagNames(c)
			out = append(out, m)
		}
		return out, total
	}
	msgs := d.f.Messages(channel)
	total := len(msgs)
	for i := len(msgs) - 1; i >= 0 && len(out) < limit; i-- {
		m := d.view(msgs[i])
		if th, ok := d.f.Channel(msgs[i].ID); ok && th.Type == discordfake.TypeThread {
			m.Thread, m.Replies = th.ID, len(d.f.Thread(th.ID))-1
		}
		out = append(out, m)
	}
	return out, total
}

func (d discordSide) thread(channel, id string) ([]Message, error) {
	if _, err := d.threadOf(channel, id); err != nil {
		return nil, err
	}
	msgs := d.f.Thread(id)
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		v := d.view(m)
		v.Thread = id
		out = append(out, v)
	}
	if len(out) > 0 {
		out[0].Replies = len(out) - 1
	}
	return out, nil
}

func (d discordSide) message(where, id string) (Message, error) {
	m, err := d.live(where, id)
	if err != nil {
		return Message{}, err
	}
	return d.view(m), nil
}

// notices are what user was told privately: ephemeral answers, and the
// bot's direct messages (where Discord's desk explains a message that was
// not sent when no interaction of theirs is at hand), in the order sent.
func (d discordSide) notices(user string) []Notice {
	type told struct {
		id string
		n  Notice
	}
	var all []told
	for _, e := range d.f.Ephemerals(user) {
		n := Notice{Channel: e.ChannelID, Blocks: embedBlocks(e.Embeds, e.Components)}
		d.placeIn(&n, e.ChannelID)
		if e.Content != "" {
			n.Text = &Text{Kind: "markdown", Text: e.Content}
		}
		all = append(all, told{e.ID, n})
	}
	for _, m := range d.f.DMs(user) {
		if !m.Bot || m.Content == "" {
			continue
		}
		n := Notice{Text: &Text{Kind: "markdown", Text: m.Content}}
		// The DM ends with a link to what it is about: .../channels/guild/where[/message].
		if sub := discordLinkRE.FindStringSubmatch(m.Content); sub != nil {
			n.Channel = sub[1]
			d.placeIn(&n, sub[1])
		}
		all = append(all, told{m.ID, n})
	}
	slices.SortStableFunc(all, func(a, b told) int { return cmp.Compare(snowflake(a.id), snowflake(b.id)) })
	out := make([]Notice, len(all))
	for i, t := range all {
		t.n.Seq = i + 1
		out[i] = t.n
	}
	return out
}

// placeIn sets a notice's channel and thread from where it was said.
func (d discordSide) placeIn(n *Notice, where string) {
	if th, ok := d.f.Channel(where); ok && th.Type == discordfake.TypeThread {
		n.Channel, n.Thread = th.ParentID, th.ID
	}
}

var discordLinkRE = regexp.MustCompile(`https://discord\.com/channels/\d+/(\d+)`)

func snowflake(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}

// view turns a fake Discord message into what a page shows.
func (d discordSide) view(m discordfake.Message) Message {
	v := Message{Desk: DiscordDesk, Channel: m.ChannelID, ID: m.ID, AuthorID: m.AuthorID, Bot: m.Bot,
		Blocks: embedBlocks(m.Embeds, m.Components), Edited: m.Edited && !m.Bot, At: m.Timestamp.UTC()}
	if m.Content != "" {
		v.Text = &Text{Kind: "markdown", Text: m.Content}
	}
	switch {
	case m.WebhookID != "":
		v.Author, v.As = "Earshot", m.Username
	case v.Bot:
		v.Author = "Earshot"
	default:
		v.Author = m.Username
		if p, ok := PersonByID(DiscordDesk, m.AuthorID); ok {
			v.Author = p.Name
		}
	}
	for _, r := range m.Reactions {
		v.Marks = append(v.Marks, Mark{Emoji: r.Emoji, State: string(discord.StateOfEmoji(r.Emoji)), Count: len(r.Users)})
	}
	v.CaseID = cardCaseID(v)
	return v
}

type discordEmbed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Author      *struct {
		Name string `json:"name"`
	} `json:"author"`
	Fields []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"fields"`
	Footer *struct {
		Text string `json:"text"`
	} `json:"footer"`
}

type discordComponent struct {
	Type        int                `json:"type"`
	CustomID    string             `json:"custom_id"`
	Label       string             `json:"label"`
	Style       int                `json:"style"`
	Disabled    bool               `json:"disabled"`
	Placeholder string             `json:"placeholder"`
	Components  []discordComponent `json:"components"`
	Options     []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`
}

// embedBlocks reads a Discord message's embeds and components as Blocks:
// the embed's title a header, its author and footer context lines, its
// description a section, its fields fields; each action row an actions block.
func embedBlocks(embeds, components json.RawMessage) []Block {
	var out []Block
	var es []discordEmbed
	_ = json.Unmarshal(embeds, &es)
	for _, e := range es {
		if e.Title != "" {
			out = append(out, Block{Type: "header", Text: &Text{Kind: "markdown", Text: e.Title}})
		}
		if e.Author != nil && e.Author.Name != "" {
			out = append(out, Block{Type: "context", Elements: []Text{{Kind: "plain", Text: e.Author.Name}}})
		}
		if e.Description != "" {
			out = append(out, Block{Type: "section", Text: &Text{Kind: "markdown", Text: e.Description}})
		}
		if len(e.Fields) > 0 {
			b := Block{Type: "section"}
			for _, f := range e.Fields {
				b.Fields = append(b.Fields, Text{Kind: "markdown", Text: "**" + f.Name + "**\n" + f.Value})
			}
			out = append(out, b)
		}
		if e.Footer != nil && e.Footer.Text != "" {
			out = append(out, Block{Type: "context", Elements: []Text{{Kind: "plain", Text: e.Footer.Text}}})
		}
	}
	var rows []discordComponent
	_ = json.Unmarshal(components, &rows)
	for _, r := range rows {
		b := Block{Type: "actions"}
		for _, c := range r.Components {
			if c.CustomID == "" || c.Disabled {
				continue
			}
			switch c.Type {
			case 2:
				a := Action{ID: c.CustomID, Type: "button", Label: c.Label}
				switch c.Style {
				case 1:
					a.Style = "primary"
				case 4:
					a.Style = "danger"
				}
				b.Actions = append(b.Actions, a)
			case 3:
				a := Action{ID: c.CustomID, Type: "select", Label: c.Placeholder}
				for _, o := range c.Options {
					a.Options = append(a.Options, Option{Value: o.Value, Label: o.Label})
				}
				b.Actions = append(b.Actions, a)
			}
		}
		if len(b.Actions) > 0 {
			out = append(out, b)
		}
	}
	return out
}
