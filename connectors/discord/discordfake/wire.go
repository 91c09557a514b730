package discordfake

import (
	"encoding/json"
	"slices"
	"time"
)

// wire.go renders the stored state as Discord's JSON objects. Every
// function here runs with f.mu held.

func (f *Fake) userJSON(id string) map[string]any {
	u := f.users[id]
	if u == nil {
		return map[string]any{"id": id, "username": "unknown-" + id, "discriminator": "0", "global_name": nil, "avatar": nil}
	}
	out := map[string]any{"id": u.ID, "username": u.Username, "discriminator": "0", "avatar": nil, "bot": u.Bot}
	if u.GlobalName != "" {
		out["global_name"] = u.GlobalName
	} else {
		out["global_name"] = nil
	}
	return out
}

// memberJSON is a guild member; withUser adds the user object (interactions
// and GET member do; message events carry it as author instead).
func (f *Fake) memberJSON(id string, withUser bool) map[string]any {
	u := f.users[id]
	roles := []string{}
	nick := any(nil)
	if u != nil {
		roles = append(roles, u.Roles...)
		if u.Nick != "" {
			nick = u.Nick
		}
	}
	out := map[string]any{"roles": roles, "nick": nick, "joined_at": "2024-01-01T00:00:00.000000+00:00",
		"deaf": false, "mute": false, "flags": 0, "pending": false}
	if withUser {
		out["user"] = f.userJSON(id)
		out["permissions"] = "2199023255551"
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000+00:00") }

// messageJSON is m as the bot sees it; intents decide whether content is
// withheld (no MESSAGE_CONTENT intent, and not the bot's own message).
func (f *Fake) messageJSON(m *Message, intents int) map[string]any {
	content, embeds, components := m.Content, m.Embeds, m.Components
	if intents >= 0 && intents&IntentMessageContent == 0 && m.AuthorID != BotUserID && m.WebhookID == "" {
		content, embeds, components = "", nil, nil
	}
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "content": content, "timestamp": stamp(m.Timestamp),
		"edited_timestamp": nil, "tts": false, "mention_everyone": false, "mentions": []any{}, "mention_roles": []any{},
		"attachments": []any{}, "pinned": false, "type": 0, "flags": m.Flags,
		"embeds":     rawOr(embeds, "[]"),
		"components": rawOr(components, "[]"),
	}
	if ch := f.channels[m.ChannelID]; ch == nil || ch.Type != TypeDM {
		out["guild_id"] = f.opts.GuildID
	}
	if m.WebhookID == "" && m.AuthorID != BotUserID {
		f.mentionsJSON(out, content)
	}
	if m.Edited {
		out["edited_timestamp"] = stamp(m.Timestamp.Add(time.Second))
	}
	if m.WebhookID != "" {
		out["webhook_id"] = m.WebhookID
		out["author"] = map[string]any{"id": m.AuthorID, "username": m.Username, "discriminator": "0000", "avatar": nil, "bot": true}
	} else {
		out["author"] = f.userJSON(m.AuthorID)
		if ch := f.channels[m.ChannelID]; ch != nil && ch.Type != TypeDM {
			out["member"] = f.memberJSON(m.AuthorID, false)
		}
	}
	if m.Reference != "" {
		out["type"] = 19
		out["message_reference"] = map[string]any{"message_id": m.Reference, "channel_id": m.ChannelID, "guild_id": f.opts.GuildID}
		if ch := f.channels[m.ChannelID]; ch != nil {
			if ref := findMsg(ch, m.Reference); ref != nil && !ref.Deleted {
				out["referenced_message"] = f.messageJSON(ref, intents)
			}
		}
	}
	if len(m.Reactions) > 0 {
		var rs []any
		for _, r := range m.Reactions {
			rs = append(rs, map[string]any{"count": len(r.Users), "me": slices.Contains(r.Users, BotUserID),
				"emoji": map[string]any{"id": nil, "name": r.Emoji}})
		}
		out["reactions"] = rs
	}
	if m.Interaction != "" {
		if ia := f.interactions[m.Interaction]; ia != nil {
			out["interaction_metadata"] = map[string]any{"id": ia.ID, "type": ia.Type, "user": f.userJSON(ia.User)}
		}
	}
	return out
}

func rawOr(r json.RawMessage, def string) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage(def)
	}
	return r
}

func (f *Fake) channelJSON(c *storedChannel) map[string]any {
	out := map[string]any{"id": c.ID, "type": c.Type, "name": c.Name, "flags": 0}
	switch c.Type {
	case TypeDM:
		out["recipients"] = []any{f.userJSON(c.Recipient)}
		out["last_message_id"] = nil
		return out
	case TypeForum:
		tags := []any{}
		for _, t := range c.Tags {
			tags = append(tags, map[string]any{"id": t.ID, "name": t.Name, "moderated": false, "emoji_id": nil, "emoji_name": nil})
		}
		out["available_tags"] = tags
	case TypeThread:
		out["parent_id"] = c.ParentID
		out["owner_id"] = c.OwnerID
		out["applied_tags"] = append([]string{}, c.Applied...)
		out["message_count"] = len(c.msgs)
		out["member_count"] = 1
		out["thread_metadata"] = map[string]any{"archived": c.Archived, "locked": c.Locked,
			"auto_archive_duration": 10080, "archive_timestamp": stamp(f.opts.Now()), "invitable": true}
	}
	out["guild_id"] = f.opts.GuildID
	out["position"] = 0
	out["permission_overwrites"] = []any{}
	return out
}

// guildJSON is the GUILD_CREATE payload: channels, active threads, roles.
func (f *Fake) guildJSON() map[string]any {
	channels, threads := []any{}, []any{}
	for _, id := range f.order {
		c := f.channels[id]
		switch c.Type {
		case TypeText, TypeForum:
			ch := f.channelJSON(c)
			delete(ch, "guild_id") // GUILD_CREATE leaves it out; discordgo fills it in
			channels = append(channels, ch)
		case TypeThread:
			if !c.Archived {
				threads = append(threads, f.channelJSON(c))
			}
		}
	}
	roles := []any{map[string]any{"id": f.opts.GuildID, "name": "@everyone", "permissions": "0", "position": 0}}
	ids := make([]string, 0, len(f.roles))
	for id := range f.roles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		roles = append(roles, map[string]any{"id": id, "name": f.roles[id], "permissions": "0", "position": i + 1})
	}
	return map[string]any{"id": f.opts.GuildID, "name": "Fake Guild", "unavailable": false, "channels": channels,
		"threads": threads, "roles": roles, "members": []any{}, "member_count": len(f.users), "large": false,
		"joined_at": "2024-01-01T00:00:00.000000+00:00", "owner_id": BotUserID, "emojis": []any{}, "features": []any{}}
}
