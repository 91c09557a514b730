package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/pace"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// Listen delivers staff thread messages and commands into in until ctx
// ends. In socket mode it holds the Socket Mode connection (reconnecting by
// itself); in http mode it makes the routes deliver into in. It blocks and
// returns nil when ctx ends, after the handlers it started have finished.
func (d *Desk) Listen(ctx context.Context, in bridge.Inbox) error {
	d.mu.Lock()
	if d.listened {
		d.mu.Unlock()
		return errors.New("slack: Listen is already running")
	}
	d.listened = true
	d.inbox = in
	d.listenCtx = ctx
	d.mu.Unlock()
	d.replays.Open(d.now())
	defer func() {
		d.mu.Lock()
		d.inbox = nil
		d.listenCtx = nil
		d.listened = false // no spawn adds work after this
		d.mu.Unlock()
		d.work.Wait()
	}()
	// Learn our own user id first, so our echoes are recognised.
	bo := backoff.New(d.backoff)
	if bo.Until(ctx, func(ctx context.Context) error { _, err := d.botUserID(ctx); return err }, retryAfter,
		func(err error, wait time.Duration) {
			d.health.Report(Name, bridge.HealthDown, "auth.test: "+err.Error())
			d.log.Warn(msgAuthRetry, "err", err, "in", wait)
		}) != nil {
		return nil
	}
	if d.cfg.Mode == "http" {
		d.setConnected(true)
		d.health.Report(Name, bridge.HealthUp, "")
		defer d.setConnected(false)
		<-ctx.Done()
		return nil
	}
	return d.socket(ctx, in)
}

// Log messages of the retries, for operators and tests.
const (
	msgAuthRetry   = "slack: auth.test failed; retrying"
	msgSocketRetry = "slack: socket mode stopped; reconnecting"
)

// retryAfter is the wait Slack asked for in a 429 answer, or 0.
func retryAfter(err error) time.Duration {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	return 0
}

// Listening reports whether events can reach the desk now: the Socket
// Mode connection said hello, or (http mode) Listen runs so the routes
// deliver. For health checks and tests.
func (d *Desk) Listening() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected && d.listened
}

func (d *Desk) setConnected(v bool) {
	d.mu.Lock()
	switch now := d.now(); {
	case v && !d.connected:
		d.upSince = now
	case !v && d.connected:
		d.lastUp = now.Sub(d.upSince)
	}
	d.connected = v
	d.mu.Unlock()
}

// takeUpTime is how long the last socket connection stayed up (or the
// current one has been), once: for the backoff, which starts again from
// its minimum after a healthy connection.
func (d *Desk) takeUpTime() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	up := d.lastUp
	if d.connected {
		up = d.now().Sub(d.upSince)
	}
	d.lastUp = 0
	return up
}

// errText is err's message for a health report: no URL (a socket URL
// carries a ticket).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + ue.Err.Error()
	}
	return err.Error()
}

// socket runs Socket Mode until ctx ends.
func (d *Desk) socket(ctx context.Context, in bridge.Inbox) error {
	sm := socketmode.New(d.api, socketmode.OptionPingInterval(d.cfg.PingInterval))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// slack-go reconnects by itself after drops and transient dial
		// failures; RunContext returns when it gives up (a refused app
		// token, Socket Mode off): try again, backing off.
		bo := backoff.New(d.backoff)
		for ctx.Err() == nil {
			err := sm.RunContext(ctx)
			if ctx.Err() != nil {
				break
			}
			bo.Done(d.takeUpTime())
			wait := bo.Next(retryAfter(err))
			d.health.Report(Name, bridge.HealthDown, "socket mode: "+errText(err))
			d.log.Warn(msgSocketRetry, "err", err, "in", wait)
			if pace.Sleep(ctx, wait) != nil {
				break
			}
		}
		done <- nil
	}()
	for {
		select {
		case <-ctx.Done():
			cancel()
			d.setConnected(false)
			// Drain until the client stops, so it never blocks on Events.
			for {
				select {
				case <-done:
					return nil
				case <-sm.Events:
				}
			}
		case ev := <-sm.Events:
			switch ev.Type {
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
				if ev.Request == nil {
					continue
				}
				// Ack first (within 3 s), work after.
				if err := sm.AckCtx(ctx, ev.Request.EnvelopeID, nil); err != nil && ctx.Err() == nil {
					d.log.Warn("slack: ack failed", "err", err)
				}
				payload := ev.Request.Payload
				switch ev.Type {
				case socketmode.EventTypeEventsAPI:
					var cb eventCallback
					if json.Unmarshal(payload, &cb) == nil && cb.EventID != "" && d.seenEvent(cb.EventID) {
						continue
					}
					d.dispatchEvent(ctx, in, payload)
				case socketmode.EventTypeSlashCommand:
					var cmd slack.SlashCommand
					if err := json.Unmarshal(payload, &cmd); err != nil {
						d.log.Warn("slack: bad slash command payload", "err", err)
						continue
					}
					if d.redelivered(cmd.TriggerID, ev.Request.EnvelopeID) {
						continue
					}
					d.spawn(ctx, func(ctx context.Context) { d.handleSlash(ctx, in, cmd) })
				case socketmode.EventTypeInteractive:
					var cb slack.InteractionCallback
					if err := json.Unmarshal(payload, &cb); err != nil {
						d.log.Warn("slack: bad interaction payload", "err", err)
						continue
					}
					if d.redelivered(cb.TriggerID, ev.Request.EnvelopeID) {
						continue
					}
					d.spawn(ctx, func(ctx context.Context) { d.handleInteraction(ctx, in, cb) })
				}
			case socketmode.EventTypeHello:
				d.setConnected(true)
				d.health.Report(Name, bridge.HealthUp, "")
			case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
				// Slack renews socket connections now and then: not an
				// error unless the new one fails (below).
				d.setConnected(false)
			case socketmode.EventTypeConnectionError:
				d.setConnected(false)
				reason := "socket mode: cannot connect"
				if ce, ok := ev.Data.(*slack.ConnectionErrorEvent); ok && ce.ErrorObj != nil {
					reason += ": " + errText(ce.ErrorObj)
				}
				d.health.Report(Name, bridge.HealthDown, reason)
				d.log.Warn("slack: socket mode connection problem", "type", string(ev.Type), "reason", reason)
			case socketmode.EventTypeInvalidAuth:
				d.setConnected(false)
				d.health.Report(Name, bridge.HealthDown, "socket mode: Slack refused the app token (invalid_auth)")
				d.log.Warn("slack: socket mode connection problem", "type", string(ev.Type))
			}
		}
	}
}

// redelivered reports whether a Socket Mode command or button press was
// taken before: Slack sends an envelope again when it missed our ack, and
// a command must not run twice. Known by Slack's trigger_id (unique to one
// press or command), else by the envelope id.
func (d *Desk) redelivered(triggerID, envelopeID string) bool {
	key := "trigger:" + triggerID
	if triggerID == "" {
		key = "envelope:" + envelopeID
	}
	now := d.now()
	t, v := d.replays.Claim(key, now, now)
	if v != replay.First {
		d.log.Info("slack: a command or button press came again; not run twice")
		return true
	}
	t.Done(replay.Answer{})
	return false
}

// spawn runs fn after an ack, bounded to 16 at a time; Listen waits for it.
func (d *Desk) spawn(ctx context.Context, fn func(ctx context.Context)) {
	d.mu.Lock()
	if !d.listened {
		d.mu.Unlock()
		return
	}
	d.work.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.work.Done()
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-d.sem }()
		fn(context.WithoutCancel(ctx))
	}()
}

// handlerTimeout bounds the work done for one event after its ack.
const handlerTimeout = 30 * time.Second

// msgEvent is the part of an Events API message event we read.
type msgEvent struct {
	Type      string    `json:"type"`
	Subtype   string    `json:"subtype"`
	Channel   string    `json:"channel"`
	User      string    `json:"user"`
	BotID     string    `json:"bot_id"`
	Text      string    `json:"text"`
	TS        string    `json:"ts"`
	ThreadTS  string    `json:"thread_ts"`
	DeletedTS string    `json:"deleted_ts"`
	Message   *innerMsg `json:"message"`
	Previous  *innerMsg `json:"previous_message"`
}

type innerMsg struct {
	User     string `json:"user"`
	BotID    string `json:"bot_id"`
	Text     string `json:"text"`
	TS       string `json:"ts"`
	ThreadTS string `json:"thread_ts"`
}

// eventCallback is the Events API envelope.
type eventCallback struct {
	Type      string          `json:"type"`
	EventID   string          `json:"event_id"`
	Challenge string          `json:"challenge"`
	Event     json.RawMessage `json:"event"`
}

// ParseStaffMessage turns an Events API event_callback payload into a staff
// message, or ok=false when it is none of ours to hand over (not a thread
// reply, written by a bot or by us, another event type). Its text is read
// as ReadText reads it (mention names from the tokens' labels). Pure.
func ParseStaffMessage(payload []byte, botUser string) (m bridge.StaffMessage, user string, ok bool) {
	m, user, raw, ok := parseStaffEvent(payload, botUser)
	if ok {
		m.Text, m.Mentions = ReadText(raw)
	}
	return m, user, ok
}

// parseStaffEvent is ParseStaffMessage with the text left as Slack sent it.
func parseStaffEvent(payload []byte, botUser string) (m bridge.StaffMessage, user, raw string, ok bool) {
	var cb eventCallback
	if json.Unmarshal(payload, &cb) != nil || cb.Type != "event_callback" {
		return m, "", "", false
	}
	var ev msgEvent
	if json.Unmarshal(cb.Event, &ev) != nil || ev.Type != "message" || ev.Channel == "" {
		return m, "", "", false
	}
	isOurs := func(user, bot string) bool { return bot != "" || user == "" || user == botUser }
	var ts, thread, text string
	switch ev.Subtype {
	case "", "thread_broadcast", "file_share":
		if isOurs(ev.User, ev.BotID) {
			return m, "", "", false
		}
		m.Kind, user, ts, thread, text = bridge.MessageNew, ev.User, ev.TS, ev.ThreadTS, ev.Text
	case "message_changed":
		if ev.Message == nil || isOurs(ev.Message.User, ev.Message.BotID) {
			return m, "", "", false
		}
		if ev.Previous != nil && ev.Previous.Text == ev.Message.Text {
			return m, "", "", false // an unfurl or a reply count changed, not the text
		}
		m.Kind, user, ts, thread, text = bridge.MessageEdited, ev.Message.User, ev.Message.TS, ev.Message.ThreadTS, ev.Message.Text
	case "message_deleted":
		if ev.Previous == nil || isOurs(ev.Previous.User, ev.Previous.BotID) {
			return m, "", "", false
		}
		ts = ev.DeletedTS
		if ts == "" {
			ts = ev.Previous.TS
		}
		m.Kind, user, thread, text = bridge.MessageDeleted, ev.Previous.User, ev.Previous.ThreadTS, ""
	default:
		return m, "", "", false
	}
	if thread == "" || thread == ts || ts == "" {
		return m, "", "", false // not a reply in a thread
	}
	m.Thread = bridge.ThreadRef{Desk: Name, Channel: ev.Channel, ID: thread}
	m.Message = bridge.MessageRef{Desk: Name, Channel: ev.Channel, Thread: thread, ID: ts, Author: user}
	m.At = tsTime(ts)
	return m, user, text, true
}

// unescape undoes Slack's &amp; &lt; &gt; in message text.
func unescape(s string) string { return unescaper.Replace(s) }

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// tsTime reads a Slack ts ("1712345678.000200") as a time.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000).UTC()
}

// dispatchEvent hands a thread message over to the bridge after the ack.
// Messages of one thread are handed over one at a time in arrival order,
// so an edit or delete never overtakes the message it changes.
func (d *Desk) dispatchEvent(ctx context.Context, in bridge.Inbox, payload []byte) {
	d.mu.Lock()
	bot := d.botUser
	d.mu.Unlock()
	m, user, raw, ok := parseStaffEvent(payload, bot)
	if !ok {
		return
	}
	d.spawnOrdered(ctx, m.Thread.Channel+"/"+m.Thread.ID, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, handlerTimeout)
		defer cancel()
		if m.At.IsZero() {
			m.At = d.now()
		}
		m.Text, m.Mentions = d.readText(ctx, raw)
		m.Staff = d.people.staff(ctx, user)
		if err := in.StaffMessage(ctx, m); err != nil {
			d.log.Warn("slack: staff message not taken", "err", err)
		}
	})
}

// spawnOrdered runs fn after every earlier fn with the same key, each
// bounded like spawn; Listen waits for them.
func (d *Desk) spawnOrdered(ctx context.Context, key string, fn func(ctx context.Context)) {
	d.mu.Lock()
	if !d.listened {
		d.mu.Unlock()
		return
	}
	d.work.Add(1)
	q := d.ordered[key]
	d.ordered[key] = append(q, fn)
	start := len(q) == 0
	d.mu.Unlock()
	if !start {
		return
	}
	go func() {
		for {
			d.mu.Lock()
			q := d.ordered[key]
			if len(q) == 0 {
				delete(d.ordered, key)
				d.mu.Unlock()
				return
			}
			next := q[0]
			d.mu.Unlock()
			select {
			case d.sem <- struct{}{}:
				next(context.WithoutCancel(ctx))
				<-d.sem
			case <-ctx.Done():
			}
			d.mu.Lock()
			d.ordered[key] = d.ordered[key][1:]
			d.mu.Unlock()
			d.work.Done()
		}
	}()
}

// seenEvent records event id and reports whether it was seen before (the
// Events API retries; Socket Mode may redeliver). Keeps an hour of ids.
func (d *Desk) seenEvent(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if _, ok := d.seen[id]; ok {
		return true
	}
	if len(d.seen) > 10000 {
		for k, at := range d.seen {
			if now.Sub(at) > time.Hour {
				delete(d.seen, k)
			}
		}
	}
	d.seen[id] = now
	return false
}

// ParseSlash turns a slash command into the verb, args and raw text:
// "/escalate E-42 billing" → escalate [E-42 billing]; "/earshot claim E-42"
// → claim [E-42]; "/earshot" alone → help. The text is read as ReadText
// reads it. Pure.
func ParseSlash(command, text string) (name string, args []string, raw string) {
	plain, _ := ReadText(text)
	return parseSlashPlain(command, plain)
}

// parseSlashPlain is ParseSlash for text already read.
func parseSlashPlain(command, plain string) (name string, args []string, raw string) {
	name = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(command), "/"))
	raw = strings.TrimSpace(plain)
	if name == "earshot" {
		if raw == "" {
			return "help", nil, ""
		}
		verb, rest := raw, ""
		if i := strings.IndexFunc(raw, unicode.IsSpace); i >= 0 {
			verb, rest = raw[:i], raw[i:]
		}
		name, raw = strings.ToLower(verb), strings.TrimSpace(rest)
	}
	return name, splitArgs(raw), raw
}

// splitArgs splits command text the way the command registry does (it is
// the authority and re-splits Raw); text it cannot read (an unclosed
// quote) is split on whitespace.
func splitArgs(raw string) []string {
	args, err := commands.Split(raw)
	if err != nil {
		return strings.Fields(raw)
	}
	return args
}

// handleSlash runs a channel slash command and answers privately (or in
// the channel for a public response).
func (d *Desk) handleSlash(ctx context.Context, in bridge.Inbox, cmd slack.SlashCommand) {
	ctx, cancel := context.WithTimeout(ctx, handlerTimeout)
	defer cancel()
	plain, mentions := d.readText(ctx, cmd.Text)
	name, args, raw := parseSlashPlain(cmd.Command, plain)
	inv := bridge.Invocation{Desk: Name, Source: bridge.SourceSlash, Staff: d.people.staff(ctx, cmd.UserID),
		Channel: cmd.ChannelID, Name: name, Args: args, Raw: raw, Mentions: mentions}
	// A command's answer is a staff action's: it goes first (bridge.Urgent).
	d.respond(bridge.WithUrgent(ctx), cmd.ChannelID, "", cmd.UserID, cmd.ResponseURL, in.Command(ctx, inv))
}

// respond shows a command's answer: privately, or in the thread/channel.
// A private answer goes by chat.postEphemeral (in the thread when there is
// one); if that fails (the bot is not in the channel) it goes to the
// command's response_url instead.
func (d *Desk) respond(ctx context.Context, channel, threadTS, user, responseURL string, r bridge.Response) {
	if r.Text == "" {
		return
	}
	var err error
	if r.Private || !r.OK {
		err = d.ephemeral(ctx, channel, threadTS, user, r.Text, nil)
		if err != nil && d.responseURLOK(responseURL) {
			start := time.Now()
			err = slack.PostWebhookContext(ctx, responseURL, &slack.WebhookMessage{
				Text: escape(cut(r.Text, maxFallback)), ResponseType: "ephemeral"})
			d.observe("response_url", start, err)
		}
	} else {
		opts := []slack.MsgOption{slack.MsgOptionText(escape(cut(r.Text, maxMessageText)), false)}
		if threadTS != "" {
			opts = append(opts, slack.MsgOptionTS(threadTS))
		}
		_, err = d.post(ctx, channel, d.priority(threadTS), opts...)
	}
	if err != nil {
		d.log.Warn("slack: command answer not shown", "err", err)
	}
}

// responseURLOK accepts only Slack's own response URLs (or the configured
// API host, for the fake), so a forged payload cannot make us post elsewhere.
func (d *Desk) responseURLOK(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return false
	}
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || strings.HasSuffix(u.Host, ".slack.com")) {
		return true
	}
	if d.cfg.APIURL != "" {
		if api, err := url.Parse(d.cfg.APIURL); err == nil && api.Host == u.Host && api.Scheme == u.Scheme {
			return true
		}
	}
	return false
}

// handleInteraction turns a card or Retry button press into a command.
func (d *Desk) handleInteraction(ctx context.Context, in bridge.Inbox, cb slack.InteractionCallback) {
	ctx, cancel := context.WithTimeout(ctx, handlerTimeout)
	defer cancel()
	inv, ok := ParseInteraction(cb)
	if !ok {
		return
	}
	inv.Staff = d.people.staff(ctx, cb.User.ID)
	d.respond(bridge.WithUrgent(ctx), inv.Channel, inv.Thread.ID, cb.User.ID, cb.ResponseURL, in.Command(ctx, inv))
}

// ParseInteraction turns a block_actions payload into an Invocation (Staff
// left for the caller to fill), or ok=false when it is not one of our
// buttons. Pure.
func ParseInteraction(cb slack.InteractionCallback) (inv bridge.Invocation, ok bool) {
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return inv, false
	}
	a := cb.ActionCallback.BlockActions[0]
	verb, found := strings.CutPrefix(a.ActionID, actionPrefix)
	if !found || verb == "" {
		return inv, false
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	msgTS := cb.Container.MessageTs
	if msgTS == "" {
		msgTS = cb.Message.Timestamp
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Message.ThreadTimestamp
	}
	if thread == "" {
		thread = msgTS // the card is the thread's root
	}
	inv = bridge.Invocation{Desk: Name, Source: bridge.SourceButton, Channel: channel, Name: verb,
		Staff:  bridge.Staff{Desk: Name, ID: cb.User.ID, Name: cb.User.Name},
		Thread: bridge.ThreadRef{Desk: Name, Channel: channel, ID: thread}}
	switch verb {
	case "escalate":
		team := a.SelectedOption.Value
		if team == "" {
			team = a.Value
		}
		if team == "" {
			return inv, false
		}
		inv.Args = []string{team} // no Raw: a team name is one argument, spaces and all
	case "retry":
		var v retryValue
		if json.Unmarshal([]byte(a.Value), &v) != nil || v.Outbox == "" {
			return inv, false
		}
		inv.Args = []string{v.Outbox}
		inv.Message = bridge.MessageRef{Desk: Name, Channel: channel, Thread: thread, ID: v.Message, Author: v.Author}
	case "claim", "release", "resolve", "reopen", "dm":
	default:
		if parseIncidentAction(&inv, a.ActionID, a) { // incident.go
			return inv, true
		}
		return inv, false
	}
	return inv, true
}
