package discord

import (
	"context"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// messages.go turns gateway message events in case threads into staff
// messages for the bridge.

// Where tells where a channel sits: the queue channel it belongs to (a
// thread's parent, else the channel itself) and whether it is a thread.
type Where struct {
	Parent string
	Thread bool
}

// written is a staff message as last handed over, for edits and deletes
// (MESSAGE_DELETE carries neither author nor text).
type written struct {
	staff bridge.Staff
	text  string // the content as Discord sent it
}

// ParseStaffMessage turns a MESSAGE_CREATE (kind new) or MESSAGE_UPDATE
// (kind edited) message into a staff message, or ok=false when it is none
// to hand over: not in a thread, a system message, written by a bot, a
// webhook or us (bot is our user id), or a partial update without its
// author. Staff comes from the author and member (Groups empty when the
// event has no member). Pure.
func ParseStaffMessage(m *discordgo.Message, kind bridge.MessageKind, bot string, where Where) (sm bridge.StaffMessage, ok bool) {
	if m == nil || m.Author == nil || m.ID == "" || m.ChannelID == "" || !where.Thread {
		return sm, false
	}
	if m.Author.ID == bot || m.Author.Bot || m.WebhookID != "" || m.Author.ID == "" {
		return sm, false
	}
	if m.Type != discordgo.MessageTypeDefault && m.Type != discordgo.MessageTypeReply {
		return sm, false
	}
	at := m.Timestamp
	if kind == bridge.MessageEdited && m.EditedTimestamp != nil {
		at = *m.EditedTimestamp
	}
	sm = bridge.StaffMessage{
		Kind:    kind,
		Thread:  bridge.ThreadRef{Desk: Name, Channel: where.Parent, ID: m.ChannelID},
		Message: bridge.MessageRef{Desk: Name, Channel: where.Parent, Thread: m.ChannelID, ID: m.ID, Author: m.Author.ID},
		Staff:   staffOf(m.Author, m.Member),
		At:      at.UTC(),
	}
	sm.Text, sm.Mentions = ReadText(m.Content)
	return sm, true
}

// where says where channel id sits, asking Discord when not known.
func (d *Desk) where(ctx context.Context, id string) (Where, error) {
	info, err := d.channelInfo(ctx, id)
	if err != nil {
		return Where{Parent: id}, err
	}
	if info.kind == kindThread {
		return Where{Parent: info.parent, Thread: true}, nil
	}
	return Where{Parent: id}, nil
}

// onMessage queues a new or edited message for the bridge, in the order of
// its thread.
func (d *Desk) onMessage(m *discordgo.Message, kind bridge.MessageKind) {
	if m == nil || m.Author == nil || m.Author.Bot || m.WebhookID != "" {
		return // cheap filters first: this runs in the gateway's goroutine
	}
	d.spawnOrdered(m.ChannelID, func(ctx context.Context, in bridge.Inbox) {
		where, err := d.where(ctx, m.ChannelID)
		if err != nil {
			d.log.Warn("discord: message in an unknown channel dropped", "err", err)
			return
		}
		d.mu.Lock()
		bot := d.botUser
		prev, seen := d.written[m.ID]
		d.mu.Unlock()
		sm, ok := ParseStaffMessage(m, kind, bot, where)
		if !ok {
			return
		}
		if kind == bridge.MessageEdited && seen && prev.text == m.Content {
			return // an embed unfurled or a flag changed, not the text
		}
		sm.Text, sm.Mentions = d.readText(ctx, m.Content, m.Mentions)
		if m.Member == nil {
			sm.Staff = d.people.staff(ctx, sm.Staff.ID)
		} else {
			d.people.saw(sm.Staff)
		}
		if sm.At.IsZero() {
			sm.At = d.now()
		}
		d.mu.Lock()
		if len(d.written) > maxRemembered {
			clear(d.written)
		}
		d.written[m.ID] = written{staff: sm.Staff, text: m.Content}
		d.mu.Unlock()
		if err := in.StaffMessage(ctx, sm); err != nil {
			d.log.Warn("discord: staff message not taken", "err", err)
		}
	})
}

// onDelete queues a deleted message for the bridge, if it was a staff
// message in a thread (or might have been: after a restart the desk does
// not know the author, and the bridge still needs the delete to cancel a
// reply inside its undo window).
func (d *Desk) onDelete(m *discordgo.Message) {
	if m == nil || m.ID == "" || m.ChannelID == "" {
		return
	}
	d.spawnOrdered(m.ChannelID, func(ctx context.Context, in bridge.Inbox) {
		d.mu.Lock()
		w, known := d.written[m.ID]
		delete(d.written, m.ID)
		d.mu.Unlock()
		where, err := d.where(ctx, m.ChannelID)
		if err != nil || !where.Thread {
			return
		}
		if !known {
			w.staff = bridge.Staff{Desk: Name}
		}
		sm := bridge.StaffMessage{
			Kind:    bridge.MessageDeleted,
			Thread:  bridge.ThreadRef{Desk: Name, Channel: where.Parent, ID: m.ChannelID},
			Message: bridge.MessageRef{Desk: Name, Channel: where.Parent, Thread: m.ChannelID, ID: m.ID, Author: w.staff.ID},
			Staff:   w.staff,
			At:      d.now().UTC(),
		}
		if err := in.StaffMessage(ctx, sm); err != nil {
			d.log.Warn("discord: staff message delete not taken", "err", err)
		}
	})
}

// handlerTimeout bounds the work done for one event.
const handlerTimeout = 30 * time.Second
