package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// MarkEmojis are the reactions the desk puts on a staff message for each
// delivery state; exactly one is shown at a time. (Emoji without variation
// selectors, which Discord's reaction routes take as they are.)
var MarkEmojis = map[bridge.DeliveryState]string{
	bridge.DeliveryPending:   "⏳",
	bridge.DeliverySent:      "✅",
	bridge.DeliveryFailed:    "❌",
	bridge.DeliveryNotSent:   "🚫",
	bridge.DeliveryCancelled: "🚮",
	bridge.DeliveryUncertain: "❓",
}

// StateOfEmoji maps a mark reaction back to its state ("" if none).
func StateOfEmoji(emoji string) bridge.DeliveryState {
	for s, e := range MarkEmojis {
		if e == emoji {
			return s
		}
	}
	return ""
}

// maxRemembered bounds the maps of marks, lines, threads and channels the
// desk keeps; past it they are forgotten and read back from Discord.
const maxRemembered = 20000

// remember sets m[key] = v, forgetting everything when m is full; d.mu held.
func remember(m map[string]string, key, v string) {
	if _, ok := m[key]; !ok && len(m) >= maxRemembered {
		clear(m)
	}
	m[key] = v
}

// Mark shows a staff message's delivery: one reaction on the message; a
// reply line when sent (with the public link), failed (with the reason and
// a Retry button), uncertain or cancelled; and a private explanation to
// its author when not sent (see tellPrivately).
func (d *Desk) Mark(ctx context.Context, m bridge.MessageRef, dl bridge.Delivery) error {
	channel := m.Thread
	if channel == "" {
		channel = m.Channel
	}
	want := MarkEmojis[dl.State]
	d.mu.Lock()
	prev, known := d.marks[m.ID]
	line := d.lines[m.ID]
	d.mu.Unlock()

	var stale []string
	gone := false
	if known {
		if prev != "" && prev != want {
			stale = append(stale, prev)
		}
	} else if dl.State != bridge.DeliveryPending {
		// Forgotten (a restart, or an old message): ask what we show. A
		// first mark is always "pending", which needs no look.
		shown, err := d.shownMarks(ctx, channel, m.ID)
		switch {
		case isCode(err, codeUnknownMessage):
			gone = true
		case err != nil:
			return fmt.Errorf("discord: mark: read reactions: %w", err)
		}
		for _, e := range shown {
			if e != want {
				stale = append(stale, e)
			} else {
				prev = want
			}
		}
	}
	if !gone && (prev != want || len(stale) > 0) {
		if err := d.react(ctx, channel, m.ID, stale, want); err != nil {
			return err
		}
	}
	content, comps := d.markLine(dl)
	switch {
	case content == "" && line == "":
	case content == "":
		// The line no longer applies (pending again after a retry): say so.
		if err := d.setLine(ctx, m, channel, line, "⏳ Sending again…", nil); err != nil {
			return err
		}
	default:
		if err := d.setLine(ctx, m, channel, line, content, comps); err != nil {
			return err
		}
	}
	if dl.State == bridge.DeliveryNotSent && dl.Reason != "" && m.Author != "" {
		if err := d.tellPrivately(ctx, m.Author, channel, "Not sent: "+dl.Reason, d.jumpLink(channel, m.ID)); err != nil {
			return fmt.Errorf("discord: mark: explain: %w", err)
		}
	}
	return nil
}

// react takes the stale marks off message id and puts want on.
func (d *Desk) react(ctx context.Context, channel, id string, stale []string, want string) error {
	for _, e := range stale {
		err := d.inOpenThread(ctx, channel, func() error {
			return d.call(ctx, "reaction.remove", func(opts ...discordgo.RequestOption) error {
				return d.s.MessageReactionRemove(channel, id, e, "@me", opts...)
			})
		})
		if err != nil && !isCode(err, codeUnknownMessage) {
			return fmt.Errorf("discord: mark: remove reaction: %w", err)
		}
	}
	if want != "" {
		err := d.inOpenThread(ctx, channel, func() error {
			return d.call(ctx, "reaction.add", func(opts ...discordgo.RequestOption) error {
				return d.s.MessageReactionAdd(channel, id, want, opts...)
			})
		})
		if err != nil && !isCode(err, codeUnknownMessage) {
			return fmt.Errorf("discord: mark: add reaction: %w", err)
		}
	}
	d.mu.Lock()
	remember(d.marks, id, want)
	d.mu.Unlock()
	return nil
}

// shownMarks lists the mark reactions the bot now shows on message id.
func (d *Desk) shownMarks(ctx context.Context, channel, id string) ([]string, error) {
	var msg *discordgo.Message
	err := d.call(ctx, "message.get", func(opts ...discordgo.RequestOption) error {
		var err error
		msg, err = d.s.ChannelMessage(channel, id, opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range msg.Reactions {
		if r.Me && r.Emoji != nil && StateOfEmoji(r.Emoji.Name) != "" {
			out = append(out, r.Emoji.Name)
		}
	}
	return out, nil
}

// markLine is the reply line for a delivery, or "" when none is needed.
func (d *Desk) markLine(dl bridge.Delivery) (string, []discordgo.MessageComponent) {
	var text string
	linked := func(u string) string {
		if s := safeURL(u); s != "" {
			return "<" + s + ">"
		}
		return escape(u)
	}
	switch dl.State {
	case bridge.DeliveryPending:
		if dl.Text == "" {
			return "", nil
		}
		// The exact public text, while it can still be edited or deleted.
		quoted := "> " + strings.ReplaceAll(escapeCut(dl.Text, maxContent-200), "\n", "\n> ")
		text = "⏳ To be published as:\n" + quoted + "\n-# Edit or delete your message before it goes to change or stop it."
	case bridge.DeliverySent:
		if dl.Link == "" && dl.Reason == "" {
			return "", nil
		}
		text = "✅ Sent"
		if dl.Link != "" {
			text += ": " + linked(dl.Link)
		}
		if dl.Reason != "" {
			text += "\n⚠️ " + escape(dl.Reason)
		}
	case bridge.DeliveryFailed:
		text = "❌ Not delivered"
		if dl.Reason != "" {
			text += ": " + escape(dl.Reason)
		}
	case bridge.DeliveryUncertain:
		text = "❓ Unsure whether this was sent"
		if dl.Link != "" {
			text += "; check " + linked(dl.Link) + " before sending again"
		}
		if dl.Reason != "" {
			text += " (" + escape(dl.Reason) + ")"
		}
	case bridge.DeliveryCancelled:
		text = "🚮 Cancelled"
	default:
		return "", nil
	}
	text = cut(text, maxContent)
	if dl.Retry == "" || (dl.State != bridge.DeliveryFailed && dl.State != bridge.DeliveryUncertain) {
		return text, nil
	}
	label := "Retry"
	if dl.State == bridge.DeliveryUncertain {
		label = "Send again"
	}
	return text, []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{CustomID: d.retryID(dl.Retry), Label: label, Style: discordgo.PrimaryButton}}}}
}

// retryID is the custom_id of a Retry button for outbox id: the id itself
// when it fits in Discord's 100 characters, else a hash kept in memory.
func (d *Desk) retryID(outbox string) string {
	if len(retryPrefix+outbox) <= maxCustomID {
		return retryPrefix + outbox
	}
	sum := sha256.Sum256([]byte(outbox))
	key := hex.EncodeToString(sum[:16])
	d.mu.Lock()
	remember(d.retryKeys, key, outbox)
	d.mu.Unlock()
	return retryHashed + key
}

// retryOutbox reads back a Retry button's custom_id; ok=false when unknown.
func (d *Desk) retryOutbox(customID string) (string, bool) {
	if id, ok := strings.CutPrefix(customID, retryPrefix); ok && id != "" {
		return id, true
	}
	if key, ok := strings.CutPrefix(customID, retryHashed); ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		id, ok := d.retryKeys[key]
		return id, ok
	}
	return "", false
}

// setLine posts the message's delivery line as a reply to it, or edits the line.
func (d *Desk) setLine(ctx context.Context, m bridge.MessageRef, channel, line, content string, comps []discordgo.MessageComponent) error {
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	if line != "" {
		err := d.inOpenThread(ctx, channel, func() error {
			return d.call(ctx, "message.edit", func(opts ...discordgo.RequestOption) error {
				_, err := d.s.ChannelMessageEditComplex(&discordgo.MessageEdit{ID: line, Channel: channel,
					Content: &content, Components: &comps, AllowedMentions: noMentions()}, opts...)
				return err
			})
		})
		if err == nil {
			return nil
		}
		if !isCode(err, codeUnknownMessage) {
			return fmt.Errorf("discord: mark: update line: %w", err)
		}
	}
	no := false
	var msg *discordgo.Message
	err := d.pacer.Do(ctx, channel, urgent(ctx, d.priority(channel)), func(ctx context.Context) error {
		return d.call(ctx, "message.create", func(opts ...discordgo.RequestOption) error {
			var err error
			msg, err = d.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{Content: content, Components: comps,
				Reference:       &discordgo.MessageReference{MessageID: m.ID, ChannelID: channel, FailIfNotExists: &no},
				AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsSuppressEmbeds}, opts...)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("discord: mark: post line: %w", err)
	}
	d.mu.Lock()
	remember(d.lines, m.ID, msg.ID)
	d.mu.Unlock()
	d.posted(ctx, channel, true)
	return nil
}

// jumpLink links to message id in channel.
func (d *Desk) jumpLink(channel, id string) string {
	return "https://discord.com/channels/" + d.cfg.GuildID + "/" + channel + "/" + id
}
