package discord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/pace"
)

// listen.go holds the gateway connection while Listen runs: Open (HELLO,
// IDENTIFY or RESUME, READY) bounded by the context and a timeout, then, when
// the connection goes (a read error, missed heartbeat ACKs, or Discord's op 7
// RECONNECT), Open again, which RESUMEs the session so that nothing said
// meanwhile is missed. discordgo's own reconnect loop is off: it cannot be
// stopped and would reconnect after Listen returned.

// openTimeout bounds one gateway Open.
const openTimeout = 30 * time.Second

// Listen delivers staff thread messages and commands into in until ctx
// ends. It blocks, reconnects by itself, and returns nil when ctx ends,
// after the handlers it started have finished.
func (d *Desk) Listen(ctx context.Context, in bridge.Inbox) error {
	d.mu.Lock()
	if d.listened {
		d.mu.Unlock()
		return errors.New("discord: Listen is already running")
	}
	d.listened, d.inbox, d.listenCtx = true, in, ctx
	d.mu.Unlock()
	d.replays.Open(d.now())
	defer func() {
		d.mu.Lock()
		d.listened, d.inbox, d.listenCtx, d.connected = false, nil, nil, false
		d.mu.Unlock()
		d.work.Wait()
	}()
	// Learn our own user id first, so our echoes are recognised.
	bo := backoff.New(d.backoff)
	if bo.Until(ctx, func(ctx context.Context) error { _, err := d.botUserID(ctx); return err }, rateLimitWait,
		func(err error, wait time.Duration) {
			d.health.Report(Name, bridge.HealthDown, err.Error())
			d.log.Warn(msgAuthRetry, "err", err, "in", wait)
		}) != nil {
		return nil
	}
	var upAt time.Time
	for {
		select { // a disconnect from before this Open is old news
		case <-d.lost:
		default:
		}
		err := d.open(ctx)
		if ctx.Err() != nil {
			d.closeGateway()
			return nil
		}
		if err == nil && !d.awaitSession(ctx) {
			if ctx.Err() != nil {
				d.closeGateway()
				return nil
			}
			d.closeGateway()
			err = errors.New("the gateway did not accept our session (no READY or RESUMED)")
		}
		if err != nil {
			if !upAt.IsZero() {
				bo.Done(time.Since(upAt)) // the connection that just ended
				upAt = time.Time{}
			}
			wait := bo.Next(rateLimitWait(err))
			d.health.Report(Name, bridge.HealthDown, "gateway: "+err.Error())
			d.log.Warn(msgGatewayRetry, "err", err, "in", wait)
			if pace.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		upAt = time.Now()
		d.health.Report(Name, bridge.HealthUp, "")
		select {
		case <-ctx.Done():
			d.closeGateway()
			return nil
		case <-d.lost:
			// Discord drops gateway connections now and then (op 7, a
			// missed heartbeat ACK): resuming is routine, and only a resume
			// that fails is reported.
			d.log.Info("discord: gateway connection lost; resuming")
		}
	}
}

// Log messages of the retries, for operators and tests.
const (
	msgAuthRetry    = "discord: GET /users/@me failed; retrying"
	msgGatewayRetry = "discord: gateway connection failed; trying again"
)

// rateLimitWait is the wait a 429 asked for, or 0.
func rateLimitWait(err error) time.Duration {
	var rl *rateLimited
	if errors.As(err, &rl) {
		return rl.retryAfter
	}
	return 0
}

// open runs discordgo's Open (which blocks reading HELLO and READY, and
// takes no context), cutting the connection when ctx ends or openTimeout passes.
func (d *Desk) open(ctx context.Context) (err error) {
	start := time.Now()
	defer func() {
		// GET /gateway and the WebSocket handshake, counted as one request.
		outcome := bridge.OutcomeOK
		if err != nil {
			outcome = bridge.OutcomeError
		}
		d.obs.ObserveRequest(Name, "gateway.open", outcome, time.Since(start))
	}()
	d.dials.take()
	done := make(chan error, 1)
	go func() { done <- d.s.Open() }()
	t := time.NewTimer(openTimeout)
	defer t.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		d.dials.cut()
		err = <-done
	case <-t.C:
		d.dials.cut()
		if err = <-done; err != nil {
			err = fmt.Errorf("timed out after %v: %w", openTimeout, err)
		}
	}
	d.dials.take()
	if errors.Is(err, discordgo.ErrWSAlreadyOpen) {
		return nil
	}
	return err
}

// closeGateway closes the connection (discordgo sleeps a second in Close).
func (d *Desk) closeGateway() {
	d.setConnected(false)
	if err := d.s.Close(); err != nil {
		d.log.Debug("discord: gateway close", "err", err)
	}
}

// Listening reports whether events reach the desk now: Listen runs and the
// gateway said READY (or RESUMED). For health checks and tests.
func (d *Desk) Listening() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected && d.listened
}

// awaitSession waits after Open until the gateway said READY or RESUMED
// (after a RESUME it first replays what was missed), and reports false
// when the connection went instead (an INVALID_SESSION after a refused
// token), openTimeout passed or ctx ended.
func (d *Desk) awaitSession(ctx context.Context) bool {
	deadline := time.Now().Add(openTimeout)
	for !d.isConnected() {
		select {
		case <-ctx.Done():
			return false
		case <-d.lost:
			return false
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func (d *Desk) isConnected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected
}

func (d *Desk) setConnected(v bool) {
	d.mu.Lock()
	d.connected = v
	d.mu.Unlock()
}

// handleEvents registers the gateway handlers. They run in discordgo's
// reading goroutine, in gateway order (SyncEvents), and only queue work.
func (d *Desk) handleEvents() {
	d.s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		app := ""
		if r.Application != nil {
			app = r.Application.ID
		}
		if r.User != nil {
			d.setBot(r.User.ID, app)
		}
		d.setConnected(true)
	})
	d.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) { d.setConnected(true) })
	d.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		d.setConnected(false)
		select {
		case d.lost <- struct{}{}:
		default:
		}
	})
	d.s.AddHandler(func(_ *discordgo.Session, g *discordgo.GuildCreate) {
		if g.Guild == nil {
			return
		}
		for _, c := range g.Channels {
			d.learnChannel(c)
		}
		for _, c := range g.Threads {
			d.learnChannel(c)
		}
		for _, r := range g.Roles {
			d.learnRole(r)
		}
	})
	d.s.AddHandler(func(_ *discordgo.Session, r *discordgo.GuildRoleCreate) {
		if r.GuildRole != nil {
			d.learnRole(r.Role)
		}
	})
	d.s.AddHandler(func(_ *discordgo.Session, r *discordgo.GuildRoleUpdate) {
		if r.GuildRole != nil {
			d.learnRole(r.Role)
		}
	})
	d.s.AddHandler(func(_ *discordgo.Session, c *discordgo.ChannelCreate) { d.learnChannel(c.Channel) })
	d.s.AddHandler(func(_ *discordgo.Session, c *discordgo.ChannelUpdate) { d.learnChannel(c.Channel) })
	d.s.AddHandler(func(_ *discordgo.Session, c *discordgo.ThreadCreate) { d.learnChannel(c.Channel) })
	d.s.AddHandler(func(_ *discordgo.Session, c *discordgo.ThreadUpdate) { d.learnChannel(c.Channel) })
	d.s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) { d.onMessage(m.Message, bridge.MessageNew) })
	d.s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageUpdate) { d.onMessage(m.Message, bridge.MessageEdited) })
	d.s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageDelete) { d.onDelete(m.Message) })
	d.s.AddHandler(func(_ *discordgo.Session, i *discordgo.InteractionCreate) {
		if i.Interaction == nil {
			return
		}
		ia := i.Interaction
		d.spawnFree(func(ctx context.Context, in bridge.Inbox) {
			d.handleInteraction(ctx, in, ia, func(ctx context.Context, r *discordgo.InteractionResponse) error {
				return d.call(ctx, "interaction.respond", func(opts ...discordgo.RequestOption) error {
					return d.s.InteractionRespond(ia, r, opts...)
				})
			})
		})
	})
}

// listening returns the inbox and Listen's context, or ok=false.
func (d *Desk) listening() (bridge.Inbox, context.Context, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.listened || d.inbox == nil {
		return nil, nil, false
	}
	return d.inbox, d.listenCtx, true
}

// begin counts one more piece of work for Listen to wait for and returns
// what it needs, or ok=false when Listen is not running; d.mu held.
func (d *Desk) begin() (bridge.Inbox, context.Context, bool) {
	if !d.listened || d.inbox == nil {
		return nil, nil, false
	}
	d.work.Add(1)
	return d.inbox, d.listenCtx, true
}

// spawnFree runs fn at once in its own goroutine (interactions: a person
// waits, and Discord gives three seconds); Listen waits for it.
func (d *Desk) spawnFree(fn func(ctx context.Context, in bridge.Inbox)) {
	d.mu.Lock()
	in, lctx, ok := d.begin()
	d.mu.Unlock()
	if !ok {
		return
	}
	go func() {
		defer d.work.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(lctx), handlerTimeout)
		defer cancel()
		fn(ctx, in)
	}()
}

// spawnOrdered runs fn after every earlier fn with the same key (a
// channel: messages of one thread, so an edit or delete never overtakes
// the message it changes), at most len(d.sem) at a time; Listen waits.
func (d *Desk) spawnOrdered(key string, fn func(ctx context.Context, in bridge.Inbox)) {
	d.mu.Lock()
	in, lctx, ok := d.begin()
	if !ok {
		d.mu.Unlock()
		return
	}
	q := d.ordered[key]
	d.ordered[key] = append(q, func(ctx context.Context) { fn(ctx, in) })
	start := len(q) == 0
	d.mu.Unlock()
	if start {
		go d.drain(lctx, key)
	}
}

// drain runs key's queue until it is empty.
func (d *Desk) drain(lctx context.Context, key string) {
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
			ctx, cancel := context.WithTimeout(context.WithoutCancel(lctx), handlerTimeout)
			next(ctx)
			cancel()
			<-d.sem
		case <-lctx.Done(): // Listen is ending: drop the rest
		}
		d.mu.Lock()
		d.ordered[key] = d.ordered[key][1:]
		d.mu.Unlock()
		d.work.Done()
	}
}
