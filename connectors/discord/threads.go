package discord

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// threads.go opens case threads in the queue channel's layout and keeps the
// card, the forum tags and the archived state in step with the case:
//
//   - forum channel (type 15): the case is a forum post (a thread whose
//     first message is the card, with the thread's id), tagged with its
//     status (New, Claimed, Escalated, Waiting, Resolved; made on the forum
//     when missing) and with those of the case's tags the forum has;
//   - text channel (type 0): the card is a message in the channel and the
//     case's thread is started from it (the thread has the card's id, and
//     Discord shows the card at the top of the thread).
//
// Resolved cases are archived. Discord refuses edits and reactions in an
// archived thread (code 50083) but a message unarchives it: the desk
// unarchives when it must change something there, and archives again while
// the case stays resolved.

// kind is what a channel is.
type kind int

const (
	kindOther kind = iota
	kindText
	kindForum
	kindThread
)

// chanInfo is what the desk knows of a channel.
type chanInfo struct {
	kind   kind
	parent string // for threads
}

// threadState is what the desk knows of a case thread.
type threadState struct {
	parent   string
	forum    bool
	prio     int
	resolved bool     // the case was resolved at the last UpdateCard
	archived *bool    // known archived state; nil: unknown (after a restart)
	tags     []string // applied tag ids; nil: unknown
}

// forumTags are a forum's tags by lower-case name.
type forumTags map[string]string

// statusTags are the forum tags showing a case's status.
var statusTags = map[bridge.Status]string{
	bridge.StatusNew: "New", bridge.StatusClaimed: "Claimed", bridge.StatusEscalated: "Escalated",
	bridge.StatusWaiting: "Waiting", bridge.StatusResolved: "Resolved",
}

// statusOrder is the order status tags are made in.
var statusOrder = []bridge.Status{bridge.StatusNew, bridge.StatusClaimed, bridge.StatusEscalated, bridge.StatusWaiting, bridge.StatusResolved}

func kindOf(t discordgo.ChannelType) kind {
	switch t {
	case discordgo.ChannelTypeGuildText, discordgo.ChannelTypeGuildNews:
		return kindText
	case discordgo.ChannelTypeGuildForum:
		return kindForum
	case discordgo.ChannelTypeGuildPublicThread, discordgo.ChannelTypeGuildPrivateThread, discordgo.ChannelTypeGuildNewsThread:
		return kindThread
	}
	return kindOther
}

// learnChannel records what c is (from REST, READY, GUILD_CREATE, THREAD_CREATE).
func (d *Desk) learnChannel(c *discordgo.Channel) {
	if c == nil || c.ID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.channels) > maxRemembered {
		clear(d.channels)
	}
	k := kindOf(c.Type)
	d.channels[c.ID] = chanInfo{kind: k, parent: c.ParentID}
	if k == kindThread && c.ThreadMetadata != nil {
		if st := d.threads[c.ID]; st != nil {
			a := c.ThreadMetadata.Archived
			st.archived = &a
		}
	}
}

func tagsByName(ts []discordgo.ForumTag) forumTags {
	m := forumTags{}
	for _, t := range ts {
		m[strings.ToLower(t.Name)] = t.ID
	}
	return m
}

// channelInfo says what channel id is, asking Discord when not known (one
// request however many callers ask at once: a surge opens many cases in
// one channel at the same moment).
func (d *Desk) channelInfo(ctx context.Context, id string) (chanInfo, error) {
	for {
		d.mu.Lock()
		info, ok := d.channels[id]
		wait, busy := d.lookups[id]
		if !ok && !busy {
			d.lookups[id] = make(chan struct{})
		}
		d.mu.Unlock()
		if ok {
			return info, nil
		}
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return chanInfo{}, ctx.Err()
		}
	}
	var c *discordgo.Channel
	err := d.call(ctx, "channel.get", func(opts ...discordgo.RequestOption) error {
		var err error
		c, err = d.s.Channel(id, opts...)
		return err
	})
	if err == nil {
		d.learnChannel(c)
	}
	d.mu.Lock()
	close(d.lookups[id])
	delete(d.lookups, id)
	d.mu.Unlock()
	if err != nil {
		return chanInfo{}, err
	}
	return chanInfo{kind: kindOf(c.Type), parent: c.ParentID}, nil
}

// thread returns the state of thread t (made when unknown, from the layout
// of its channel).
func (d *Desk) thread(ctx context.Context, t bridge.ThreadRef) (*threadState, error) {
	d.mu.Lock()
	st := d.threads[t.ID]
	d.mu.Unlock()
	if st != nil {
		return st, nil
	}
	info, err := d.channelInfo(ctx, t.Channel)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st = d.threads[t.ID]; st == nil {
		if len(d.threads) > maxRemembered {
			clear(d.threads)
		}
		st = &threadState{parent: t.Channel, forum: info.kind == kindForum}
		d.threads[t.ID] = st
	}
	return st, nil
}

// priority is the case priority last seen for thread id, for pacing.
func (d *Desk) priority(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.threads[id]; st != nil {
		return st.prio
	}
	return 0
}

// OpenThread posts the case's card in channel (a forum or text channel) and
// returns its thread. Card posts queue per channel by priority, then age.
func (d *Desk) OpenThread(ctx context.Context, channel string, c bridge.CaseView) (bridge.ThreadRef, error) {
	info, err := d.channelInfo(ctx, channel)
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("discord: open thread: channel %s: %w", channel, err)
	}
	var id string
	var tags []string
	switch info.kind {
	case kindForum:
		tags = d.appliedTags(ctx, channel, c)
		id, err = d.openForumPost(ctx, channel, c, tags)
	case kindText:
		id, err = d.openTextThread(ctx, channel, c)
	default:
		err = fmt.Errorf("channel %s is neither a text nor a forum channel", channel)
	}
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("discord: open thread: %w", err)
	}
	archived := false
	d.mu.Lock()
	d.threads[id] = &threadState{parent: channel, forum: info.kind == kindForum, prio: c.Priority,
		resolved: !c.Status.Open(), archived: &archived, tags: tags}
	d.channels[id] = chanInfo{kind: kindThread, parent: channel}
	d.mu.Unlock()
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: id}, nil
}

func (d *Desk) openForumPost(ctx context.Context, forum string, c bridge.CaseView, tags []string) (string, error) {
	embed, comps := RenderCard(c)
	return d.openForumCard(ctx, forum, threadName(c), embed, comps, c.Priority, tags)
}

// openForumCard posts a card as a new forum post named name.
func (d *Desk) openForumCard(ctx context.Context, forum, name string, embed *discordgo.MessageEmbed, comps []discordgo.MessageComponent, prio int, tags []string) (string, error) {
	var th *discordgo.Channel
	err := d.pacer.Do(ctx, forum, urgent(ctx, prio), func(ctx context.Context) error {
		return d.call(ctx, "forum.post", func(opts ...discordgo.RequestOption) error {
			var err error
			th, err = d.s.ForumThreadStartComplex(forum,
				&discordgo.ThreadStart{Name: name, AutoArchiveDuration: 10080, AppliedTags: tags},
				&discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{embed}, Components: comps, AllowedMentions: noMentions()},
				opts...)
			return err
		})
	})
	if err != nil {
		return "", err
	}
	return th.ID, nil
}

func (d *Desk) openTextThread(ctx context.Context, channel string, c bridge.CaseView) (string, error) {
	embed, comps := RenderCard(c)
	return d.openTextCard(ctx, channel, threadName(c), embed, comps, c.Priority)
}

// openTextCard posts a card in a text channel and starts its thread, named name.
func (d *Desk) openTextCard(ctx context.Context, channel, name string, embed *discordgo.MessageEmbed, comps []discordgo.MessageComponent, prio int) (string, error) {
	var card *discordgo.Message
	err := d.pacer.Do(ctx, channel, urgent(ctx, prio), func(ctx context.Context) error {
		return d.call(ctx, "message.create", func(opts ...discordgo.RequestOption) error {
			var err error
			card, err = d.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
				Embeds: []*discordgo.MessageEmbed{embed}, Components: comps, AllowedMentions: noMentions()}, opts...)
			return err
		})
	})
	if err != nil {
		return "", err
	}
	err = d.call(ctx, "thread.create", func(opts ...discordgo.RequestOption) error {
		_, err := d.s.MessageThreadStartComplex(channel, card.ID,
			&discordgo.ThreadStart{Name: name, AutoArchiveDuration: 10080}, opts...)
		return err
	})
	if err != nil {
		// A card without its thread would confuse staff: take it back.
		if derr := d.call(context.WithoutCancel(ctx), "message.delete", func(opts ...discordgo.RequestOption) error {
			return d.s.ChannelMessageDelete(channel, card.ID, opts...)
		}); derr != nil {
			d.log.Warn("discord: a card without its thread is left in the channel", "err", derr)
		}
		return "", fmt.Errorf("start thread: %w", err)
	}
	return card.ID, nil
}

// UpdateCard re-renders the card in place, sets the forum tags and archives
// a resolved case's thread (or unarchives a reopened one).
func (d *Desk) UpdateCard(ctx context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	st, err := d.thread(ctx, t)
	if err != nil {
		return fmt.Errorf("discord: update card: %w", err)
	}
	var tags []string
	if st.forum {
		tags = d.appliedTags(ctx, t.Channel, c)
	}
	resolved := !c.Status.Open()
	d.mu.Lock()
	st.prio, st.resolved = c.Priority, resolved
	d.mu.Unlock()
	if !resolved {
		// Open first: an archived thread takes no edits.
		if err := d.setThread(ctx, t.ID, st, false, tags); err != nil {
			return fmt.Errorf("discord: update card: %w", err)
		}
	}
	if err := d.editCard(ctx, t, st, c); err != nil {
		return fmt.Errorf("discord: update card: %w", err)
	}
	if resolved {
		if err := d.setThread(ctx, t.ID, st, true, tags); err != nil {
			return fmt.Errorf("discord: update card: archive: %w", err)
		}
	}
	return nil
}

// editCard edits the card message: in the thread (forum) or in the parent.
func (d *Desk) editCard(ctx context.Context, t bridge.ThreadRef, st *threadState, c bridge.CaseView) error {
	embed, comps := RenderCard(c)
	return d.editEmbed(ctx, t, st, embed, comps)
}

// editEmbed edits a card message to show embed and comps.
func (d *Desk) editEmbed(ctx context.Context, t bridge.ThreadRef, st *threadState, embed *discordgo.MessageEmbed, comps []discordgo.MessageComponent) error {
	channel := t.Channel
	if st.forum {
		channel = t.ID
	}
	embeds := []*discordgo.MessageEmbed{embed}
	edit := func() error {
		return d.call(ctx, "message.edit", func(opts ...discordgo.RequestOption) error {
			_, err := d.s.ChannelMessageEditComplex(&discordgo.MessageEdit{ID: t.ID, Channel: channel,
				Embeds: &embeds, Components: &comps, AllowedMentions: noMentions()}, opts...)
			return err
		})
	}
	if !st.forum {
		return edit() // the card lives in the parent channel, never archived
	}
	return d.inOpenThread(ctx, t.ID, edit)
}

// setThread makes thread id archived or not, with tags when not nil,
// skipping the request when nothing would change.
func (d *Desk) setThread(ctx context.Context, id string, st *threadState, archive bool, tags []string) error {
	d.mu.Lock()
	same := st.archived != nil && *st.archived == archive && (tags == nil || slices.Equal(st.tags, tags))
	d.mu.Unlock()
	if same {
		return nil
	}
	edit := &discordgo.ChannelEdit{Archived: &archive}
	if tags != nil {
		edit.AppliedTags = &tags
	}
	err := d.call(ctx, "thread.edit", func(opts ...discordgo.RequestOption) error {
		_, err := d.s.ChannelEdit(id, edit, opts...)
		return err
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	st.archived = &archive
	if tags != nil {
		st.tags = tags
	}
	d.mu.Unlock()
	return nil
}

// inOpenThread runs fn (a change inside thread id); when Discord refuses it
// because the thread is archived, it unarchives, runs fn again, and
// archives again if the case is still resolved.
func (d *Desk) inOpenThread(ctx context.Context, id string, fn func() error) error {
	err := fn()
	if restCode(err) != codeArchivedThread {
		return err
	}
	d.mu.Lock()
	st := d.threads[id]
	d.mu.Unlock()
	if st == nil {
		st = &threadState{}
	}
	archived := true
	d.mu.Lock()
	st.archived = &archived // Discord says so, whatever we thought
	d.mu.Unlock()
	if err := d.setThread(ctx, id, st, false, nil); err != nil {
		return fmt.Errorf("unarchive: %w", err)
	}
	err = fn()
	d.rearchive(ctx, id)
	return err
}

// rearchive archives thread id again when its case is resolved (a message
// posted into an archived thread unarchives it).
func (d *Desk) rearchive(ctx context.Context, id string) {
	d.mu.Lock()
	st := d.threads[id]
	again := st != nil && st.resolved
	if again {
		open := false
		st.archived = &open // Discord unarchived it
	}
	d.mu.Unlock()
	if !again {
		return
	}
	if err := d.setThread(ctx, id, st, true, nil); err != nil {
		d.log.Warn("discord: a resolved case's thread could not be archived again", "err", err)
	}
}

// appliedTags are the forum tags for c: its status tag first, then those
// of its tags the forum has, at most five (Discord's limit).
func (d *Desk) appliedTags(ctx context.Context, forum string, c bridge.CaseView) []string {
	tags := d.forumTags(ctx, forum)
	out := []string{}
	if id, ok := tags[strings.ToLower(statusTags[c.Status])]; ok {
		out = append(out, id)
	}
	for _, t := range c.Tags {
		name := strings.ToLower(strings.TrimPrefix(t, "#"))
		if id, ok := tags[name]; ok && !slices.Contains(out, id) && len(out) < 5 {
			out = append(out, id)
		}
	}
	return out
}

// forumTags returns forum's tags, making the status tags it lacks (once per
// forum and run; a forum full of other tags keeps them and goes without
// ours; a failed read is tried again next time).
func (d *Desk) forumTags(ctx context.Context, forum string) forumTags {
	d.tagsMu.Lock()
	defer d.tagsMu.Unlock()
	d.mu.Lock()
	tags, ok := d.tags[forum]
	d.mu.Unlock()
	if ok {
		return tags
	}
	var c *discordgo.Channel
	err := d.call(ctx, "channel.get", func(opts ...discordgo.RequestOption) error {
		var err error
		c, err = d.s.Channel(forum, opts...)
		return err
	})
	if err != nil {
		d.log.Warn("discord: forum tags unknown; posting without them", "err", err)
		return tags
	}
	have := tagsByName(c.AvailableTags)
	next := slices.Clone(c.AvailableTags)
	for _, s := range statusOrder {
		if _, ok := have[strings.ToLower(statusTags[s])]; !ok && len(next) < 20 {
			next = append(next, discordgo.ForumTag{Name: statusTags[s]})
		}
	}
	if len(next) > len(c.AvailableTags) {
		err = d.call(ctx, "forum.edit", func(opts ...discordgo.RequestOption) error {
			var err error
			c, err = d.s.ChannelEdit(forum, &discordgo.ChannelEdit{AvailableTags: &next}, opts...)
			return err
		})
		if err != nil {
			d.log.Warn("discord: could not add the status tags to the forum (Manage Channels?)", "err", err)
		}
	}
	have = tagsByName(c.AvailableTags)
	if !hasStatusTags(have) {
		d.log.Warn("discord: the forum has no room for all status tags (20 at most)", "forum", forum)
	}
	d.mu.Lock()
	d.tags[forum] = have
	d.mu.Unlock()
	return have
}

func hasStatusTags(tags forumTags) bool {
	for _, name := range statusTags {
		if _, ok := tags[strings.ToLower(name)]; !ok {
			return false
		}
	}
	return true
}

// isCode reports whether err is Discord's error code.
func isCode(err error, codes ...int) bool {
	c := restCode(err)
	return c != 0 && slices.Contains(codes, c)
}
