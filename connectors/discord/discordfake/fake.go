// Package discordfake is a stateful fake Discord on loopback: one guild with
// text and forum channels, threads, messages, reactions, webhooks, slash
// commands and interactions, served over the real REST API (under /api/v9/
// and /api/v10/) and the real gateway protocol (a WebSocket), for Earshot's
// Discord desk (through discordgo) and for `earshot demo`.
//
// Point a discordgo session at it with an http.Client whose transport sends
// https://discord.com/ requests to URL() (never by reassigning discordgo's
// Endpoint variables: that races between parallel tests). GET /api/v9/gateway
// answers the fake's own ws:// URL, so the gateway needs no redirection.
//
// A test or the demo drives it as people (Say, Edit, Delete in a thread or
// channel; Press a button, Select an option, run a Slash command) and
// inspects it (Channel, Channels, Threads, Messages, Thread, Message with its
// Reactions, Ephemerals, DMs, Interaction, Commands; Message.Visible and
// Message.Actions show a message as a reader sees it). Subscribe gives a
// change feed for a live sandbox page.
//
// Knobs: FailNext (HTTP errors, 429 with a retry_after), SetLatency,
// SetRateLimit (per-route buckets answered with real X-RateLimit-* headers
// and 429 bodies {"message","retry_after","global"}), SetGlobalRate (the 50
// requests a second limit, 429 with "global": true), Options.NoWebhooks (the
// bot lacks Manage Webhooks), User.NoDMs (the user does not accept DMs),
// SetInteractionsURL (deliver interactions signed with Ed25519 to an HTTP
// endpoint instead of the gateway), Reconnect (op 7: the client must RESUME),
// DropConnections (the socket dies: the client must come back by itself),
// Options.InteractionDeadline (the 3 s to answer an interaction).
//
// Quirks reproduced: forum channels take no plain messages (a post is a
// thread created with its first message and at most 5 of the forum's at most
// 20 tags); a message to an archived, unlocked thread unarchives it, while
// edits and reactions there fail with code 50083; messages are at most 2000
// characters and embeds, components and commands are checked against
// Discord's limits; without the MESSAGE_CONTENT intent other users'
// messages arrive with empty content; our own messages come back over the
// gateway too; an interaction must be answered once, within its deadline,
// before any follow-up; webhook names may not contain "@", "#", ":", "```",
// "discord" or "clyde".
//
// Everything is safe for concurrent use; Close stops every goroutine the
// fake started.
package discordfake

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
)

// Fixed identities of the fake.
const (
	// BotUserID is the bot's user id; it is also the application id, as for
	// every Discord application made since 2020.
	BotUserID = "1000000000000000001"
	// AppID is the application id (interaction follow-ups, command registration).
	AppID = BotUserID
	// DefaultGuildID is the guild's id unless Options.GuildID says otherwise.
	DefaultGuildID = "2000000000000000001"
	// BotName is the bot's username.
	BotName = "Earshot"
)

// Channel types the fake knows (Discord's numbers).
const (
	TypeText   = 0
	TypeDM     = 1
	TypeThread = 11 // a public thread
	TypeForum  = 15
)

// Intents the fake looks at.
const (
	IntentGuilds         = 1 << 0
	IntentGuildMessages  = 1 << 9
	IntentMessageContent = 1 << 15
)

// MessageFlagEphemeral marks an interaction answer only its user sees.
const MessageFlagEphemeral = 1 << 6

// User is a guild member (or the bot).
type User struct {
	ID         string
	Username   string   // the handle ("ana")
	GlobalName string   // the display name the user chose ("Ana Lima")
	Nick       string   // the guild nickname, which wins over GlobalName
	Roles      []string // role ids
	Bot        bool
	// NoDMs: the user does not accept direct messages from the bot (Discord
	// answers 403 with code 50007 to a message in their DM channel).
	NoDMs bool
}

// DisplayName is what Discord shows for the member: nick, else global name, else username.
func (u User) DisplayName() string {
	switch {
	case u.Nick != "":
		return u.Nick
	case u.GlobalName != "":
		return u.GlobalName
	}
	return u.Username
}

// Tag is a forum tag.
type Tag struct {
	ID   string
	Name string
}

// Channel is a channel, thread or DM as stored.
type Channel struct {
	ID       string
	Type     int // TypeText, TypeForum, TypeThread, TypeDM
	Name     string
	ParentID string   // for threads: the text or forum channel
	OwnerID  string   // for threads: who created it
	Tags     []Tag    // for forums: the available tags (at most 20)
	Applied  []string // for forum threads: the applied tag ids (at most 5)
	Archived bool
	Locked   bool
	// Recipient is the user of a DM channel.
	Recipient string
}

// TagNames returns the names of the tags applied to a forum thread, given its forum.
func (c Channel) TagNames(forum Channel) []string {
	var out []string
	for _, id := range c.Applied {
		for _, t := range forum.Tags {
			if t.ID == id {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// Reaction is one emoji on a message and who added it.
type Reaction struct {
	Emoji string
	Users []string
}

// Message is one stored message.
type Message struct {
	ID        string
	ChannelID string
	AuthorID  string // a user id, or the webhook id for webhook messages
	Username  string // the author's name as shown (a webhook's username override)
	AvatarURL string // a webhook's avatar_url override
	Bot       bool   // written by the bot or a webhook
	WebhookID string
	Content   string
	Embeds    json.RawMessage // as posted, or nil
	// Components are the message's action rows as posted, or nil.
	Components json.RawMessage
	Flags      int
	Reference  string // the message this one replies to
	Reactions  []Reaction
	Timestamp  time.Time
	Edited     bool
	Deleted    bool
	// Interaction is the id of the interaction this message answers, if any.
	Interaction string
	// Nonce is the nonce it was created with, if any.
	Nonce string
}

// Ephemeral is an interaction answer shown only to one user.
type Ephemeral struct {
	ID          string // the message id Discord gave it
	Interaction string
	User        string
	ChannelID   string
	Content     string
	Embeds      json.RawMessage
	Components  json.RawMessage
	Deleted     bool
}

// Interaction is one interaction the fake delivered and what became of it.
type Interaction struct {
	ID        string
	Token     string
	Type      int // 2 command, 3 component
	User      string
	ChannelID string
	Name      string // the command name or the component's custom_id
	Created   time.Time
	// Response is the type of the first answer (4 message, 5 deferred, 6
	// deferred update, 7 update), 0 while unanswered.
	Response  int
	Ephemeral bool // the first answer (or the deferral) was flagged ephemeral
	// Late is set when the app answered after the deadline (refused with 10062).
	Late bool
	// Original is the id of the answer message (public or ephemeral), if any.
	Original  string
	Followups int

	message string // the message a component belongs to
}

// Command is a registered guild slash command, as registered.
type Command struct {
	ID          string
	Name        string
	Description string
	Options     []CommandOption
}

// CommandOption is one option of a registered command.
type CommandOption struct {
	Name        string
	Description string
	Type        int // 3 string
	Required    bool
}

// Event is a change notification for live pages and tests.
type Event struct {
	// Kind: "message", "update", "delete", "reaction", "thread", "channel",
	// "ephemeral", "dm", "interaction", "rate_limited", "failure".
	Kind      string
	ChannelID string
	MessageID string
	Message   *Message   // for message kinds, a copy
	Ephemeral *Ephemeral // for "ephemeral"
	Channel   *Channel   // for "thread" and "channel"
}

// Options configure a fake.
type Options struct {
	// Token is the bot token; clients send "Authorization: Bot <token>".
	// Default "fake-bot-token".
	Token string
	// GuildID is the one guild's id; default DefaultGuildID.
	GuildID string
	// HeartbeatInterval is what HELLO asks for; default 1s, at least 50ms.
	HeartbeatInterval time.Duration
	// InteractionDeadline is how long an interaction may wait for its first
	// answer; default 3s, as on Discord.
	InteractionDeadline time.Duration
	// NoWebhooks: the bot lacks Manage Webhooks (creating one answers 403, code 50013).
	NoWebhooks bool
	// PrivateKey signs interactions sent to an HTTP interactions endpoint;
	// default: a key made from a fixed seed (PublicKey tells its public half).
	PrivateKey ed25519.PrivateKey
	// Now is the clock for ids, timestamps, deadlines and rate limits; default time.Now.
	Now func() time.Time
}

type failure struct {
	status int
	wait   time.Duration
}

type webhook struct {
	id, token, channelID, name string
}

// storedChannel is a channel with its messages.
type storedChannel struct {
	Channel
	msgs []*Message
}

// Fake is a running fake Discord.
type Fake struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	url  string

	mu           sync.Mutex
	users        map[string]*User
	roles        map[string]string // id -> name
	channels     map[string]*storedChannel
	hidden       map[string]bool // channels the bot may not view (HideChannel)
	order        []string        // channel ids in creation order
	webhooks     map[string]*webhook
	commands     []Command
	interactions map[string]*Interaction
	ephs         []*Ephemeral
	lastID       int64
	fails        fakekit.Failures[failure]
	latency      fakekit.Latency
	limits       map[string]*limit  // route pattern -> limit
	buckets      map[string]*bucket // route pattern + major id -> bucket
	global       *bucket
	calls        map[string]int
	limited      int
	feed         fakekit.Feed[Event]
	sessions     []*session
	identifies   int
	heartbeats   int
	resumes      int
	target       string // HTTP interactions endpoint, "" for the gateway
	holds        fakekit.Holds
	closed       bool
	wg           sync.WaitGroup
	stop         chan struct{}
	upgrader     websocket.Upgrader
	client       *http.Client
}

// New starts a fake Discord on 127.0.0.1:0. Close it when done (t.Cleanup).
func New(opts Options) (*Fake, error) {
	if opts.Token == "" {
		opts.Token = "fake-bot-token"
	}
	if opts.GuildID == "" {
		opts.GuildID = DefaultGuildID
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	opts.HeartbeatInterval = max(opts.HeartbeatInterval, 50*time.Millisecond)
	if opts.InteractionDeadline <= 0 {
		opts.InteractionDeadline = 3 * time.Second
	}
	if opts.PrivateKey == nil {
		opts.PrivateKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("discordfake: listen: %w", err)
	}
	f := &Fake{
		opts: opts, ln: ln, url: "http://" + ln.Addr().String(),
		users:        map[string]*User{BotUserID: {ID: BotUserID, Username: BotName, GlobalName: BotName, Bot: true}},
		roles:        map[string]string{},
		channels:     map[string]*storedChannel{},
		webhooks:     map[string]*webhook{},
		interactions: map[string]*Interaction{},
		limits:       map[string]*limit{},
		buckets:      map[string]*bucket{},
		calls:        map[string]int{},
		stop:         make(chan struct{}),
		client:       &http.Client{Timeout: 10 * time.Second},
	}
	f.upgrader.CheckOrigin = func(*http.Request) bool { return true }
	f.srv = &http.Server{Handler: f.routes(), ReadHeaderTimeout: 5 * time.Second}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// URL is the fake's base URL, "http://127.0.0.1:port": the REST API lives
// under URL()+"/api/v9/", the gateway at URL()+"/gateway" (as ws://).
func (f *Fake) URL() string { return f.url }

// GatewayURL is what GET /gateway answers.
func (f *Fake) GatewayURL() string { return "ws" + f.url[len("http"):] + "/gateway" }

// Options returns the options the fake runs with (token, guild, key).
func (f *Fake) Options() Options {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts
}

// HideChannel takes View Channel away from the bot on channel id: every
// call on it answers 403 Missing Access, as Discord does.
func (f *Fake) HideChannel(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hidden == nil {
		f.hidden = map[string]bool{}
	}
	f.hidden[id] = true
}

// SetToken changes the bot token the fake accepts (a reset token): REST
// calls with another answer 401, IDENTIFY and RESUME with another fail.
func (f *Fake) SetToken(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.Token = token
}

// PublicKey is the hex public key that verifies the interactions the fake
// signs (the application's "Public Key").
func (f *Fake) PublicKey() string { return PublicKeyHex(f.opts.PrivateKey) }

// PublicKeyHex is the hex public half of key, as the Developer Portal shows it.
func PublicKeyHex(key ed25519.PrivateKey) string {
	return fmt.Sprintf("%x", []byte(key.Public().(ed25519.PublicKey)))
}

// Close stops the server, every gateway connection and every delivery.
func (f *Fake) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.stop)
	var conns []*gwConn
	for _, s := range f.sessions {
		if s.conn != nil {
			conns = append(conns, s.conn)
			s.conn = nil
		}
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := f.srv.Shutdown(ctx)
	// Shutdown leaves connections that never sent a request open for five
	// seconds (a client's spare dial): close everything now.
	if cerr := f.srv.Close(); err == nil {
		err = cerr
	}
	f.wg.Wait()
	f.feed.Close()
	return err
}

// ---- setting up the guild ----

// AddUser adds (or replaces) a guild member.
func (f *Fake) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u.Roles = slices.Clone(u.Roles)
	f.users[u.ID] = &u
}

// AddRole creates role id with name.
func (f *Fake) AddRole(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[id] = name
}

// AddChannel creates a text channel.
func (f *Fake) AddChannel(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addChannel(Channel{ID: id, Type: TypeText, Name: name})
}

// AddForum creates a forum channel with the given available tags (by name;
// ids are made up).
func (f *Fake) AddForum(id, name string, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Channel{ID: id, Type: TypeForum, Name: name}
	for _, t := range tags {
		c.Tags = append(c.Tags, Tag{ID: f.nextID(), Name: t})
	}
	f.addChannel(c)
}

// addChannel stores c; f.mu held.
func (f *Fake) addChannel(c Channel) *storedChannel {
	sc := &storedChannel{Channel: c}
	if _, ok := f.channels[c.ID]; !ok {
		f.order = append(f.order, c.ID)
	}
	f.channels[c.ID] = sc
	return sc
}

// ---- knobs ----

// FailNext makes the next n write calls (POST, PUT, PATCH, DELETE; not
// interaction callbacks and follow-ups) answer HTTP status; a 429 says to
// retry after wait (at least 1ms).
func (f *Fake) FailNext(status, n int, wait time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails.Add(failure{status: status, wait: wait}, n)
}

// SetLatency delays every REST answer by d.
func (f *Fake) SetLatency(d time.Duration) { f.latency.Set(d) }

// Calls returns how many requests matched route, a pattern as the fake
// serves it ("POST /channels/{id}/messages"), in every outcome.
func (f *Fake) Calls(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

// RateLimited returns how many requests the rate limits refused with 429
// (not counting FailNext).
func (f *Fake) RateLimited() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited
}

// SetInteractionsURL makes the fake deliver interactions as signed HTTP
// POSTs to url (the application's Interactions Endpoint URL) instead of
// over the gateway, and take the HTTP response as the first answer. ""
// switches back to the gateway.
func (f *Fake) SetInteractionsURL(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = url
}

// ---- change feed ----

// Subscribe returns a channel of changes; it is closed when the fake closes.
// Slow readers miss events rather than block the fake.
func (f *Fake) Subscribe() <-chan Event { return f.feed.Subscribe() }

// nextID returns a new snowflake, increasing; f.mu held.
func (f *Fake) nextID() string {
	const discordEpoch = 1420070400000
	id := (f.opts.Now().UnixMilli() - discordEpoch) << 22
	if id <= f.lastID {
		id = f.lastID + 1
	}
	f.lastID = id
	return strconv.FormatInt(id, 10)
}

// ---- inspection ----

func copyMsg(m *Message) Message {
	c := *m
	c.Reactions = nil
	for _, r := range m.Reactions {
		c.Reactions = append(c.Reactions, Reaction{Emoji: r.Emoji, Users: slices.Clone(r.Users)})
	}
	return c
}

func copyChannel(c *storedChannel) Channel {
	out := c.Channel
	out.Tags = slices.Clone(c.Tags)
	out.Applied = slices.Clone(c.Applied)
	return out
}

// Channel returns channel, thread or DM id as it is now.
func (f *Fake) Channel(id string) (Channel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	if !ok {
		return Channel{}, false
	}
	return copyChannel(c), true
}

// Channels lists the guild's text and forum channels in creation order.
func (f *Fake) Channels() []Channel {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Channel
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == TypeText || c.Type == TypeForum {
			out = append(out, copyChannel(c))
		}
	}
	return out
}

// Threads lists the threads of channel parent (a text or forum channel), oldest first.
func (f *Fake) Threads(parent string) []Channel {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Channel
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == TypeThread && c.ParentID == parent {
			out = append(out, copyChannel(c))
		}
	}
	return out
}

// Messages returns the messages (not deleted) of channel, thread or DM id, oldest first.
func (f *Fake) Messages(id string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	if c := f.channels[id]; c != nil {
		for _, m := range c.msgs {
			if !m.Deleted {
				out = append(out, copyMsg(m))
			}
		}
	}
	return out
}

// Thread returns a thread as a reader sees it: its starter message first
// (for a thread started from a message in a text channel, that message,
// which lives in the parent), then its messages, oldest first.
func (f *Fake) Thread(id string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[id]
	if c == nil {
		return nil
	}
	var out []Message
	if p := f.channels[c.ParentID]; p != nil && p.Type == TypeText {
		if m := findMsg(p, id); m != nil && !m.Deleted {
			out = append(out, copyMsg(m))
		}
	}
	for _, m := range c.msgs {
		if !m.Deleted {
			out = append(out, copyMsg(m))
		}
	}
	return out
}

func findMsg(c *storedChannel, id string) *Message {
	for _, m := range c.msgs {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Message returns message id of channel (a channel, thread or DM id).
func (f *Fake) Message(channel, id string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[channel]
	if c == nil {
		return Message{}, false
	}
	m := findMsg(c, id)
	if m == nil {
		return Message{}, false
	}
	return copyMsg(m), true
}

// Ephemerals returns the ephemeral answers shown to user so far (not
// deleted), oldest first, with their latest content.
func (f *Fake) Ephemerals(user string) []Ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Ephemeral
	for _, e := range f.ephs {
		if e.User == user && !e.Deleted {
			out = append(out, *e)
		}
	}
	return out
}

// DMs returns the messages the bot sent to user by direct message, oldest first.
func (f *Fake) DMs(user string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == TypeDM && c.Recipient == user {
			for _, m := range c.msgs {
				if !m.Deleted {
					out = append(out, copyMsg(m))
				}
			}
		}
	}
	return out
}

// Interaction returns what became of interaction id.
func (f *Fake) Interaction(id string) (Interaction, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ia, ok := f.interactions[id]
	if !ok {
		return Interaction{}, false
	}
	return *ia, true
}

// Commands returns the registered guild commands.
func (f *Fake) Commands() []Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Command, len(f.commands))
	for i, c := range f.commands {
		c.Options = slices.Clone(c.Options)
		out[i] = c
	}
	return out
}

// Webhooks returns how many webhooks exist in channel.
func (f *Fake) Webhooks(channel string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.webhooks {
		if w.channelID == channel {
			n++
		}
	}
	return n
}
