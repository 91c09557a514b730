package discord

import (
	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// post.go adds messages to case threads: notices as the bot, customer
// follow-ups through the parent channel's webhook under the customer's name
// and avatar (made once per channel; without Manage Webhooks, or with
// webhooks: false, they go as the bot with a "Name wrote:" prefix).

// hookName names the webhook Earshot makes in each queue channel.
const hookName = "Earshot customers"

// hook is our webhook in a channel. The token is a secret: never logged.
type hook struct {
	id, token string
}

// Post adds a customer follow-up or a notice to the thread. Posts queue per
// thread by the case's priority, then age.
func (d *Desk) Post(ctx context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	prio := d.priority(t.ID)
	var msg *discordgo.Message
	var err error
	// A line with buttons goes as the bot: its components need an
	// application's message.
	asCustomer := m.Kind == bridge.DeskCustomer && m.Author != nil && d.webhooks() && len(m.Actions) == 0
	if asCustomer {
		if h := d.hook(ctx, t.Channel); h != nil {
			msg, err = d.postAsCustomer(ctx, h, t, m, prio)
			if isCode(err, codeUnknownWebhook) {
				d.forgetHook(t.Channel) // deleted by someone: post as the bot this once, make a new one next time
				msg, err = nil, nil
			}
		}
	}
	if msg == nil && err == nil {
		content := renderNotice(m)
		if m.Kind == bridge.DeskCustomer {
			content = renderCustomer(m, true)
		}
		err = d.pacer.Do(ctx, t.ID, urgent(ctx, prio), func(ctx context.Context) error {
			return d.call(ctx, "message.create", func(opts ...discordgo.RequestOption) error {
				var err error
				msg, err = d.s.ChannelMessageSendComplex(t.ID, &discordgo.MessageSend{Content: content,
					AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsSuppressEmbeds, Components: messageActions(m)}, opts...)
				return err
			})
		})
	}
	if err != nil {
		return bridge.MessageRef{}, fmt.Errorf("discord: post in thread: %w", err)
	}
	d.posted(ctx, t.ID, m.Kind == bridge.DeskNotice)
	return bridge.MessageRef{Desk: Name, Channel: t.Channel, Thread: t.ID, ID: msg.ID}, nil
}

// posted notes that a message went into thread id (which unarchives it);
// after a notice in a resolved case the thread is archived again.
func (d *Desk) posted(ctx context.Context, id string, notice bool) {
	d.mu.Lock()
	st := d.threads[id]
	if st != nil {
		open := false
		st.archived = &open
	}
	d.mu.Unlock()
	if notice {
		d.rearchive(ctx, id)
	}
}

func (d *Desk) postAsCustomer(ctx context.Context, h *hook, t bridge.ThreadRef, m bridge.DeskMessage, prio int) (*discordgo.Message, error) {
	params := &discordgo.WebhookParams{Content: renderCustomer(m, false), Username: webhookName(*m.Author),
		AvatarURL: safeURL(m.Author.Avatar), AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsSuppressEmbeds}
	var msg *discordgo.Message
	err := d.pacer.Do(ctx, t.ID, urgent(ctx, prio), func(ctx context.Context) error {
		return d.call(ctx, "webhook.execute", func(opts ...discordgo.RequestOption) error {
			var err error
			msg, err = d.s.WebhookThreadExecute(h.id, h.token, true, t.ID, params, opts...)
			return err
		})
	})
	return msg, err
}

// hook returns our webhook in parent, finding or making it once; nil when
// the bot may not manage webhooks there (remembered) or Discord failed now.
func (d *Desk) hook(ctx context.Context, parent string) *hook {
	d.hooksMu.Lock()
	defer d.hooksMu.Unlock()
	d.mu.Lock()
	h, known := d.hooks[parent]
	d.mu.Unlock()
	if known {
		return h
	}
	app, err := d.applicationID(ctx)
	if err != nil {
		return nil
	}
	var list []*discordgo.Webhook
	err = d.call(ctx, "webhook.list", func(opts ...discordgo.RequestOption) error {
		var err error
		list, err = d.s.ChannelWebhooks(parent, opts...)
		return err
	})
	if err == nil {
		for _, w := range list {
			if w.Name == hookName && w.Token != "" && (w.ApplicationID == app || (w.User != nil && w.User.ID == app)) {
				h = &hook{id: w.ID, token: w.Token}
			}
		}
		if h == nil {
			var w *discordgo.Webhook
			err = d.call(ctx, "webhook.create", func(opts ...discordgo.RequestOption) error {
				var err error
				w, err = d.s.WebhookCreate(parent, hookName, "", opts...)
				return err
			})
			if err == nil {
				h = &hook{id: w.ID, token: w.Token}
			}
		}
	}
	switch {
	case isCode(err, codeMissingPermissions):
		d.log.Info("discord: no Manage Webhooks permission; customer follow-ups are posted by the bot with the customer's name in front", "channel", parent)
	case err != nil:
		d.log.Warn("discord: webhook unavailable; posting this follow-up as the bot", "err", err)
		return nil
	}
	d.mu.Lock()
	d.hooks[parent] = h
	d.mu.Unlock()
	return h
}

func (d *Desk) forgetHook(parent string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.hooks, parent)
}
