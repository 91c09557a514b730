package discordfake

import (
	"encoding/json"
	"errors"
	"fmt"
)

// people.go drives the fake as guild members: messages in channels and
// threads, button presses, select menus and slash commands. Each call
// changes the state at once and delivers its gateway event (or signed HTTP
// interaction) in order; it does not wait for the app.

// Say posts text as user in channel (a text channel or thread; a forum takes
// none) and returns the message id. A message to an archived, unlocked
// thread unarchives it.
func (f *Fake) Say(user, channel, text string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[user]
	if u == nil {
		return "", fmt.Errorf("discordfake: say: no user %s", user)
	}
	c := f.channels[channel]
	switch {
	case c == nil:
		return "", fmt.Errorf("discordfake: say: no channel %s", channel)
	case c.Type == TypeForum:
		return "", fmt.Errorf("discordfake: say: %s is a forum channel: post in one of its threads", channel)
	case c.Type == TypeThread && c.Locked:
		return "", fmt.Errorf("discordfake: say: thread %s is locked", channel)
	case c.Type == TypeThread && c.Archived:
		c.Archived = false
		f.feed.Emit(Event{Kind: "thread", ChannelID: c.ID, Channel: ptr(copyChannel(c))})
		f.dispatch("THREAD_UPDATE", f.channelJSON(c))
	}
	m := &Message{ID: f.nextID(), ChannelID: channel, AuthorID: user, Username: u.DisplayName(), Content: text, Timestamp: f.opts.Now()}
	c.msgs = append(c.msgs, m)
	f.created(m)
	return m.ID, nil
}

// own finds a member's message to change; f.mu held.
func (f *Fake) own(channel, id string) (*storedChannel, *Message, error) {
	c := f.channels[channel]
	if c == nil {
		return nil, nil, fmt.Errorf("discordfake: no channel %s", channel)
	}
	m := findMsg(c, id)
	if m == nil || m.Deleted {
		return nil, nil, fmt.Errorf("discordfake: no message %s in %s", id, channel)
	}
	if m.Bot {
		return nil, nil, errors.New("discordfake: that message is the bot's")
	}
	return c, m, nil
}

// Edit changes the text of message id (as its author) and delivers MESSAGE_UPDATE.
func (f *Fake) Edit(channel, id, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, m, err := f.own(channel, id)
	if err != nil {
		return err
	}
	m.Content, m.Edited = text, true
	f.edited(m)
	return nil
}

// Delete deletes message id (as its author) and delivers MESSAGE_DELETE.
func (f *Fake) Delete(channel, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, m, err := f.own(channel, id)
	if err != nil {
		return err
	}
	f.remove(c, m)
	return nil
}

// newInteraction starts an interaction of typ by user in channel; f.mu held.
func (f *Fake) newInteraction(typ int, user, channel, name string) (*Interaction, map[string]any, error) {
	if f.users[user] == nil {
		return nil, nil, fmt.Errorf("discordfake: no user %s", user)
	}
	c := f.channels[channel]
	if c == nil {
		return nil, nil, fmt.Errorf("discordfake: no channel %s", channel)
	}
	id := f.nextID()
	ia := &Interaction{ID: id, Token: "itoken-" + id, Type: typ, User: user, ChannelID: channel, Name: name, Created: f.opts.Now()}
	ch := map[string]any{"id": c.ID, "type": c.Type, "name": c.Name, "guild_id": f.opts.GuildID}
	if c.ParentID != "" {
		ch["parent_id"] = c.ParentID
	}
	payload := map[string]any{
		"id": id, "application_id": AppID, "type": typ, "token": ia.Token, "version": 1,
		"guild_id": f.opts.GuildID, "channel_id": channel, "channel": ch,
		"member": f.memberJSON(user, true), "locale": "en-US", "guild_locale": "en-US",
		"app_permissions": "2199023255551", "entitlements": []any{}, "authorizing_integration_owners": map[string]any{"0": f.opts.GuildID},
		"context": 0,
	}
	return ia, payload, nil
}

// findComponent finds the component custom_id on message id of channel; f.mu held.
func (f *Fake) findComponent(channel, id, customID string) (*Message, component, error) {
	c := f.channels[channel]
	if c == nil {
		return nil, component{}, fmt.Errorf("discordfake: no channel %s", channel)
	}
	m := findMsg(c, id)
	if m == nil || m.Deleted {
		return nil, component{}, fmt.Errorf("discordfake: no message %s in %s", id, channel)
	}
	var rows []component
	_ = json.Unmarshal(m.Components, &rows)
	for _, r := range rows {
		for _, x := range r.Components {
			if x.CustomID == customID {
				if x.Disabled {
					return nil, component{}, fmt.Errorf("discordfake: component %q is disabled", customID)
				}
				return m, x, nil
			}
		}
	}
	return nil, component{}, fmt.Errorf("discordfake: message %s has no component %q", id, customID)
}

// Press presses, as user, the button custom_id on message id of channel and
// returns the interaction id.
func (f *Fake) Press(user, channel, id, customID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, x, err := f.findComponent(channel, id, customID)
	if err != nil {
		return "", err
	}
	if x.Type != 2 {
		return "", fmt.Errorf("discordfake: %q is not a button", customID)
	}
	ia, payload, err := f.newInteraction(3, user, channel, customID)
	if err != nil {
		return "", err
	}
	ia.message = m.ID
	payload["message"] = f.messageJSON(m, -1)
	payload["data"] = map[string]any{"custom_id": customID, "component_type": 2}
	f.deliverInteraction(ia, payload)
	return ia.ID, nil
}

// Select picks, as user, values in the select menu custom_id on message id
// of channel and returns the interaction id. Every value must be an option.
func (f *Fake) Select(user, channel, id, customID string, values ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, x, err := f.findComponent(channel, id, customID)
	if err != nil {
		return "", err
	}
	if x.Type != 3 {
		return "", fmt.Errorf("discordfake: %q is not a select menu", customID)
	}
	for _, v := range values {
		found := false
		for _, o := range x.Options {
			found = found || o.Value == v
		}
		if !found {
			return "", fmt.Errorf("discordfake: select %q has no option %q", customID, v)
		}
	}
	ia, payload, err := f.newInteraction(3, user, channel, customID)
	if err != nil {
		return "", err
	}
	ia.message = m.ID
	payload["message"] = f.messageJSON(m, -1)
	payload["data"] = map[string]any{"custom_id": customID, "component_type": 3, "values": append([]string{}, values...)}
	f.deliverInteraction(ia, payload)
	return ia.ID, nil
}

// Slash runs, as user in channel (a text channel or a thread; Discord
// offers no command box in a forum channel), the registered command name
// with string options (option name → value), and returns the interaction id.
func (f *Fake) Slash(user, channel, name string, options map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cmd *Command
	for i := range f.commands {
		if f.commands[i].Name == name {
			cmd = &f.commands[i]
		}
	}
	if cmd == nil {
		return "", fmt.Errorf("discordfake: no command /%s is registered", name)
	}
	if c := f.channels[channel]; c != nil && c.Type == TypeForum {
		return "", fmt.Errorf("discordfake: %s is a forum channel: run commands in one of its posts", channel)
	}
	for k := range options {
		found := false
		for _, o := range cmd.Options {
			found = found || o.Name == k
		}
		if !found {
			return "", fmt.Errorf("discordfake: /%s has no option %q", name, k)
		}
	}
	opts := []any{}
	for _, o := range cmd.Options {
		v, ok := options[o.Name]
		if !ok {
			if o.Required {
				return "", fmt.Errorf("discordfake: /%s needs option %q", name, o.Name)
			}
			continue
		}
		opts = append(opts, map[string]any{"name": o.Name, "type": o.Type, "value": v})
	}
	ia, payload, err := f.newInteraction(2, user, channel, name)
	if err != nil {
		return "", err
	}
	payload["data"] = map[string]any{"id": cmd.ID, "name": name, "type": 1, "options": opts, "guild_id": f.opts.GuildID}
	f.deliverInteraction(ia, payload)
	return ia.ID, nil
}
