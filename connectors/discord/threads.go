package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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
	name   string
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
	d.channels[c.ID] = chanInfo{kind: k, parent: c.ParentID, name: c.Name}
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
	return chanInfo{kind: kindOf(c.Type), parent: c.ParentID, name: c.Name}, nil
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
	return d.OpenThreadKeyed(ctx, channel, c, "")
}

// OpenThreadKeyed is OpenThread with key: in a text channel the card is
// created with key as its nonce and enforce_nonce, so Discord answers a
// repeat within a few minutes with the first card; a forum post takes no
// nonce (FindThread finds it by its case).
func (d *Desk) OpenThreadKeyed(ctx context.Context, channel string, c bridge.CaseView, key string) (bridge.ThreadRef, error) {
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
		id, err = d.openTextThread(ctx, channel, c, key)
	default:
		err = fmt.Errorf("channel %s is neither a text nor a forum channel", channel)
	}
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("discord: open thread: %w", err)
	}
	archived := false
	d.knowThread(id, &threadState{parent: channel, forum: info.kind == kindForum, prio: c.Priority,
		resolved: !c.Status.Open(), archived: &archived, tags: tags})
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: id}, nil
}

// knowThread records a case thread the desk opened or found.
func (d *Desk) knowThread(id string, st *threadState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.threads[id] = st
	d.channels[id] = chanInfo{kind: kindThread, parent: st.parent}
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

// keyedMessage is a message create with a nonce Discord enforces
// (discordgo's MessageSend has no nonce).
type keyedMessage struct {
	discordgo.MessageSend
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

func (d *Desk) openTextThread(ctx context.Context, channel string, c bridge.CaseView, key string) (string, error) {
	embed, comps := RenderCard(c)
	return d.openTextCard(ctx, channel, threadName(c), embed, comps, c.Priority, key)
}

// openTextCard posts a card in a text channel and starts its thread, named
// name; with a key, the card's nonce (see OpenThreadKeyed).
func (d *Desk) openTextCard(ctx context.Context, channel, name string, embed *discordgo.MessageEmbed, comps []discordgo.MessageComponent, prio int, key string) (string, error) {
	var card *discordgo.Message
	err := d.pacer.Do(ctx, channel, urgent(ctx, prio), func(ctx context.Context) error {
		return d.call(ctx, "message.create", func(opts ...discordgo.RequestOption) error {
			send := &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{embed}, Components: comps, AllowedMentions: noMentions()}
			if key == "" {
				var err error
				card, err = d.s.ChannelMessageSendComplex(channel, send, opts...)
				return err
			}
			url := discordgo.EndpointChannelMessages(channel)
			body, err := d.s.RequestWithBucketID(http.MethodPost, url, keyedMessage{MessageSend: *send, Nonce: key, EnforceNonce: true}, url, opts...)
			if err != nil {
				return err
			}
			card = new(discordgo.Message)
			return json.Unmarshal(body, card)
		})
	})
	if err != nil {
		return "", err
	}
	if err := d.startCardThread(ctx, channel, card.ID, name); err != nil {
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

// codeThreadExists is Discord's "A thread has already been created for this message".
const codeThreadExists = 160004

// startCardThread starts the thread called name from its card in a text
// channel; a thread that is there already (a retry) is the one.
func (d *Desk) startCardThread(ctx context.Context, channel, card, name string) error {
	err := d.call(ctx, "thread.create", func(opts ...discordgo.RequestOption) error {
		_, err := d.s.MessageThreadStartComplex(channel, card,
			&discordgo.ThreadStart{Name: name, AutoArchiveDuration: 10080}, opts...)
		return err
	})
	if isCode(err, codeThreadExists) {
		return nil
	}
	return err
}

// findPages bounds how far FindThread pages through a text channel (100
// messages a page).
const findPages = 50

// FindThread looks for the card OpenThreadKeyed posted for c in channel
// no earlier than since (less a minute for clocks apart): in a text
// channel, among the channel's messages since then, a card of the bot's
// whose Case field is c's id (a card that has no thread yet gets it); in
// a forum, among the guild's active threads, a post of the bot's in that
// forum whose name starts with c's id. Discord keeps no nonce to look
// up once its few minutes have passed, so the card's case (unique in a
// data directory) and the time since the key was journaled stand in for it.
func (d *Desk) FindThread(ctx context.Context, channel string, c bridge.CaseView, _ string, since time.Time) (bridge.ThreadRef, bool, error) {
	info, err := d.channelInfo(ctx, channel)
	if err != nil {
		return bridge.ThreadRef{}, false, fmt.Errorf("discord: find card: channel %s: %w", channel, err)
	}
	bot, err := d.botUserID(ctx)
	if err != nil {
		return bridge.ThreadRef{}, false, err
	}
	after := snowflakeAt(since.Add(-time.Minute))
	var id string
	switch info.kind {
	case kindForum:
		id, err = d.findForumPost(ctx, channel, bot, after, c)
	case kindText:
		id, err = d.findCard(ctx, channel, bot, after, c)
	default:
		return bridge.ThreadRef{}, false, fmt.Errorf("discord: find card: channel %s is neither a text nor a forum channel", channel)
	}
	if err != nil || id == "" {
		return bridge.ThreadRef{}, false, err
	}
	archived := false
	d.knowThread(id, &threadState{parent: channel, forum: info.kind == kindForum, prio: c.Priority, archived: &archived})
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: id}, true, nil
}

// snowflakeAt is the smallest Discord id made at t.
func snowflakeAt(t time.Time) string {
	const discordEpoch = 1420070400000
	ms := max(t.UnixMilli()-discordEpoch, 0)
	return strconv.FormatInt(ms<<22, 10)
}

// findCard finds c's card among channel's messages after id after.
func (d *Desk) findCard(ctx context.Context, channel, bot, after string, c bridge.CaseView) (string, error) {
	for range findPages {
		var page []*discordgo.Message
		err := d.call(ctx, "messages.list", func(opts ...discordgo.RequestOption) error {
			var err error
			page, err = d.s.ChannelMessages(channel, 100, "", after, "", opts...)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("discord: find card: %w", err)
		}
		for _, m := range page {
			if m.Author != nil && m.Author.ID == bot && cardOf(m) == c.ID {
				if err := d.startCardThread(ctx, channel, m.ID, threadName(c)); err != nil {
					return "", fmt.Errorf("discord: find card: start its thread: %w", err)
				}
				return m.ID, nil
			}
		}
		if len(page) < 100 {
			return "", nil
		}
		for _, m := range page {
			if newerID(m.ID, after) {
				after = m.ID // the newest seen: the next page starts after it
			}
		}
	}
	d.log.Warn("discord: a card being opened was not found in the channel's latest messages; posting it again", "channel", channel, "case", string(c.ID))
	return "", nil
}

// cardOf is the case a message of ours is the card of ("" for none).
func cardOf(m *discordgo.Message) bridge.CaseID {
	for _, e := range m.Embeds {
		for _, f := range e.Fields {
			if f != nil && f.Name == "Case" {
				return bridge.CaseID(strings.ReplaceAll(f.Value, "\\", ""))
			}
		}
	}
	return ""
}

// findForumPost finds c's post among the guild's active threads in forum.
func (d *Desk) findForumPost(ctx context.Context, forum, bot, after string, c bridge.CaseView) (string, error) {
	var list *discordgo.ThreadsList
	err := d.call(ctx, "threads.active", func(opts ...discordgo.RequestOption) error {
		var err error
		list, err = d.s.GuildThreadsActive(d.cfg.GuildID, opts...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("discord: find card: %w", err)
	}
	prefix := string(c.ID) + " · "
	for _, t := range list.Threads {
		if t != nil && t.ParentID == forum && t.OwnerID == bot && strings.HasPrefix(t.Name, prefix) && newerID(t.ID, after) {
			d.learnChannel(t)
			return t.ID, nil
		}
	}
	return "", nil
}

// newerID reports whether snowflake a is after b.
func newerID(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
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
