// Package slackfake is a stateful fake Slack workspace on loopback, speaking
// enough of the real Web API, Socket Mode and the HTTP Events API for
// Earshot's Slack desk (through slack-go) and for `earshot demo`.
//
// A test or the demo drives it as people (Say, Edit, Delete, Press, Slash)
// and inspects it (Channels, Messages, Thread, Message with its Reactions,
// Ephemerals; Message.Visible and Message.Actions show a message as a
// reader sees it). Knobs: FailNext (HTTP errors, 429 with Retry-After),
// SetLatency, SetPostRate (per-channel and workspace chat.postMessage
// limits with token-bucket semantics), SetMethodRate (Tier 3 methods),
// DropSockets, Options.AckTimeout (Socket Mode redelivery of unacked
// envelopes), Options.Customize (chat:write.customize granted or not).
// Subscribe gives a change feed for a live sandbox page. Everything is safe
// for concurrent use; Close stops every goroutine it started.
//
// Served (POST /api/<method>, form or JSON, token in the form or as Bearer):
// auth.test, chat.postMessage, chat.update, chat.delete, chat.postEphemeral,
// reactions.add, reactions.remove, reactions.get, users.info,
// usergroups.list, usergroups.users.list, conversations.replies, conversations.info,
// conversations.history (newest first, paged by cursor, bounded by
// oldest/latest; message metadata only with include_all_metadata, as Slack),
// apps.connections.open (app-level token); the Socket Mode WebSocket at
// GET /socket (hello, server pings, envelopes, acks, disconnect); POST
// /response/{id} for response_url posts. The bot's own posts are echoed as
// message events with bot_id, as Slack does. In HTTP mode (SetHTTPTarget)
// events, slash commands and button presses are signed with the signing
// secret and POSTed to the app's routes instead (events retried with
// X-Slack-Retry-Num on failure).
package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
)

// Fixed identities of the fake workspace.
const (
	TeamID    = "T0FAKE"
	BotUserID = "UBOT"
	BotID     = "BBOT"
)

// User is a workspace member.
type User struct {
	ID          string
	Name        string // the handle ("ana")
	DisplayName string // what Slack shows ("Ana Lima")
}

// Reaction is one emoji on a message and who added it.
type Reaction struct {
	Name  string
	Users []string
}

// Message is one stored channel message.
type Message struct {
	Channel   string
	TS        string
	ThreadTS  string // "" for a top-level message; equal to TS for a thread root with replies
	User      string // author user id (BotUserID for the bot)
	BotID     string // set for messages written by the bot token
	Username  string // chat:write.customize override
	IconURL   string
	Text      string          // as posted (Slack markup, escaped)
	Blocks    json.RawMessage // as posted, or nil
	Metadata  json.RawMessage // message metadata as posted ({"event_type","event_payload"}), or nil
	Edited    bool
	Deleted   bool
	Reactions []Reaction
}

// Ephemeral is a message shown only to one user.
type Ephemeral struct {
	Channel  string
	ThreadTS string
	User     string
	Text     string
	Blocks   json.RawMessage
}

// Event is a change notification for live pages and tests.
type Event struct {
	Kind    string // "message", "update", "delete", "reaction", "ephemeral", "delivery", "rate_limited", "failure"
	Channel string
	TS      string
	Message *Message   // for message kinds, a copy
	Eph     *Ephemeral // for "ephemeral"
}

// Options configure a fake.
type Options struct {
	BotToken      string // default "xoxb-fake"
	AppToken      string // default "xapp-fake"
	SigningSecret string // default "fake-signing-secret"
	// PingInterval is how often the socket sends WebSocket pings; default 1s.
	PingInterval time.Duration
	// Customize grants chat:write.customize (username/icon overrides).
	// Without it, overrides are ignored as Slack does.
	Customize bool
	// Now is the clock used for ts values and signatures; default time.Now.
	Now func() time.Time
	// AckTimeout, when set, redelivers a Socket Mode envelope not
	// acknowledged within it (retry_attempt+1, at most 3 times), as Slack
	// does; the app must deduplicate by event_id.
	AckTimeout time.Duration
}

type bucket struct {
	rate   float64 // tokens per second; 0 = unlimited
	burst  float64
	tokens float64
	last   time.Time
}

// take takes a token or says how long to wait for one.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

type failure struct {
	status int
	wait   time.Duration
}

type socketConn struct {
	id   int
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

func (c *socketConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

type envelope struct {
	ID      string          `json:"envelope_id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Accepts bool            `json:"accepts_response_payload"`
	Retry   int             `json:"retry_attempt"`
}

// Fake is a running fake Slack.
type Fake struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	url  string

	mu          sync.Mutex
	users       map[string]User
	groups      map[string][]string // group id -> user ids
	groupName   map[string]string
	channels    map[string][]*Message
	chanNames   map[string]string
	outside     map[string]bool // channels the bot is not a member of (SetMember)
	ephs        []Ephemeral
	lastTS      int64
	seq         int
	fails       fakekit.Failures[failure]
	latency     fakekit.Latency
	chanRate    map[string]*bucket
	methRate    map[string]*bucket
	redelivered int
	postRate    float64
	postBurst   float64
	workspace   bucket
	calls       map[string]int
	limited     int
	acks        map[string]json.RawMessage
	pending     []envelope // waiting for a socket or HTTP target
	delivered   []Delivery // the latest deliveries as the app received them (fuzz seeds)
	socks       []*socketConn
	connects    int
	target      string // HTTP mode: base URL of the app's routes
	feed        fakekit.Feed[Event]
	responses   map[string]responseURL
	holds       fakekit.Holds
	closed      bool
	wg          sync.WaitGroup
	stop        chan struct{}
	upgrader    websocket.Upgrader
	client      *http.Client
}

type responseURL struct {
	channel, user, threadTS string
}

// New starts a fake Slack on 127.0.0.1:0. Close it when done (t.Cleanup).
func New(opts Options) (*Fake, error) {
	if opts.BotToken == "" {
		opts.BotToken = "xoxb-fake"
	}
	if opts.AppToken == "" {
		opts.AppToken = "xapp-fake"
	}
	if opts.SigningSecret == "" {
		opts.SigningSecret = "fake-signing-secret"
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("slackfake: listen: %w", err)
	}
	f := &Fake{
		opts: opts, ln: ln, url: "http://" + ln.Addr().String(),
		users:     map[string]User{BotUserID: {ID: BotUserID, Name: "earshot", DisplayName: "Earshot"}},
		groups:    map[string][]string{},
		groupName: map[string]string{},
		channels:  map[string][]*Message{},
		chanNames: map[string]string{},
		chanRate:  map[string]*bucket{},
		methRate:  map[string]*bucket{},
		calls:     map[string]int{},
		acks:      map[string]json.RawMessage{},
		responses: map[string]responseURL{},
		stop:      make(chan struct{}),
		client:    &http.Client{Timeout: 10 * time.Second},
	}
	f.upgrader.CheckOrigin = func(*http.Request) bool { return true } // slack-go sends Origin: https://api.slack.com
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", f.api)
	mux.HandleFunc("GET /socket", f.socket)
	mux.HandleFunc("POST /response/{id}", f.response)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// URL is the fake's base URL, "http://127.0.0.1:port". The Web API lives
// under URL()+"/api/" (give slack-go OptionAPIURL(f.APIURL())).
func (f *Fake) URL() string { return f.url }

// APIURL is the value for slack.OptionAPIURL, with its trailing slash.
func (f *Fake) APIURL() string { return f.url + "/api/" }

// Options returns the options the fake runs with (tokens, secret).
func (f *Fake) Options() Options {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts
}

// Close stops the server and every socket.
func (f *Fake) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.stop)
	socks := f.socks
	f.socks = nil
	f.mu.Unlock()
	for _, s := range socks {
		_ = s.ws.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := f.srv.Shutdown(ctx)
	// Shutdown leaves a connection that was accepted but has sent no
	// request yet (a client's spare dial) open for five seconds; it would
	// outlive the fake.
	_ = f.srv.Close()
	f.wg.Wait()
	f.feed.Close()
	return err
}

// AddUser adds (or replaces) a workspace member.
func (f *Fake) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// AddGroup creates user group id (handle name) with the given members.
func (f *Fake) AddGroup(id, name string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[id] = append([]string(nil), members...)
	f.groupName[id] = name
}

// AddChannel names a channel; channels also spring into being when used.
func (f *Fake) AddChannel(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chanNames[id] = name
	if _, ok := f.channels[id]; !ok {
		f.channels[id] = nil
	}
}

// SetMember makes the bot a member of channel or not (AddChannel makes
// it one). Slack sends no events from a channel the bot is not in; the fake
// refuses its posts there with not_in_channel.
func (f *Fake) SetMember(channel string, member bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outside == nil {
		f.outside = map[string]bool{}
	}
	f.outside[channel] = !member
}

// SetTokens changes the tokens the workspace accepts (a revoked or
// rotated token): calls with others answer invalid_auth. "" keeps one.
func (f *Fake) SetTokens(bot, app string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bot != "" {
		f.opts.BotToken = bot
	}
	if app != "" {
		f.opts.AppToken = app
	}
}

// SetPostRate sets chat.postMessage limits: perChannel messages per second
// with burst per channel, and workspace messages per second overall (burst
// the same as its rate, at least 1). Zero disables a limit. Default: none.
func (f *Fake) SetPostRate(perChannel float64, burst int, workspace float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.postRate, f.postBurst = perChannel, float64(max(burst, 1))
	f.chanRate = map[string]*bucket{}
	f.workspace = bucket{rate: workspace, burst: math.Max(1, workspace)}
}

// SetMethodRate limits Web API method (Slack's tiers: chat.update,
// reactions.add are Tier 3, about 50 a minute) to perMinute with burst,
// workspace-wide; 0 removes the limit.
func (f *Fake) SetMethodRate(method string, perMinute float64, burst int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if perMinute <= 0 {
		delete(f.methRate, method)
		return
	}
	f.methRate[method] = &bucket{rate: perMinute / 60, burst: float64(max(burst, 1))}
}

// Channels lists the channels that have messages or were added, sorted.
func (f *Fake) Channels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.channels))
	for id := range f.channels {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// FailNext makes the next n Web API write calls (chat.*, reactions.*)
// answer HTTP status; for 429 with Retry-After of wait rounded up to whole
// seconds (at least 1).
func (f *Fake) FailNext(status, n int, wait time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails.Add(failure{status: status, wait: wait}, n)
}

// SetLatency delays every Web API answer by d.
func (f *Fake) SetLatency(d time.Duration) { f.latency.Set(d) }

// Calls returns how many times Web API method was called (all outcomes).
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// RateLimited returns how many calls were refused with 429 by the rate limits
// (not counting FailNext).
func (f *Fake) RateLimited() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited
}

// HoldAnswers holds the answers of Web API method after the call took
// effect (a chat.postMessage is stored and echoed), until release is
// called or the client gives up: the moment between Slack doing something
// and the app hearing of it (a crash, a timeout). answered receives once
// per answer it holds. One hold per method at a time.
func (f *Fake) HoldAnswers(method string) (answered <-chan struct{}, release func()) {
	return f.holds.Hold(method)
}

// Subscribe returns a channel of changes; it is closed when the fake closes.
// Slow readers miss events rather than block the fake.
func (f *Fake) Subscribe() <-chan Event { return f.feed.Subscribe() }

// nextTS returns a unique, increasing ts like "1712345678.000200"; f.mu held.
func (f *Fake) nextTS() string {
	micros := f.opts.Now().UnixMicro()
	if micros <= f.lastTS {
		micros = f.lastTS + 1
	}
	f.lastTS = micros
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}

func (f *Fake) find(channel, ts string) *Message {
	for _, m := range f.channels[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func copyMsg(m *Message) Message {
	c := *m
	c.Reactions = nil
	for _, r := range m.Reactions {
		c.Reactions = append(c.Reactions, Reaction{Name: r.Name, Users: slices.Clone(r.Users)})
	}
	return c
}

// Messages returns the channel's top-level messages (not deleted), oldest first.
func (f *Fake) Messages(channel string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, m := range f.channels[channel] {
		if !m.Deleted && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
			out = append(out, copyMsg(m))
		}
	}
	return out
}

// Thread returns the thread rooted at ts: the root first, then its replies
// (not deleted), oldest first.
func (f *Fake) Thread(channel, ts string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.thread(channel, ts)
}

func (f *Fake) thread(channel, ts string) []Message {
	var out []Message
	for _, m := range f.channels[channel] {
		if m.Deleted {
			continue
		}
		if m.TS == ts || m.ThreadTS == ts {
			out = append(out, copyMsg(m))
		}
	}
	return out
}

// Message returns one message by channel and ts.
func (f *Fake) Message(channel, ts string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.find(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return copyMsg(m), true
}

// Ephemerals returns every ephemeral message shown to user, oldest first.
func (f *Fake) Ephemerals(user string) []Ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Ephemeral
	for _, e := range f.ephs {
		if e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// Connected reports how many Socket Mode connections are open.
func (f *Fake) Connected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.socks)
}

// Connects reports how many Socket Mode connections were ever opened.
func (f *Fake) Connects() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connects
}

// DropSockets sends a disconnect envelope on every socket and closes it; the
// app must reconnect by itself.
func (f *Fake) DropSockets() {
	f.mu.Lock()
	socks := f.socks
	f.socks = nil
	f.mu.Unlock()
	for _, s := range socks {
		_ = s.write(map[string]any{"type": "disconnect", "reason": "refresh_requested"})
		_ = s.ws.Close()
	}
}

// SetHTTPTarget switches delivery to the HTTP Events API: events go to
// base+"/slack/events", commands to base+"/slack/commands", button presses
// to base+"/slack/interactive", each signed with the signing secret.
// "" switches back to Socket Mode.
func (f *Fake) SetHTTPTarget(base string) {
	f.mu.Lock()
	f.target = strings.TrimRight(base, "/")
	f.mu.Unlock()
	f.flush()
}

// Sign returns the X-Slack-Signature for body at timestamp ts with secret.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// ---- acting as people ----

// Say posts text as user in channel; in the thread rooted at threadTS unless
// it is "". It returns the new message's ts and delivers a message event.
func (f *Fake) Say(user, channel, threadTS, text string) string {
	f.mu.Lock()
	m := &Message{Channel: channel, TS: f.nextTS(), ThreadTS: threadTS, User: user, Text: text}
	f.channels[channel] = append(f.channels[channel], m)
	ev := f.messageEvent(m)
	f.feed.Emit(Event{Kind: "message", Channel: channel, TS: m.TS, Message: ptr(copyMsg(m))})
	f.mu.Unlock()
	f.deliverEvent(ev)
	return m.TS
}

// Edit changes the text of message ts (as its author) and delivers a
// message_changed event.
func (f *Fake) Edit(channel, ts, text string) error {
	f.mu.Lock()
	m := f.find(channel, ts)
	if m == nil || m.Deleted {
		f.mu.Unlock()
		return fmt.Errorf("slackfake: edit: no message %s in %s", ts, channel)
	}
	prev := *m
	m.Text, m.Edited = text, true
	ev := map[string]any{
		"type": "message", "subtype": "message_changed", "channel": channel, "hidden": true,
		"ts": f.nextTS(), "event_ts": f.nextTS(), "channel_type": "channel",
		"message": map[string]any{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS,
			"thread_ts": m.ThreadTS, "edited": map[string]any{"user": m.User, "ts": f.nextTS()}},
		"previous_message": map[string]any{"type": "message", "user": prev.User, "text": prev.Text, "ts": prev.TS, "thread_ts": prev.ThreadTS},
	}
	f.feed.Emit(Event{Kind: "update", Channel: channel, TS: ts, Message: ptr(copyMsg(m))})
	f.mu.Unlock()
	f.deliverEvent(ev)
	return nil
}

// Delete deletes message ts (as its author) and delivers a message_deleted event.
func (f *Fake) Delete(channel, ts string) error {
	f.mu.Lock()
	m := f.find(channel, ts)
	if m == nil || m.Deleted {
		f.mu.Unlock()
		return fmt.Errorf("slackfake: delete: no message %s in %s", ts, channel)
	}
	m.Deleted = true
	ev := map[string]any{
		"type": "message", "subtype": "message_deleted", "channel": channel, "hidden": true,
		"ts": f.nextTS(), "event_ts": f.nextTS(), "deleted_ts": ts, "channel_type": "channel",
		"previous_message": map[string]any{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS, "thread_ts": m.ThreadTS},
	}
	f.feed.Emit(Event{Kind: "delete", Channel: channel, TS: ts})
	f.mu.Unlock()
	f.deliverEvent(ev)
	return nil
}

// Press presses, as user, the button (or picks option value of the select)
// with action id actionID on message ts. The message must carry that
// action in its blocks.
func (f *Fake) Press(user, channel, ts, actionID, option string) error {
	f.mu.Lock()
	m := f.find(channel, ts)
	if m == nil || m.Deleted {
		f.mu.Unlock()
		return fmt.Errorf("slackfake: press: no message %s in %s", ts, channel)
	}
	el, blockID, ok := findAction(m.Blocks, actionID)
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("slackfake: press: message %s has no action %q", ts, actionID)
	}
	action := map[string]any{"action_id": actionID, "block_id": blockID, "type": el.Type, "action_ts": f.nextTS()}
	switch el.Type {
	case "static_select":
		found := false
		for _, o := range el.Options {
			if o.Value == option {
				found = true
			}
		}
		if !found {
			f.mu.Unlock()
			return fmt.Errorf("slackfake: press: select %q has no option %q", actionID, option)
		}
		action["selected_option"] = map[string]any{"value": option, "text": map[string]any{"type": "plain_text", "text": option}}
	default:
		action["value"] = el.Value
	}
	u := f.users[user]
	rid := f.responseURL(channel, user, m.ThreadTS)
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": channel, "is_ephemeral": false}
	msg := map[string]any{"type": "message", "user": m.User, "ts": m.TS, "text": m.Text, "blocks": m.Blocks}
	if m.BotID != "" {
		msg["bot_id"] = m.BotID
	}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
		msg["thread_ts"] = m.ThreadTS
	}
	payload := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": TeamID},
		"user":      map[string]any{"id": user, "username": u.Name, "name": u.Name, "team_id": TeamID},
		"channel":   map[string]any{"id": channel, "name": f.chanNames[channel]},
		"container": container, "message": msg, "actions": []any{action},
		"trigger_id": "trig." + f.nextTS(), "response_url": f.url + "/response/" + rid, "api_app_id": "AFAKE",
	}
	f.mu.Unlock()
	raw, _ := json.Marshal(payload)
	f.deliver("interactive", raw)
	return nil
}

// Slash runs slash command (with its leading "/") as user in channel.
func (f *Fake) Slash(user, channel, command, text string) {
	f.mu.Lock()
	u := f.users[user]
	rid := f.responseURL(channel, user, "")
	payload := map[string]string{
		"token": "deprecated", "team_id": TeamID, "channel_id": channel, "channel_name": f.chanNames[channel],
		"user_id": user, "user_name": u.Name, "command": command, "text": text,
		"response_url": f.url + "/response/" + rid, "trigger_id": "trig." + f.nextTS(), "api_app_id": "AFAKE",
	}
	f.mu.Unlock()
	raw, _ := json.Marshal(payload)
	f.deliver("slash_commands", raw)
}

func (f *Fake) responseURL(channel, user, threadTS string) string {
	f.seq++
	id := "r" + strconv.Itoa(f.seq)
	f.responses[id] = responseURL{channel: channel, user: user, threadTS: threadTS}
	return id
}

func ptr[T any](v T) *T { return &v }

type blockElement struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Options  []struct {
		Value string `json:"value"`
	} `json:"options"`
}

// findAction finds the interactive element actionID in blocks.
func findAction(blocks json.RawMessage, actionID string) (blockElement, string, bool) {
	var bs []struct {
		Type      string         `json:"type"`
		BlockID   string         `json:"block_id"`
		Elements  []blockElement `json:"elements"`
		Accessory *blockElement  `json:"accessory"`
	}
	if json.Unmarshal(blocks, &bs) != nil {
		return blockElement{}, "", false
	}
	for _, b := range bs {
		els := b.Elements
		if b.Accessory != nil {
			els = append(els, *b.Accessory)
		}
		for _, e := range els {
			if e.ActionID == actionID {
				return e, b.BlockID, true
			}
		}
	}
	return blockElement{}, "", false
}

// messageEvent builds the Events API message event for m; f.mu held.
func (f *Fake) messageEvent(m *Message) map[string]any {
	ev := map[string]any{"type": "message", "channel": m.Channel, "user": m.User, "text": m.Text,
		"ts": m.TS, "event_ts": m.TS, "channel_type": "channel", "team": TeamID}
	if m.ThreadTS != "" {
		ev["thread_ts"] = m.ThreadTS
	}
	if m.BotID != "" {
		ev["bot_id"] = m.BotID
		ev["subtype"] = "bot_message"
		if m.Username != "" {
			ev["username"] = m.Username
		}
	}
	return ev
}

// deliverEvent wraps an inner event in an event_callback and delivers it.
func (f *Fake) deliverEvent(inner map[string]any) {
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("Ev%08d", f.seq)
	f.mu.Unlock()
	cb := map[string]any{"token": "deprecated", "team_id": TeamID, "api_app_id": "AFAKE", "type": "event_callback",
		"event_id": id, "event_time": f.opts.Now().Unix(), "event": inner}
	raw, _ := json.Marshal(cb)
	f.deliver("events_api", raw)
}

// deliver sends a payload over a socket, or to the HTTP target, or keeps
// it until one of them exists (Slack would retry; nothing is lost).
func (f *Fake) deliver(typ string, payload json.RawMessage) {
	f.mu.Lock()
	f.seq++
	env := envelope{ID: fmt.Sprintf("env-%d", f.seq), Type: typ, Payload: payload, Accepts: typ != "events_api"}
	f.pending = append(f.pending, env)
	f.mu.Unlock()
	f.flush()
}

// flush delivers pending envelopes where possible.
func (f *Fake) flush() {
	for {
		f.mu.Lock()
		if f.closed || len(f.pending) == 0 {
			f.mu.Unlock()
			return
		}
		target := f.target
		var sock *socketConn
		if target == "" {
			if len(f.socks) == 0 {
				f.mu.Unlock()
				return
			}
			sock = f.socks[0]
		}
		env := f.pending[0]
		f.pending = f.pending[1:]
		f.mu.Unlock()
		var err error
		if sock != nil {
			err = sock.write(env)
		} else {
			err = f.post(target, env)
		}
		f.mu.Lock()
		if err != nil {
			f.pending = append([]envelope{env}, f.pending...)
			f.feed.Emit(Event{Kind: "failure"})
			f.mu.Unlock()
			if sock != nil {
				_ = sock.ws.Close()
			}
			return
		}
		f.feed.Emit(Event{Kind: "delivery"})
		if sock != nil {
			frame, _ := json.Marshal(env)
			f.keepDelivery(Delivery{Frame: frame})
		}
		if sock != nil && f.opts.AckTimeout > 0 && env.Retry < 3 {
			time.AfterFunc(f.opts.AckTimeout, func() { f.redeliver(env) })
		}
		f.mu.Unlock()
	}
}

// redeliver puts an envelope back in line when it was not acknowledged.
func (f *Fake) redeliver(env envelope) {
	f.mu.Lock()
	_, acked := f.acks[env.ID]
	if acked || f.closed {
		f.mu.Unlock()
		return
	}
	env.Retry++
	f.redelivered++
	f.pending = append(f.pending, env)
	f.mu.Unlock()
	f.flush()
}

// post delivers one envelope over HTTP, signed, retrying events up to 3
// times as Slack does (X-Slack-Retry-Num).
func (f *Fake) post(target string, env envelope) error {
	var path, ctype string
	var body []byte
	switch env.Type {
	case "events_api":
		path, ctype, body = "/slack/events", "application/json", env.Payload
	case "slash_commands":
		var m map[string]string
		_ = json.Unmarshal(env.Payload, &m)
		v := url.Values{}
		for k, s := range m {
			v.Set(k, s)
		}
		path, ctype, body = "/slack/commands", "application/x-www-form-urlencoded", []byte(v.Encode())
	default:
		path, ctype, body = "/slack/interactive", "application/x-www-form-urlencoded",
			[]byte(url.Values{"payload": {string(env.Payload)}}.Encode())
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		ts := f.opts.Now().Unix()
		req, err := http.NewRequest(http.MethodPost, target+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", Sign(f.opts.SigningSecret, ts, body))
		if attempt > 0 {
			req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(attempt))
			req.Header.Set("X-Slack-Retry-Reason", "http_error")
		}
		resp, err := f.client.Do(req)
		f.mu.Lock()
		f.keepDelivery(Delivery{Path: path, ContentType: ctype, Body: body})
		f.mu.Unlock()
		if err == nil {
			rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				if env.Type == "slash_commands" && len(bytes.TrimSpace(rb)) > 0 {
					f.recordResponse(env.Payload, rb)
				}
				return nil
			}
			lastErr = fmt.Errorf("slackfake: %s answered %d", path, resp.StatusCode)
		} else {
			lastErr = err
		}
		if env.Type != "events_api" {
			return nil // commands and actions are not retried; the user sees an error
		}
		select {
		case <-f.stop:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	return lastErr
}

// recordResponse records an immediate slash command answer as an ephemeral
// (or channel message, for response_type in_channel).
func (f *Fake) recordResponse(cmdPayload, answer []byte) {
	var cmd struct {
		Channel string `json:"channel_id"`
		User    string `json:"user_id"`
	}
	_ = json.Unmarshal(cmdPayload, &cmd)
	var a struct {
		Text         string          `json:"text"`
		ResponseType string          `json:"response_type"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(answer, &a) != nil || (a.Text == "" && a.Blocks == nil) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.ResponseType == "in_channel" {
		m := &Message{Channel: cmd.Channel, TS: f.nextTS(), User: BotUserID, BotID: BotID, Text: a.Text, Blocks: a.Blocks}
		f.channels[cmd.Channel] = append(f.channels[cmd.Channel], m)
		f.feed.Emit(Event{Kind: "message", Channel: cmd.Channel, TS: m.TS, Message: ptr(copyMsg(m))})
		return
	}
	e := Ephemeral{Channel: cmd.Channel, User: cmd.User, Text: a.Text, Blocks: a.Blocks}
	f.ephs = append(f.ephs, e)
	f.feed.Emit(Event{Kind: "ephemeral", Channel: cmd.Channel, Eph: &e})
}

// ---- Socket Mode ----

func (f *Fake) socket(w http.ResponseWriter, r *http.Request) {
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = ws.Close()
		return
	}
	f.connects++
	c := &socketConn{id: f.connects, ws: ws, done: make(chan struct{})}
	f.socks = append(f.socks, c)
	f.wg.Add(1)
	f.mu.Unlock()
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		f.socks = slices.DeleteFunc(f.socks, func(s *socketConn) bool { return s == c })
		f.mu.Unlock()
		close(c.done)
		_ = ws.Close()
	}()
	if c.write(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info": map[string]any{"host": "fake", "approximate_connection_time": 3600}}) != nil {
		return
	}
	// Pings, bounded by the connection's life.
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(f.opts.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-f.stop:
				return
			case <-t.C:
				c.wmu.Lock()
				err := ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				c.wmu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	go f.flush()
	ws.SetReadLimit(1 << 20)
	for {
		var ack struct {
			ID      string          `json:"envelope_id"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := ws.ReadJSON(&ack); err != nil {
			return
		}
		f.mu.Lock()
		f.acks[ack.ID] = ack.Payload
		f.mu.Unlock()
	}
}

// Delivery is one envelope as the app received it: a Socket Mode frame,
// or an HTTP request's path, content type and (signed) body.
type Delivery struct {
	Frame       []byte // Socket Mode: the whole text frame
	Path        string // HTTP: /slack/events, /slack/commands or /slack/interactive
	ContentType string
	Body        []byte
}

// maxDelivered bounds the deliveries Delivered keeps.
const maxDelivered = 256

// keepDelivery remembers d; f.mu held.
func (f *Fake) keepDelivery(d Delivery) {
	f.delivered = append(f.delivered, d)
	if len(f.delivered) > maxDelivered {
		f.delivered = f.delivered[len(f.delivered)-maxDelivered:]
	}
}

// Delivered returns the latest deliveries (up to 256), oldest first, as the
// app received them: real captured envelopes, for fuzz seeds and tests.
func (f *Fake) Delivered() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.delivered...)
}

// SendRaw writes frame, as it is, as one text frame on the first Socket
// Mode connection: for fuzzing what the app makes of any envelope. Unlike
// deliveries it is neither kept nor redelivered. It fails when no socket
// is connected.
func (f *Fake) SendRaw(frame []byte) error {
	f.mu.Lock()
	if len(f.socks) == 0 {
		f.mu.Unlock()
		return errors.New("slackfake: no Socket Mode connection")
	}
	c := f.socks[0]
	f.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// Acked reports whether the app acknowledged envelope id.
func (f *Fake) Acked(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.acks[id]
	return ok
}

// Redelivered returns how many Socket Mode envelopes were sent again for
// want of a timely ack (Options.AckTimeout).
func (f *Fake) Redelivered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redelivered
}

// Acks returns how many envelopes were acknowledged.
func (f *Fake) Acks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acks)
}

// ---- response_url ----

func (f *Fake) response(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ru, ok := f.responses[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		http.Error(w, "no such response_url", http.StatusNotFound)
		return
	}
	var a struct {
		Text         string          `json:"text"`
		ResponseType string          `json:"response_type"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&a); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	e := Ephemeral{Channel: ru.channel, User: ru.user, ThreadTS: ru.threadTS, Text: a.Text, Blocks: a.Blocks}
	f.ephs = append(f.ephs, e)
	f.feed.Emit(Event{Kind: "ephemeral", Channel: ru.channel, Eph: &e})
	f.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// ---- Web API ----

type apiError struct{ code string }

func (f *Fake) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	args := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &args)
	} else {
		v, _ := url.ParseQuery(string(body))
		for k := range v {
			args[k] = v.Get(k)
		}
		for k := range r.URL.Query() {
			args[k] = r.URL.Query().Get(k)
		}
	}
	token, _ := args["token"].(string)
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}

	f.mu.Lock()
	f.calls[method]++
	write := strings.HasPrefix(method, "chat.") || strings.HasPrefix(method, "reactions.")
	var fail *failure
	if write {
		if fl, ok := f.fails.Take(); ok {
			fail = &fl
		}
	}
	f.mu.Unlock()
	if !f.latency.Wait(r.Context(), nil) {
		return
	}
	if fail != nil {
		f.mu.Lock()
		f.feed.Emit(Event{Kind: "failure"})
		f.mu.Unlock()
		if fail.status == http.StatusTooManyRequests {
			retryAfter(w, fail.wait)
			return
		}
		http.Error(w, "injected failure", fail.status)
		return
	}
	f.mu.Lock()
	want := f.opts.BotToken
	if method == "apps.connections.open" {
		want = f.opts.AppToken
	}
	f.mu.Unlock()
	if token != want {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	res, aerr, wait, echo := f.call(method, args)
	if echo != nil {
		defer f.deliverEvent(echo) // Slack echoes the bot's own messages too
	}
	if !f.holds.Wait(r.Context(), f.stop, method) {
		return
	}
	if wait > 0 {
		retryAfter(w, wait)
		return
	}
	if aerr != nil {
		writeJSON(w, map[string]any{"ok": false, "error": aerr.code})
		return
	}
	res["ok"] = true
	writeJSON(w, res)
}

func retryAfter(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func str(args map[string]any, k string) string {
	switch v := args[k].(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// blocksArg returns the blocks argument as raw JSON (form posts carry it as
// a JSON string), validating Slack's limits.
func blocksArg(args map[string]any) (json.RawMessage, *apiError) {
	s := str(args, "blocks")
	if s == "" || s == "null" {
		return nil, nil
	}
	var bs []map[string]any
	if err := json.Unmarshal([]byte(s), &bs); err != nil {
		return nil, &apiError{"invalid_blocks_format"}
	}
	if len(bs) > 50 {
		return nil, &apiError{"invalid_blocks"}
	}
	for _, b := range bs {
		if t, ok := b["text"].(map[string]any); ok {
			if txt, _ := t["text"].(string); len([]rune(txt)) > 3000 {
				return nil, &apiError{"invalid_blocks"}
			}
		}
		if b["type"] == "header" {
			if t, ok := b["text"].(map[string]any); ok {
				if txt, _ := t["text"].(string); len([]rune(txt)) > 150 {
					return nil, &apiError{"invalid_blocks"}
				}
			}
		}
		if els, ok := b["elements"].([]any); ok && len(els) > 25 {
			return nil, &apiError{"invalid_blocks"}
		}
		if fs, ok := b["fields"].([]any); ok && len(fs) > 10 {
			return nil, &apiError{"invalid_blocks"}
		}
	}
	return json.RawMessage(s), nil
}

// metadataArg reads chat.postMessage's metadata: a JSON object with an
// event_type and an event_payload object, as Slack requires.
func metadataArg(args map[string]any) (json.RawMessage, *apiError) {
	s := str(args, "metadata")
	if s == "" || s == "null" {
		return nil, nil
	}
	var md struct {
		EventType    string         `json:"event_type"`
		EventPayload map[string]any `json:"event_payload"`
	}
	if json.Unmarshal([]byte(s), &md) != nil || md.EventType == "" || md.EventPayload == nil {
		return nil, &apiError{"invalid_metadata_format"}
	}
	return json.RawMessage(s), nil
}

// history answers conversations.history: the channel's top-level
// messages, newest first, between oldest and latest (exclusive unless
// inclusive), limit per page (default 100, at most 999), the next page by
// cursor; f.mu held.
func (f *Fake) history(args map[string]any) (map[string]any, *apiError, time.Duration, map[string]any) {
	ch := str(args, "channel")
	msgs, ok := f.channels[ch]
	if !ok {
		return nil, &apiError{"channel_not_found"}, 0, nil
	}
	limit, _ := strconv.Atoi(str(args, "limit"))
	if limit <= 0 || limit > 999 {
		limit = 100
	}
	inclusive := str(args, "inclusive") == "1" || str(args, "inclusive") == "true"
	oldest, latest := str(args, "oldest"), str(args, "latest")
	withMeta := str(args, "include_all_metadata") == "1" || str(args, "include_all_metadata") == "true"
	skip := 0
	if c := str(args, "cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "page:"))
		if err != nil || n < 0 {
			return nil, &apiError{"invalid_cursor"}, 0, nil
		}
		skip = n
	}
	after := func(ts, bound string, orEqual bool) bool {
		a, _ := strconv.ParseFloat(ts, 64)
		b, _ := strconv.ParseFloat(bound, 64)
		return a > b || orEqual && a == b
	}
	var all []*Message
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Deleted || (m.ThreadTS != "" && m.ThreadTS != m.TS) {
			continue
		}
		if oldest != "" && !after(m.TS, oldest, inclusive) || latest != "" && !after(latest, m.TS, inclusive) {
			continue
		}
		all = append(all, m)
	}
	out := []map[string]any{}
	for _, m := range all[min(skip, len(all)):min(skip+limit, len(all))] {
		o := map[string]any{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS}
		if m.BotID != "" {
			o["bot_id"] = m.BotID
		}
		if m.ThreadTS != "" {
			o["thread_ts"] = m.ThreadTS
		}
		if withMeta && m.Metadata != nil {
			o["metadata"] = m.Metadata
		}
		out = append(out, o)
	}
	res := map[string]any{"messages": out, "has_more": skip+limit < len(all)}
	if skip+limit < len(all) {
		res["response_metadata"] = map[string]any{"next_cursor": "page:" + strconv.Itoa(skip+limit)}
	}
	return res, nil, 0, nil
}

// call runs one Web API method under f.mu; wait > 0 means rate limited.
func (f *Fake) call(method string, args map[string]any) (res map[string]any, aerr *apiError, wait time.Duration, echo map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.methRate[method]; b != nil {
		if ok, wait := b.take(f.opts.Now()); !ok {
			f.limited++
			f.feed.Emit(Event{Kind: "rate_limited"})
			return nil, nil, wait, nil
		}
	}
	switch method {
	case "auth.test":
		return map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "earshot",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}, nil, 0, nil
	case "apps.connections.open":
		return map[string]any{"url": "ws" + strings.TrimPrefix(f.url, "http") + "/socket"}, nil, 0, nil
	case "chat.postMessage":
		ch := str(args, "channel")
		if ch == "" {
			return nil, &apiError{"channel_not_found"}, 0, nil
		}
		if f.outside[ch] {
			return nil, &apiError{"not_in_channel"}, 0, nil
		}
		now := f.opts.Now()
		b := f.chanRate[ch]
		if b == nil {
			b = &bucket{rate: f.postRate, burst: f.postBurst}
			f.chanRate[ch] = b
		}
		if ok, wait := b.take(now); !ok {
			f.limited++
			f.feed.Emit(Event{Kind: "rate_limited", Channel: ch})
			return nil, nil, wait, nil
		}
		if ok, wait := f.workspace.take(now); !ok {
			b.tokens++ // give the channel's token back
			f.limited++
			f.feed.Emit(Event{Kind: "rate_limited", Channel: ch})
			return nil, nil, wait, nil
		}
		blocks, aerr := blocksArg(args)
		if aerr != nil {
			return nil, aerr, 0, nil
		}
		text := str(args, "text")
		if text == "" && blocks == nil {
			return nil, &apiError{"no_text"}, 0, nil
		}
		if len([]rune(text)) > 40000 {
			return nil, &apiError{"msg_too_long"}, 0, nil
		}
		thread := str(args, "thread_ts")
		if thread != "" {
			root := f.find(ch, thread)
			if root == nil || root.Deleted {
				return nil, &apiError{"thread_not_found"}, 0, nil
			}
			if root.ThreadTS == "" {
				root.ThreadTS = root.TS
			}
		}
		meta, aerr := metadataArg(args)
		if aerr != nil {
			return nil, aerr, 0, nil
		}
		m := &Message{Channel: ch, TS: f.nextTS(), ThreadTS: thread, User: BotUserID, BotID: BotID, Text: text, Blocks: blocks, Metadata: meta}
		if f.opts.Customize {
			m.Username, m.IconURL = str(args, "username"), str(args, "icon_url")
		}
		f.channels[ch] = append(f.channels[ch], m)
		f.feed.Emit(Event{Kind: "message", Channel: ch, TS: m.TS, Message: ptr(copyMsg(m))})
		return map[string]any{"channel": ch, "ts": m.TS, "message": map[string]any{"text": text, "ts": m.TS, "bot_id": BotID}}, nil, 0, f.messageEvent(m)
	case "chat.update":
		ch, ts := str(args, "channel"), str(args, "ts")
		m := f.find(ch, ts)
		if m == nil || m.Deleted {
			return nil, &apiError{"message_not_found"}, 0, nil
		}
		if m.BotID != BotID {
			return nil, &apiError{"cant_update_message"}, 0, nil
		}
		blocks, aerr := blocksArg(args)
		if aerr != nil {
			return nil, aerr, 0, nil
		}
		if t := str(args, "text"); t != "" {
			m.Text = t
		}
		if blocks != nil {
			m.Blocks = blocks
		}
		m.Edited = true
		f.feed.Emit(Event{Kind: "update", Channel: ch, TS: ts, Message: ptr(copyMsg(m))})
		return map[string]any{"channel": ch, "ts": ts, "text": m.Text}, nil, 0, nil
	case "chat.delete":
		ch, ts := str(args, "channel"), str(args, "ts")
		m := f.find(ch, ts)
		if m == nil || m.Deleted {
			return nil, &apiError{"message_not_found"}, 0, nil
		}
		if m.BotID != BotID {
			return nil, &apiError{"cant_delete_message"}, 0, nil
		}
		m.Deleted = true
		f.feed.Emit(Event{Kind: "delete", Channel: ch, TS: ts})
		return map[string]any{"channel": ch, "ts": ts}, nil, 0, nil
	case "chat.postEphemeral":
		ch, user := str(args, "channel"), str(args, "user")
		if _, ok := f.users[user]; !ok {
			return nil, &apiError{"user_not_in_channel"}, 0, nil
		}
		blocks, aerr := blocksArg(args)
		if aerr != nil {
			return nil, aerr, 0, nil
		}
		e := Ephemeral{Channel: ch, ThreadTS: str(args, "thread_ts"), User: user, Text: str(args, "text"), Blocks: blocks}
		f.ephs = append(f.ephs, e)
		f.feed.Emit(Event{Kind: "ephemeral", Channel: ch, Eph: &e})
		return map[string]any{"message_ts": f.nextTS()}, nil, 0, nil
	case "reactions.add", "reactions.remove":
		ch, ts, name := str(args, "channel"), str(args, "timestamp"), str(args, "name")
		m := f.find(ch, ts)
		if m == nil || m.Deleted {
			return nil, &apiError{"message_not_found"}, 0, nil
		}
		i := slices.IndexFunc(m.Reactions, func(r Reaction) bool { return r.Name == name })
		if method == "reactions.add" {
			if i >= 0 && slices.Contains(m.Reactions[i].Users, BotUserID) {
				return nil, &apiError{"already_reacted"}, 0, nil
			}
			if i < 0 {
				m.Reactions = append(m.Reactions, Reaction{Name: name})
				i = len(m.Reactions) - 1
			}
			m.Reactions[i].Users = append(m.Reactions[i].Users, BotUserID)
		} else {
			if i < 0 || !slices.Contains(m.Reactions[i].Users, BotUserID) {
				return nil, &apiError{"no_reaction"}, 0, nil
			}
			m.Reactions[i].Users = slices.DeleteFunc(m.Reactions[i].Users, func(u string) bool { return u == BotUserID })
			if len(m.Reactions[i].Users) == 0 {
				m.Reactions = slices.Delete(m.Reactions, i, i+1)
			}
		}
		f.feed.Emit(Event{Kind: "reaction", Channel: ch, TS: ts, Message: ptr(copyMsg(m))})
		return map[string]any{}, nil, 0, nil
	case "reactions.get":
		ch, ts := str(args, "channel"), str(args, "timestamp")
		m := f.find(ch, ts)
		if m == nil || m.Deleted {
			return nil, &apiError{"message_not_found"}, 0, nil
		}
		var rs []map[string]any
		for _, r := range m.Reactions {
			rs = append(rs, map[string]any{"name": r.Name, "count": len(r.Users), "users": slices.Clone(r.Users)})
		}
		return map[string]any{"type": "message", "channel": ch, "message": map[string]any{"type": "message",
			"ts": m.TS, "text": m.Text, "user": m.User, "reactions": rs}}, nil, 0, nil
	case "users.info":
		u, ok := f.users[str(args, "user")]
		if !ok {
			return nil, &apiError{"user_not_found"}, 0, nil
		}
		return map[string]any{"user": map[string]any{"id": u.ID, "name": u.Name, "real_name": u.DisplayName,
			"team_id": TeamID, "is_bot": u.ID == BotUserID,
			"profile": map[string]any{"display_name": u.DisplayName, "real_name": u.DisplayName}}}, nil, 0, nil
	case "usergroups.users.list":
		members, ok := f.groups[str(args, "usergroup")]
		if !ok {
			return nil, &apiError{"no_such_subteam"}, 0, nil
		}
		return map[string]any{"users": slices.Clone(members)}, nil, 0, nil
	case "usergroups.list":
		var gs []map[string]any
		ids := make([]string, 0, len(f.groups))
		for id := range f.groups {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			g := map[string]any{"id": id, "handle": f.groupName[id], "name": f.groupName[id], "team_id": TeamID}
			if str(args, "include_users") == "true" {
				g["users"] = slices.Clone(f.groups[id])
			}
			gs = append(gs, g)
		}
		return map[string]any{"usergroups": gs}, nil, 0, nil
	case "conversations.info":
		ch := str(args, "channel")
		name, known := f.chanNames[ch]
		if !known {
			return nil, &apiError{"channel_not_found"}, 0, nil
		}
		return map[string]any{"channel": map[string]any{"id": ch, "name": name, "is_channel": true,
			"is_member": !f.outside[ch], "is_archived": false, "is_private": false}}, nil, 0, nil
	case "conversations.history":
		return f.history(args)
	case "conversations.replies":
		ch, ts := str(args, "channel"), str(args, "ts")
		if f.find(ch, ts) == nil {
			return nil, &apiError{"thread_not_found"}, 0, nil
		}
		var out []map[string]any
		for _, m := range f.thread(ch, ts) {
			o := map[string]any{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS, "thread_ts": m.ThreadTS}
			if m.BotID != "" {
				o["bot_id"] = m.BotID
			}
			out = append(out, o)
		}
		return map[string]any{"messages": out, "has_more": false}, nil, 0, nil
	}
	return nil, &apiError{"unknown_method"}, 0, nil
}
