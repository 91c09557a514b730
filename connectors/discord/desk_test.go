package discord_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// Ids of the fake guild every test uses.
const (
	staffID   = "3000000000000000001"
	staffName = "Ana Staff"
	beaID     = "3000000000000000002"
	roleID    = "4000000000000000001"
	forumID   = "5000000000000000001"
	textID    = "5000000000000000002"
	staffRoom = "5000000000000000003" // a text channel for channel commands when the queue is a forum
	botToken  = "secret-bot-token-1234"
)

// env is one desk under test against its own fake.
type env struct {
	fake    *discordfake.Fake
	desk    *discord.Desk
	cfg     discord.Config
	channel string // the queue channel
	forum   bool
	srv     *httptest.Server // the interactions endpoint, in http mode
}

type envOpts struct {
	thread     bool // text channel with threads instead of a forum
	http       bool // interactions over the HTTP endpoint instead of the gateway
	noWebhooks bool
	noDMs      bool
	pacing     discord.Pacing
	deferAfter time.Duration
	now        func() time.Time
	obs        bridge.RequestObserver
	heartbeat  time.Duration // the fake's heartbeat interval; default 500ms
}

func quietLogger() *slog.Logger {
	if os.Getenv("EARSHOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastPacing keeps the desk's own limits out of the way of most tests.
var fastPacing = discord.Pacing{ChannelPerSecond: 500, ChannelBurst: 100, GlobalPerSecond: 2000}

// newEnv starts a fake and a desk pointed at it, with the slash commands
// registered (not listening yet).
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.heartbeat == 0 {
		o.heartbeat = 500 * time.Millisecond
	}
	f, err := discordfake.New(discordfake.Options{Token: botToken, HeartbeatInterval: o.heartbeat, NoWebhooks: o.noWebhooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddRole(roleID, "support")
	f.AddUser(discordfake.User{ID: staffID, Username: "ana", GlobalName: staffName, Roles: []string{roleID}, NoDMs: o.noDMs})
	f.AddUser(discordfake.User{ID: beaID, Username: "bea", GlobalName: "Bea"})
	f.AddForum(forumID, "support-cases", "vip")
	f.AddChannel(textID, "support")
	f.AddChannel(staffRoom, "staff-room")
	if o.pacing == (discord.Pacing{}) {
		o.pacing = fastPacing
	}
	cfg := discord.Config{Token: botToken, GuildID: f.Options().GuildID, PublicKey: f.PublicKey(), APIURL: f.URL(),
		Pacing: o.pacing, DeferAfter: o.deferAfter, RequestTimeout: 10 * time.Second}
	d, err := discord.New(cfg, bridge.Deps{Logger: quietLogger(), Now: o.now, Requests: o.obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Register(ctx, commands.New(nil, commands.Options{}).Commands()); err != nil {
		t.Fatalf("register commands: %v", err)
	}
	e := &env{fake: f, desk: d, cfg: cfg, channel: forumID, forum: true}
	if o.thread {
		e.channel, e.forum = textID, false
	}
	if o.http {
		e.srv = connectortest.ServeRoutes(t, d)
		f.SetInteractionsURL(e.srv.URL + discord.InteractionsPath)
	}
	return e
}

// cardChannel is the channel the card of thread th lives in.
func (e *env) cardChannel(th bridge.ThreadRef) string {
	if e.forum {
		return th.ID
	}
	return th.Channel
}

// card returns the card message of thread th.
func (e *env) card(tb testing.TB, th bridge.ThreadRef) discordfake.Message {
	tb.Helper()
	m, ok := e.fake.Message(e.cardChannel(th), th.ID)
	if !ok {
		tb.Fatalf("no card %s", th.ID)
	}
	return m
}

// press presses a card button (or picks a team) as staff.
func (e *env) press(tb testing.TB, user string, th bridge.ThreadRef, verb, arg string) {
	tb.Helper()
	var err error
	if verb == "escalate" {
		_, err = e.fake.Select(user, e.cardChannel(th), th.ID, "earshot:escalate", arg)
	} else {
		_, err = e.fake.Press(user, e.cardChannel(th), th.ID, "earshot:"+verb)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// slash runs a registered command (or /earshot verb ...) as user in channel.
func (e *env) slash(tb testing.TB, user, channel, verb, args string) {
	tb.Helper()
	name := verb
	found := false
	for _, c := range e.fake.Commands() {
		found = found || c.Name == verb
	}
	if !found {
		name, args = "earshot", strings.TrimSpace(verb+" "+args)
	}
	opts := map[string]string{}
	if args != "" {
		opts["args"] = args
	}
	if _, err := e.fake.Slash(user, channel, name, opts); err != nil {
		tb.Fatal(err)
	}
}

// tagged reports (for WaitFor) whether thread th's post shows status tag
// name and no other status tag; text-channel threads have no tags, so
// there it always holds.
func (e *env) tagged(th bridge.ThreadRef, name string) func() bool {
	statuses := []string{"New", "Claimed", "Escalated", "Waiting", "Resolved"}
	return func() bool {
		if !e.forum {
			return true
		}
		c, _ := e.fake.Channel(th.ID)
		forum, _ := e.fake.Channel(e.channel)
		var shown []string
		for _, n := range c.TagNames(forum) {
			if slices.Contains(statuses, n) {
				shown = append(shown, n)
			}
		}
		return slices.Equal(shown, []string{name})
	}
}

// archived reports (for WaitFor) whether thread th's archived state is want.
func (e *env) archived(th bridge.ThreadRef, want bool) func() bool {
	return func() bool { c, _ := e.fake.Channel(th.ID); return c.Archived == want }
}

// Card texts of a claimed and an unclaimed case.
const (
	claimedText   = "Claimed by " + staffName
	unclaimedText = "Status\nNew"
)

// claimThreeWays claims th by button, by /claim inside the thread and by
// !claim typed in it, releasing by button in between; waitCard waits for
// the card to show a text.
func (e *env) claimThreeWays(t *testing.T, th bridge.ThreadRef, waitCard func(string)) {
	t.Helper()
	e.press(t, staffID, th, "claim", "")
	waitCard(claimedText)
	waitFor(t, "the post tagged Claimed", e.tagged(th, "Claimed"))
	e.press(t, staffID, th, "release", "")
	waitCard(unclaimedText)
	e.slash(t, staffID, th.ID, "claim", "")
	waitCard(claimedText)
	e.press(t, staffID, th, "release", "")
	waitCard(unclaimedText)
	e.say(t, th, "!claim")
	waitCard(claimedText)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	connectortest.WaitFor(t, 15*time.Second, what, cond)
}

// say writes text as staff in thread th and returns its ref.
func (e *env) say(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef {
	tb.Helper()
	id, err := e.fake.Say(staffID, th.ID, text)
	if err != nil {
		tb.Fatal(err)
	}
	return bridge.MessageRef{Desk: "discord", Channel: th.Channel, Thread: th.ID, ID: id, Author: staffID}
}

// lineFor finds the bot's delivery line replying to message id in thread.
func (e *env) lineFor(thread, id string) (discordfake.Message, bool) {
	for _, m := range e.fake.Messages(thread) {
		if m.Bot && m.Reference == id {
			return m, true
		}
	}
	return discordfake.Message{}, false
}

// deskEnv adapts an env to the conformance suite.
func (e *env) deskEnv() *connectortest.DeskEnv {
	f := e.fake
	de := &connectortest.DeskEnv{
		Desk:      e.desk,
		Channel:   e.channel,
		Staff:     bridge.Staff{Desk: "discord", ID: staffID, Name: staffName, Groups: []string{roleID}},
		Secrets:   []string{botToken},
		Listening: e.desk.Listening,
		StaffPost: func(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef { return e.say(tb, th, text) },
		StaffEdit: func(tb testing.TB, m bridge.MessageRef, text string) {
			if err := f.Edit(m.Thread, m.ID, text); err != nil {
				tb.Fatal(err)
			}
		},
		StaffDelete: func(tb testing.TB, m bridge.MessageRef) {
			if err := f.Delete(m.Thread, m.ID); err != nil {
				tb.Fatal(err)
			}
		},
		Press: func(tb testing.TB, th bridge.ThreadRef, m bridge.MessageRef, verb, arg string) {
			tb.Helper()
			if m.ID == "" {
				e.press(tb, staffID, th, verb, arg)
				return
			}
			line, ok := e.lineFor(th.ID, m.ID)
			if !ok {
				tb.Fatalf("no delivery line for message %s in the thread", m.ID)
			}
			for _, a := range line.Actions() {
				if strings.HasPrefix(a.CustomID, "earshot:"+verb) {
					if _, err := f.Press(staffID, th.ID, line.ID, a.CustomID); err != nil {
						tb.Fatal(err)
					}
					return
				}
			}
			tb.Fatalf("the delivery line of %s has no %s button", m.ID, verb)
		},
		Slash: func(tb testing.TB, ch, verb, args string) { e.slash(tb, staffID, ch, verb, args) },
		SlashInThread: func(tb testing.TB, th bridge.ThreadRef, verb, args string) {
			e.slash(tb, staffID, th.ID, verb, args)
		},
		Card: func(tb testing.TB, th bridge.ThreadRef) connectortest.CardView {
			m := e.card(tb, th)
			cv := connectortest.CardView{Text: m.Visible(), Options: map[string][]string{}}
			for _, a := range m.Actions() {
				verb := strings.TrimPrefix(a.CustomID, "earshot:")
				cv.Buttons = append(cv.Buttons, verb)
				if len(a.Options) > 0 {
					cv.Options[verb] = a.Options
				}
			}
			return cv
		},
		Messages: func(tb testing.TB, th bridge.ThreadRef) []connectortest.ThreadMessage {
			var out []connectortest.ThreadMessage
			for _, m := range f.Thread(th.ID) {
				if m.ID == th.ID {
					continue // the card
				}
				text := m.Visible()
				if m.WebhookID != "" {
					text = m.Username + "\n" + text
				}
				out = append(out, connectortest.ThreadMessage{ID: m.ID, Author: m.AuthorID, Bot: m.Bot, Text: text})
			}
			return out
		},
		Mark: func(tb testing.TB, m bridge.MessageRef) bridge.DeliveryState {
			msg, ok := f.Message(m.Thread, m.ID)
			if !ok {
				tb.Fatalf("no message %s", m.ID)
			}
			var state bridge.DeliveryState
			for _, emoji := range msg.Emojis() {
				if s := discord.StateOfEmoji(emoji); s != "" {
					if state != "" {
						tb.Errorf("message %s shows two marks: %q and %q", m.ID, state, s)
					}
					state = s
				}
			}
			return state
		},
		Private: func(tb testing.TB, id string) []string { return private(f, id) },
		Fail:    func(tb testing.TB, status, n int, wait time.Duration) { f.FailNext(status, n, wait) },
	}
	if e.forum {
		de.SlashChannel = staffRoom
	}
	return de
}

// private is everything only user was shown: ephemeral answers and DMs.
func private(f *discordfake.Fake, user string) []string {
	var out []string
	for _, e := range f.Ephemerals(user) {
		out = append(out, e.Visible())
	}
	for _, m := range f.DMs(user) {
		out = append(out, m.Visible())
	}
	return out
}

func suite(o envOpts) connectortest.DeskHarness {
	return connectortest.DeskHarness{New: func(t *testing.T) *connectortest.DeskEnv { return newEnv(t, o).deskEnv() }}
}

func TestDeskSuiteForum(t *testing.T) {
	t.Parallel()
	connectortest.RunDeskSuite(t, suite(envOpts{}))
}

func TestDeskSuiteThreads(t *testing.T) {
	t.Parallel()
	connectortest.RunDeskSuite(t, suite(envOpts{thread: true}))
}

func TestDeskSuiteHTTPInteractions(t *testing.T) {
	t.Parallel()
	connectortest.RunDeskSuite(t, suite(envOpts{http: true, noWebhooks: true}))
}

// listen runs the desk's Listen into in until the test ends.
func listen(t *testing.T, d *discord.Desk, in bridge.Inbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return")
		}
	})
	connectortest.WaitFor(t, 10*time.Second, "the desk to listen", d.Listening)
}
