// Package slack is Earshot's Slack desk: one thread per case under a live
// Block Kit card, customer follow-ups and notices posted into the thread,
// staff thread messages (new, edited, deleted) handed to the bridge, delivery
// marks on staff messages, card buttons and channel slash commands turned
// into bridge.Invocation, and paced posting that honours Slack's limits.
//
// It talks to Slack through github.com/slack-go/slack. Events arrive over
// Socket Mode (the default: an app-level token, no public URL) or over HTTP
// (Events API, slash commands and interactivity on the shared listener, see
// Routes), where every request is verified on its raw body before parsing.
// Every exported method that talks to Slack does network I/O and blocks.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/pace"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// Name is the desk's name in config, ids and metrics.
const Name = "slack"

// Config is the slack: section of the config file.
type Config struct {
	BotToken      string `yaml:"bot_token"`      // xoxb-...
	AppToken      string `yaml:"app_token"`      // xapp-..., for Socket Mode
	SigningSecret string `yaml:"signing_secret"` // for HTTP mode
	// Mode is "socket" (default) or "http".
	Mode string `yaml:"mode"`
	// APIURL points the client elsewhere than https://slack.com/api/ (the
	// fake in tests and the demo). A trailing slash is added when missing.
	APIURL string `yaml:"api_url"`
	// Customize says the app has chat:write.customize: customer follow-ups
	// are posted under the customer's name and avatar instead of a prefix.
	Customize bool `yaml:"customize"`
	// Pacing tunes the limits in front of Slack's.
	Pacing Pacing `yaml:"pacing"`
	// PingInterval is how long Socket Mode waits for Slack's pings before
	// reconnecting; default 30s.
	PingInterval time.Duration `yaml:"ping_interval"`
}

// Pacing tunes how fast the desk writes to Slack.
type Pacing struct {
	// ChannelPerSecond paces chat.postMessage per channel; default 1.
	ChannelPerSecond float64 `yaml:"channel_per_second"`
	// ChannelBurst is the burst per channel; default 3.
	ChannelBurst int `yaml:"channel_burst"`
	// WorkspacePerSecond paces chat.postMessage across channels; default 4.
	WorkspacePerSecond float64 `yaml:"workspace_per_second"`
	// UpdatesPerMinute paces each Tier 3 method (chat.update, reactions.*,
	// chat.postEphemeral); default 50.
	UpdatesPerMinute float64 `yaml:"updates_per_minute"`
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = "socket"
	}
	if c.Pacing.ChannelPerSecond <= 0 {
		c.Pacing.ChannelPerSecond = 1
	}
	if c.Pacing.ChannelBurst <= 0 {
		c.Pacing.ChannelBurst = 3
	}
	if c.Pacing.WorkspacePerSecond <= 0 {
		c.Pacing.WorkspacePerSecond = 4
	}
	if c.Pacing.UpdatesPerMinute <= 0 {
		c.Pacing.UpdatesPerMinute = 50
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.APIURL != "" && !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	return c
}

// Desk is the Slack desk. Safe for concurrent use.
type Desk struct {
	cfg    Config
	log    *slog.Logger
	obs    bridge.RequestObserver
	health bridge.HealthReporter
	// backoff paces the retries of auth.test and of Socket Mode after it
	// gave up; tests shorten it.
	backoff backoff.Policy
	now     func() time.Time
	api     *slack.Client
	pacer   *pace.Queue // chat.postMessage, by channel
	// tier3 paces each Tier 3 method, a few of its tokens kept for what a
	// staff action caused (bridge.Urgent), so a press never waits behind
	// bulk card updates.
	tier3  map[string]*pace.Reserve
	people *people

	mu        sync.Mutex
	botUser   string
	prio      map[string]int       // thread ts -> case priority, for pacing
	marks     map[string]string    // message key -> mark reaction now shown
	lines     map[string]string    // message key -> ts of its delivery line
	inbox     bridge.Inbox         // set while Listen runs (HTTP mode)
	listenCtx context.Context      // Listen's context, for work after an HTTP ack
	seen      map[string]time.Time // event ids already handled
	replays   *replay.Guard        // signed HTTP requests and Socket Mode commands already taken
	work      sync.WaitGroup       // handlers running after an ack
	sem       chan struct{}
	ordered   map[string][]func(context.Context) // per-thread queues of staff messages
	listened  bool
	connected bool
	upSince   time.Time     // when the socket last said hello
	lastUp    time.Duration // how long the last connection stayed up
}

var (
	_ bridge.Desk           = (*Desk)(nil)
	_ bridge.Notifier       = (*Desk)(nil)
	_ bridge.RouteMounter   = (*Desk)(nil)
	_ bridge.Checker        = (*Desk)(nil)
	_ bridge.ChannelChecker = (*Desk)(nil)
	_ bridge.ThreadFinder   = (*Desk)(nil)
)

// New validates cfg and prepares the client. It does no I/O.
func New(cfg Config, deps bridge.Deps) (*Desk, error) {
	cfg = cfg.withDefaults()
	if cfg.BotToken == "" {
		return nil, errors.New("slack: bot_token is required")
	}
	switch cfg.Mode {
	case "socket":
		if cfg.AppToken == "" {
			return nil, errors.New("slack: app_token is required in socket mode")
		}
	case "http":
		if cfg.SigningSecret == "" {
			return nil, errors.New("slack: signing_secret is required in http mode")
		}
	default:
		return nil, fmt.Errorf("slack: mode must be \"socket\" or \"http\", not %q", cfg.Mode)
	}
	deps = deps.WithDefaults()
	opts := []slack.Option{slack.OptionAppLevelToken(cfg.AppToken), slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second})}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	d := &Desk{
		cfg: cfg, log: deps.Logger, obs: deps.Requests, health: deps.Health, now: deps.Now,
		backoff: backoff.Policy{Min: time.Second, Max: 2 * time.Minute},
		api:     slack.New(cfg.BotToken, opts...),
		tier3:   map[string]*pace.Reserve{},
		prio:    map[string]int{}, marks: map[string]string{}, lines: map[string]string{},
		seen:    map[string]time.Time{},
		replays: replay.New(maxSkew),
		sem:     make(chan struct{}, 16),
		ordered: map[string][]func(context.Context){},
	}
	d.pacer = newPacer(cfg.Pacing.ChannelPerSecond, cfg.Pacing.ChannelBurst, cfg.Pacing.WorkspacePerSecond, d.waited)
	// A burst of a fifth of a minute's pace, a tenth of a minute's (at
	// least one call) kept for staff actions.
	burst := max(1, int(cfg.Pacing.UpdatesPerMinute/5))
	keep := max(1, int(cfg.Pacing.UpdatesPerMinute/10))
	for _, m := range []string{"chat.update", "reactions.add", "reactions.remove", "chat.postEphemeral", "chat.delete", "reactions.get", "conversations.history"} {
		d.tier3[m] = pace.NewReserve(cfg.Pacing.UpdatesPerMinute/60, burst, keep)
	}
	d.people = newPeople(d)
	return d, nil
}

// Name returns "slack".
func (d *Desk) Name() string { return Name }

// observe records one request's outcome and returns err wrapped with op.
func (d *Desk) observe(op string, start time.Time, err error) {
	outcome := bridge.OutcomeOK
	var rl *slack.RateLimitedError
	switch {
	case err == nil:
	case errors.As(err, &rl):
		outcome = bridge.OutcomeRateLimited
	default:
		outcome = bridge.OutcomeError
	}
	d.obs.ObserveRequest(Name, op, outcome, time.Since(start))
}

// waited counts time spent waiting for Slack's rate limits (our pacing
// under them, or a Retry-After).
func (d *Desk) waited(dur time.Duration) { bridge.ObserveWait(d.obs, Name, dur) }

// call makes one paced-by-tier, retried API call and records it.
func (d *Desk) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	lim, urgent := d.tier3[op], bridge.Urgent(ctx)
	var wait func(context.Context) error
	if lim != nil {
		wait = func(ctx context.Context) error { return lim.Wait(ctx, urgent) }
	}
	return retry(ctx, wait, d.waited, func(ctx context.Context) error {
		start := time.Now()
		err := fn(ctx)
		d.observe(op, start, err)
		return err
	})
}

// post sends one chat.postMessage through the channel pacer; what a
// staff action caused (bridge.Urgent) goes first.
func (d *Desk) post(ctx context.Context, channel string, prio int, opts ...slack.MsgOption) (string, error) {
	if bridge.Urgent(ctx) {
		prio = urgentPriority
	}
	var ts string
	err := d.pacer.Do(ctx, channel, prio, paced(func(ctx context.Context) error {
		start := time.Now()
		_, t, err := d.api.PostMessageContext(ctx, channel, opts...)
		d.observe("chat.postMessage", start, err)
		ts = t
		return err
	}))
	return ts, err
}

// Check calls auth.test with the bot token and, in socket mode,
// apps.connections.open with the app token: `earshot check`.
func (d *Desk) Check(ctx context.Context) error {
	if _, err := d.botUserID(ctx); err != nil {
		return err
	}
	if d.cfg.Mode == "socket" {
		// Proves the app-level token and that Socket Mode is enabled; the
		// returned URL is not dialled.
		err := d.call(ctx, "apps.connections.open", func(ctx context.Context) error {
			_, _, err := d.api.StartSocketModeContext(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("slack: apps.connections.open (app_token, Socket Mode enabled?): %w", err)
		}
	}
	return nil
}

// CheckChannel proves the bot sees channel (a queue's) and is a member
// there (conversations.info): without membership Slack sends no message
// events from it and refuses posts. `earshot check`.
func (d *Desk) CheckChannel(ctx context.Context, channel string) error {
	var c *slack.Channel
	err := d.call(ctx, "conversations.info", func(ctx context.Context) error {
		var err error
		c, err = d.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: channel})
		return err
	})
	var se slack.SlackErrorResponse
	errors.As(err, &se)
	switch {
	case se.Err == "channel_not_found":
		return fmt.Errorf("slack: channel %s: the bot cannot see it (no such channel, or a private one the bot was not invited to: /invite the app there)", channel)
	case se.Err == "missing_scope":
		return fmt.Errorf("slack: channel %s: the app lacks the channels:read and groups:read scopes to look at channels (reinstall it with `earshot slack manifest`)", channel)
	case err != nil:
		return fmt.Errorf("slack: conversations.info %s: %w", channel, err)
	case c.IsArchived:
		return fmt.Errorf("slack: channel %s (#%s) is archived", channel, c.Name)
	case !c.IsMember:
		return fmt.Errorf("slack: channel %s (#%s): the bot is not a member, so staff messages there never reach Earshot (/invite the app there)", channel, c.Name)
	}
	return nil
}

// botUserID returns our bot's user id from auth.test, cached.
func (d *Desk) botUserID(ctx context.Context) (string, error) {
	d.mu.Lock()
	id := d.botUser
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var res *slack.AuthTestResponse
	err := d.call(ctx, "auth.test", func(ctx context.Context) error {
		var err error
		res, err = d.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: auth.test: %w", err)
	}
	d.mu.Lock()
	d.botUser = res.UserID
	d.mu.Unlock()
	return res.UserID, nil
}

func (d *Desk) priority(threadTS string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prio[threadTS]
}

// OpenThread posts the case's card in channel; the card's ts is the thread.
func (d *Desk) OpenThread(ctx context.Context, channel string, c bridge.CaseView) (bridge.ThreadRef, error) {
	return d.OpenThreadKeyed(ctx, channel, c, "")
}

// CardEventType is the event_type of the message metadata a card carries:
// its payload holds the case id and the key the bridge opened it with.
const CardEventType = "earshot_case_card"

// OpenThreadKeyed is OpenThread with the card carrying key (and the case
// id) in its message metadata, where FindThread finds it again.
func (d *Desk) OpenThreadKeyed(ctx context.Context, channel string, c bridge.CaseView, key string) (bridge.ThreadRef, error) {
	blocks, fallback := RenderCard(c)
	opts := []slack.MsgOption{slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl()}
	if key != "" {
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: CardEventType,
			EventPayload: map[string]any{"case": string(c.ID), "key": key}}))
	}
	ts, err := d.post(ctx, channel, c.Priority, opts...)
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("slack: open thread: %w", err)
	}
	d.mu.Lock()
	d.prio[ts] = c.Priority
	d.mu.Unlock()
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: ts}, nil
}

// historyPages bounds how far FindThread pages back (200 messages a page).
const historyPages = 25

// FindThread looks for the card OpenThreadKeyed posted with key in
// channel: conversations.history (with include_all_metadata) from a
// minute before since, newest first, for a message of our bot whose
// metadata carries key.
func (d *Desk) FindThread(ctx context.Context, channel string, c bridge.CaseView, key string, since time.Time) (bridge.ThreadRef, bool, error) {
	bot, err := d.botUserID(ctx)
	if err != nil {
		return bridge.ThreadRef{}, false, err
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 200, IncludeAllMetadata: true}
	if !since.IsZero() {
		params.Oldest = fmt.Sprintf("%d.000000", since.Add(-time.Minute).Unix())
	}
	for range historyPages {
		var res *slack.GetConversationHistoryResponse
		err := d.call(ctx, "conversations.history", func(ctx context.Context) error {
			var err error
			res, err = d.api.GetConversationHistoryContext(ctx, params)
			return err
		})
		if err != nil {
			return bridge.ThreadRef{}, false, fmt.Errorf("slack: find card: %w", err)
		}
		for _, m := range res.Messages {
			p := m.Metadata.EventPayload
			if m.Metadata.EventType == CardEventType && p["key"] == key && p["case"] == string(c.ID) && (m.User == bot || m.BotID != "") {
				d.mu.Lock()
				d.prio[m.Timestamp] = c.Priority
				d.mu.Unlock()
				return bridge.ThreadRef{Desk: Name, Channel: channel, ID: m.Timestamp}, true, nil
			}
		}
		if !res.HasMore || res.ResponseMetaData.NextCursor == "" {
			return bridge.ThreadRef{}, false, nil
		}
		params.Cursor = res.ResponseMetaData.NextCursor
	}
	// Past the bound: a second card is better than none.
	d.log.Warn("slack: a card being opened was not found in the channel's latest messages; posting it again", "channel", channel, "case", string(c.ID))
	return bridge.ThreadRef{}, false, nil
}

// UpdateCard re-renders the card in place with chat.update.
func (d *Desk) UpdateCard(ctx context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	d.mu.Lock()
	d.prio[t.ID] = c.Priority
	d.mu.Unlock()
	blocks, fallback := RenderCard(c)
	err := d.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := d.api.UpdateMessageContext(ctx, t.Channel, t.ID, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: update card: %w", err)
	}
	return nil
}

// Post adds a customer follow-up or a notice to the thread.
func (d *Desk) Post(ctx context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	blocks, fallback := renderMessage(m, d.cfg.Customize)
	opts := []slack.MsgOption{slack.MsgOptionTS(t.ID), slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl()}
	if m.Kind == bridge.DeskCustomer && m.Author != nil && d.cfg.Customize {
		opts = append(opts, slack.MsgOptionUsername(cut(fmt.Sprintf("%s (%s)", authorName(*m.Author), m.Author.Handle), 80)))
		if m.Author.Avatar != "" {
			opts = append(opts, slack.MsgOptionIconURL(m.Author.Avatar))
		}
	}
	ts, err := d.post(ctx, t.Channel, d.priority(t.ID), opts...)
	if err != nil {
		return bridge.MessageRef{}, fmt.Errorf("slack: post in thread: %w", err)
	}
	return bridge.MessageRef{Desk: Name, Channel: t.Channel, Thread: t.ID, ID: ts}, nil
}

// Notify says text privately to staffID in channel (in thread t when set).
func (d *Desk) Notify(ctx context.Context, channel string, t bridge.ThreadRef, staffID, text string) error {
	if err := d.ephemeral(ctx, channel, t.ID, staffID, text, nil); err != nil {
		return fmt.Errorf("slack: notify: %w", err)
	}
	return nil
}

func (d *Desk) ephemeral(ctx context.Context, channel, threadTS, user, text string, blocks []slack.Block) error {
	opts := []slack.MsgOption{slack.MsgOptionText(escape(cut(text, maxFallback)), false)}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	return d.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := d.api.PostEphemeralContext(ctx, channel, user, opts...)
		return err
	})
}
