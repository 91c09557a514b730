package discord

import (
	"context"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// notify.go says things to one staff member only. Discord has ephemeral
// messages only as interaction answers, so, in this order:
//
//  1. an ephemeral follow-up of the member's latest interaction in that
//     channel, when one was answered less than 14 minutes ago (its token
//     takes follow-ups for 15): "Only you can see this", in place;
//  2. else a direct message from the bot, with a link to the message or
//     thread it is about;
//  3. else (the member takes no DMs from server members: code 50007) a
//     reply in the thread addressed to them, which the thread can read; a
//     private explanation is worth less than none at all only when it
//     reaches nobody.

// atHandFor is how long an answered interaction serves for follow-ups.
const atHandFor = 14 * time.Minute

// atHand is an answered interaction of a staff member in a channel.
type atHand struct {
	ia    *discordgo.Interaction
	until time.Time
}

func atHandKey(user, channel string) string { return user + "/" + channel }

// holdInteraction keeps ia (already answered) for follow-ups to user in channel.
func (d *Desk) holdInteraction(ia *discordgo.Interaction, user string) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.atHand) > 1000 {
		for k, h := range d.atHand {
			if now.After(h.until) {
				delete(d.atHand, k)
			}
		}
		if len(d.atHand) > 1000 {
			clear(d.atHand)
		}
	}
	d.atHand[atHandKey(user, ia.ChannelID)] = &atHand{ia: ia, until: now.Add(atHandFor)}
}

// interactionAtHand returns user's answered interaction in channel, if fresh.
func (d *Desk) interactionAtHand(user, channel string) *discordgo.Interaction {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.atHand[atHandKey(user, channel)]
	if h == nil || d.now().After(h.until) {
		return nil
	}
	return h.ia
}

// Notify says text privately to staffID about channel (thread t when set):
// an ephemeral follow-up, a DM or an addressed reply, as above.
func (d *Desk) Notify(ctx context.Context, channel string, t bridge.ThreadRef, staffID, text string) error {
	where := channel
	if t.ID != "" {
		where = t.ID
	}
	if err := d.tellPrivately(ctx, staffID, where, text, "https://discord.com/channels/"+d.cfg.GuildID+"/"+where); err != nil {
		return fmt.Errorf("discord: notify: %w", err)
	}
	return nil
}

// tellPrivately says text to user about channel; about is a link for a DM.
func (d *Desk) tellPrivately(ctx context.Context, user, channel, text, about string) error {
	text = cut(text, maxContent-200)
	if ia := d.interactionAtHand(user, channel); ia != nil {
		err := d.call(ctx, "interaction.followup", func(opts ...discordgo.RequestOption) error {
			_, err := d.s.FollowupMessageCreate(ia, true, &discordgo.WebhookParams{Content: text,
				Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()}, opts...)
			return err
		})
		if err == nil {
			return nil
		}
		d.log.Debug("discord: interaction follow-up refused; sending a DM instead", "err", err)
	}
	err := d.dm(ctx, user, text+"\n"+about)
	if err == nil || !isCode(err, codeCannotDM) {
		return err
	}
	// No DMs from us: address them in the thread.
	content := "<@" + user + "> " + text
	err = d.pacer.Do(ctx, channel, urgent(ctx, d.priority(channel)), func(ctx context.Context) error {
		return d.call(ctx, "message.create", func(opts ...discordgo.RequestOption) error {
			_, err := d.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{Content: content,
				AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}, Users: []string{user}},
				Flags:           discordgo.MessageFlagsSuppressEmbeds}, opts...)
			return err
		})
	})
	if err == nil {
		d.posted(ctx, channel, true)
	}
	return err
}

// dm sends text to user's DM channel (opened once and remembered).
func (d *Desk) dm(ctx context.Context, user, text string) error {
	d.mu.Lock()
	ch := d.dms[user]
	d.mu.Unlock()
	if ch == "" {
		var c *discordgo.Channel
		err := d.call(ctx, "dm.open", func(opts ...discordgo.RequestOption) error {
			var err error
			c, err = d.s.UserChannelCreate(user, opts...)
			return err
		})
		if err != nil {
			return err
		}
		ch = c.ID
		d.mu.Lock()
		remember(d.dms, user, ch)
		d.mu.Unlock()
	}
	return d.call(ctx, "dm.send", func(opts ...discordgo.RequestOption) error {
		_, err := d.s.ChannelMessageSendComplex(ch, &discordgo.MessageSend{Content: cut(text, maxContent),
			AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsSuppressEmbeds}, opts...)
		return err
	})
}
