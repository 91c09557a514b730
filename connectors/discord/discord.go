// Package discord is Earshot's Discord desk: one thread per case under a
// live card (an embed with buttons and a team picker), in a forum channel
// (each case a forum post whose tags show its status) or in a text channel
// (each case a thread started from its card). Customer follow-ups are posted
// into the thread through a channel webhook under the customer's name and
// avatar (or with a prefix when the bot may not manage webhooks); staff
// thread messages (new, edited, deleted) go to the bridge; staff messages
// carry delivery marks; slash commands (inside a case thread they act on
// its case), card buttons and the team picker become bridge.Invocation,
// answered within Discord's 3 seconds, privately (ephemeral) where the
// answer is private. Resolved cases are archived; a customer writing again
// unarchives the thread.
//
// It talks to Discord through github.com/bwmarrin/discordgo: the gateway
// (with the privileged MESSAGE_CONTENT intent) for messages and, unless the
// application has an Interactions Endpoint URL, interactions; REST for
// everything it writes. Interactions may also come over HTTP (see Routes),
// verified with Ed25519 on the raw body and a timestamp window. Writes that
// create messages queue per channel by case priority, then age, at a pace
// under Discord's limits; every 429 is waited out and the same request goes
// again, so a surge loses nothing. Every exported method that talks to
// Discord does network I/O and blocks until done or its context ends.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/pace"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// Name is the desk's name in config, ids and metrics.
const Name = "discord"

// Config is the discord: section of the config file.
type Config struct {
	// Token is the bot token (Developer Portal → Bot → Token), without "Bot ".
	Token string `yaml:"token"`
	// GuildID is the server the queues live in; commands are registered there.
	GuildID string `yaml:"guild_id"`
	// ApplicationID is the application's id; default: the bot's user id
	// (the same for every application made since 2020).
	ApplicationID string `yaml:"application_id"`
	// PublicKey (hex, Developer Portal → General Information) turns on the
	// HTTP interactions endpoint POST /discord/interactions.
	PublicKey string `yaml:"public_key"`
	// APIURL points the client elsewhere than https://discord.com (the fake
	// in tests and the demo): requests keep their path, the host changes.
	APIURL string `yaml:"api_url"`
	// Webhooks posts customer follow-ups through a channel webhook under the
	// customer's name and avatar (needs Manage Webhooks); default true.
	// Without it, or without the permission, follow-ups carry a prefix.
	Webhooks *bool `yaml:"webhooks"`
	// DeferAfter is how long a command may run before its interaction is
	// answered "thinking…" and finished by a follow-up; default 2s (Discord
	// gives 3s for the first answer).
	DeferAfter time.Duration `yaml:"defer_after"`
	// RequestTimeout bounds one REST attempt; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Pacing tunes the limits in front of Discord's.
	Pacing Pacing `yaml:"pacing"`
}

// Pacing tunes how fast the desk writes to Discord.
type Pacing struct {
	// ChannelPerSecond paces new messages and posts per channel (a forum,
	// a text channel or a thread); default 1 (Discord allows 5 per 5 s).
	ChannelPerSecond float64 `yaml:"channel_per_second"`
	// ChannelBurst is the burst per channel; default 5.
	ChannelBurst int `yaml:"channel_burst"`
	// GlobalPerSecond paces every REST request but interaction answers;
	// default 45 (Discord's global limit is 50).
	GlobalPerSecond float64 `yaml:"global_per_second"`
}

func (c Config) withDefaults() Config {
	if c.Webhooks == nil {
		t := true
		c.Webhooks = &t
	}
	if c.DeferAfter <= 0 {
		c.DeferAfter = 2 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.Pacing.ChannelPerSecond <= 0 {
		c.Pacing.ChannelPerSecond = 1
	}
	if c.Pacing.ChannelBurst <= 0 {
		c.Pacing.ChannelBurst = 5
	}
	if c.Pacing.GlobalPerSecond <= 0 {
		c.Pacing.GlobalPerSecond = 45
	}
	return c
}

// Desk is the Discord desk. Safe for concurrent use.
type Desk struct {
	cfg    Config
	log    *slog.Logger
	obs    bridge.RequestObserver
	health bridge.HealthReporter
	// backoff paces the retries of GET /users/@me and of the gateway;
	// tests shorten it.
	backoff backoff.Policy
	now     func() time.Time
	s       *discordgo.Session
	// pacer sits in front of every request that creates a message or a
	// post, keyed by target channel (a forum, a text channel or a thread):
	// a surge queues by case priority, then age. Each job is one call (see
	// call.go), which waits out 429s itself: the channel's worker holds the
	// channel while it does, so order holds and nothing is dropped while
	// the callers' contexts live.
	pacer   *pace.Queue
	global  *rate.Limiter
	pubKey  ed25519.PublicKey
	people  *people
	dials   *dialWatch
	tagsMu  sync.Mutex // held while a forum's status tags are made sure of
	hooksMu sync.Mutex // held while a channel's webhook is found or made

	mu        sync.Mutex
	botUser   string
	appID     string
	channels  map[string]chanInfo      // channel id -> what it is
	roles     map[string]string        // role id -> name, from the guild's events
	lookups   map[string]chan struct{} // channel id -> a GET in flight, closed when done
	threads   map[string]*threadState  // thread id -> what we know of it
	tags      map[string]forumTags     // forum id -> its tags by name
	hooks     map[string]*hook         // parent channel -> our webhook (nil: not permitted)
	dms       map[string]string        // user id -> DM channel
	marks     map[string]string        // message id -> mark emoji now shown
	lines     map[string]string        // message id -> its delivery line
	written   map[string]written       // staff message id -> author and text, for edits and deletes
	atHand    map[string]*atHand       // user/channel -> an answered interaction usable for follow-ups
	seen      map[string]time.Time     // interaction ids already handled
	replays   *replay.Guard            // interactions taken on the HTTP endpoint, with their answers
	retryKeys map[string]string        // short retry keys -> outbox ids too long for a custom_id
	ordered   map[string][]func(context.Context)
	inbox     bridge.Inbox
	listenCtx context.Context
	listened  bool
	connected bool
	lost      chan struct{} // the gateway connection went away
	work      sync.WaitGroup
	sem       chan struct{}
}

var (
	_ bridge.Desk           = (*Desk)(nil)
	_ bridge.Notifier       = (*Desk)(nil)
	_ bridge.RouteMounter   = (*Desk)(nil)
	_ bridge.Checker        = (*Desk)(nil)
	_ bridge.ChannelChecker = (*Desk)(nil)
	_ bridge.ThreadFinder   = (*Desk)(nil)
)

// Intents are the gateway intents the desk asks for: guilds (channels and
// threads), guild messages, and the privileged MESSAGE_CONTENT (enable it
// in the Developer Portal → Bot → Privileged Gateway Intents).
const Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages | discordgo.IntentMessageContent

// Permissions are the bot permissions the desk uses, for the invite link:
// view channels, send messages (also in threads), embed links, read
// history, add reactions, create public threads, manage threads (archive,
// unarchive, tag posts), use application commands; and, optional, manage
// webhooks (customer follow-ups under the customer's name) and manage
// channels (to add the status tags to a forum once).
const Permissions = discordgo.PermissionViewChannel | discordgo.PermissionSendMessages |
	discordgo.PermissionSendMessagesInThreads | discordgo.PermissionEmbedLinks | discordgo.PermissionReadMessageHistory |
	discordgo.PermissionAddReactions | discordgo.PermissionCreatePublicThreads | discordgo.PermissionManageThreads |
	discordgo.PermissionUseApplicationCommands | discordgo.PermissionManageWebhooks | discordgo.PermissionManageChannels

// New validates cfg and prepares the session. It does no I/O.
func New(cfg Config, deps bridge.Deps) (*Desk, error) {
	cfg = cfg.withDefaults()
	if cfg.Token == "" {
		return nil, errors.New("discord: token is required")
	}
	if cfg.GuildID == "" {
		return nil, errors.New("discord: guild_id is required")
	}
	var pub ed25519.PublicKey
	if cfg.PublicKey != "" {
		raw, err := hex.DecodeString(cfg.PublicKey)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, errors.New("discord: public_key must be the application's 64 hex digit public key")
		}
		pub = raw
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	var rt http.RoundTripper = transport
	if cfg.APIURL != "" {
		to, err := url.Parse(cfg.APIURL)
		if err != nil || to.Host == "" || (to.Scheme != "http" && to.Scheme != "https") {
			return nil, fmt.Errorf("discord: api_url %q is not an http(s) URL", cfg.APIURL)
		}
		rt = rewriteHost{to: to, base: transport}
	}
	deps = deps.WithDefaults()
	s, err := discordgo.New("Bot " + cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("discord: session: %w", err)
	}
	d := &Desk{
		cfg: cfg, log: deps.Logger, obs: deps.Requests, health: deps.Health, now: deps.Now, s: s, pubKey: pub,
		backoff:  backoff.Policy{Min: time.Second, Max: 2 * time.Minute},
		global:   rate.NewLimiter(rate.Limit(cfg.Pacing.GlobalPerSecond), max(1, int(cfg.Pacing.GlobalPerSecond/5))),
		dials:    &dialWatch{},
		appID:    cfg.ApplicationID,
		channels: map[string]chanInfo{}, roles: map[string]string{}, lookups: map[string]chan struct{}{}, threads: map[string]*threadState{}, tags: map[string]forumTags{},
		hooks: map[string]*hook{}, dms: map[string]string{}, marks: map[string]string{}, lines: map[string]string{},
		written: map[string]written{}, atHand: map[string]*atHand{}, seen: map[string]time.Time{},
		replays:   replay.New(maxSkew),
		retryKeys: map[string]string{}, ordered: map[string][]func(context.Context){},
		lost: make(chan struct{}, 1),
		sem:  make(chan struct{}, 32),
	}
	d.pacer = pace.New(pace.Options{PerSecond: cfg.Pacing.ChannelPerSecond, Burst: cfg.Pacing.ChannelBurst, OnWait: d.waited})
	d.people = newPeople(d)
	s.Client = &http.Client{Timeout: cfg.RequestTimeout, Transport: rt}
	// Our own loops retry and reconnect, bounded by contexts: discordgo's
	// would sleep through 429s without end and reconnect after we stopped.
	s.ShouldRetryOnRateLimit = false
	s.ShouldReconnectOnError = false
	s.MaxRestRetries = 1 // a 502 is tried once more by discordgo; other 5xx by call
	s.StateEnabled = false
	s.SyncEvents = true // handlers only queue work, in gateway order
	s.LogLevel = -1     // discordgo's own log lines may carry the token at debug level: we log ourselves
	s.Identify.Intents = Intents
	s.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: d.dials.dial, Proxy: http.ProxyFromEnvironment}
	d.handleEvents()
	return d, nil
}

// Name returns "discord".
func (d *Desk) Name() string { return Name }

// webhooks reports whether customer follow-ups should go through webhooks.
func (d *Desk) webhooks() bool { return *d.cfg.Webhooks }

// Check calls GET /users/@me with the bot token: `earshot check`.
func (d *Desk) Check(ctx context.Context) error {
	if _, err := d.botUserID(ctx); err != nil {
		return err
	}
	return nil
}

// CheckChannel proves the bot sees channel (a queue's): GET
// /channels/{id} answers, the channel is in the configured server, and
// cases can live there (a text or forum channel). `earshot check`.
func (d *Desk) CheckChannel(ctx context.Context, channel string) error {
	var c *discordgo.Channel
	err := d.call(ctx, "channel.get", func(opts ...discordgo.RequestOption) error {
		var err error
		c, err = d.s.Channel(channel, opts...)
		return err
	})
	switch status := restStatus(err); {
	case status == http.StatusNotFound:
		return fmt.Errorf("discord: channel %s: no such channel the bot can reach (check the id, and that the bot is in the server)", channel)
	case status == http.StatusForbidden:
		return fmt.Errorf("discord: channel %s: the bot may not see it (Missing Access): give its role View Channel, Send Messages and the thread permissions there", channel)
	case err != nil:
		return fmt.Errorf("discord: channel %s: %w", channel, err)
	case c.GuildID != "" && c.GuildID != d.cfg.GuildID:
		return fmt.Errorf("discord: channel %s (#%s) is in another server than guild_id %s", channel, c.Name, d.cfg.GuildID)
	}
	if k := kindOf(c.Type); k != kindText && k != kindForum {
		return fmt.Errorf("discord: channel %s (#%s) is neither a text nor a forum channel: cases cannot open there", channel, c.Name)
	}
	return nil
}

// botUserID returns our bot's user id from GET /users/@me (or READY), cached.
func (d *Desk) botUserID(ctx context.Context) (string, error) {
	d.mu.Lock()
	id := d.botUser
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var u *discordgo.User
	err := d.call(ctx, "users.me", func(opts ...discordgo.RequestOption) error {
		var err error
		u, err = d.s.User("@me", opts...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("discord: GET /users/@me: %w", err)
	}
	d.setBot(u.ID, "")
	return u.ID, nil
}

// setBot records our user id and, when given, the application id.
func (d *Desk) setBot(user, app string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.botUser = user
	if app != "" && d.cfg.ApplicationID == "" {
		d.appID = app
	}
}

// applicationID is the configured application id, else the one READY
// told, else the bot's user id.
func (d *Desk) applicationID(ctx context.Context) (string, error) {
	d.mu.Lock()
	id := d.appID
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	return d.botUserID(ctx)
}
