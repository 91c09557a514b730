package slack_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

const (
	staffID   = "U1ANA"
	staffName = "Ana Staff"
	groupID   = "S1SUPPORT"
	channel   = "C1SUPPORT"
)

// env is one desk under test against its own fake.
type env struct {
	fake *slackfake.Fake
	desk *slack.Desk
	cfg  slack.Config
}

type envOpts struct {
	mode      string
	customize bool
	pacing    slack.Pacing
	now       func() time.Time
	ackWait   time.Duration // the fake's AckTimeout
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv starts a fake and a desk pointed at it (not listening yet).
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	f, err := slackfake.New(slackfake.Options{PingInterval: 200 * time.Millisecond, Customize: o.customize, AckTimeout: o.ackWait,
		BotToken: "xoxb-secret-bot-token", AppToken: "xapp-secret-app-token", SigningSecret: "secret-signing"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddUser(slackfake.User{ID: staffID, Name: "ana", DisplayName: staffName})
	f.AddUser(slackfake.User{ID: "U2BEA", Name: "bea", DisplayName: "Bea"})
	f.AddGroup(groupID, "support-team", staffID)
	f.AddChannel(channel, "support")
	if o.mode == "" {
		o.mode = "socket"
	}
	if o.pacing.ChannelPerSecond == 0 {
		o.pacing = slack.Pacing{ChannelPerSecond: 200, ChannelBurst: 50, WorkspacePerSecond: 500, UpdatesPerMinute: 60000}
	}
	cfg := slack.Config{BotToken: f.Options().BotToken, AppToken: f.Options().AppToken, SigningSecret: f.Options().SigningSecret,
		Mode: o.mode, APIURL: f.APIURL(), Customize: o.customize, Pacing: o.pacing, PingInterval: 2 * time.Second}
	d, err := slack.New(cfg, bridge.Deps{Logger: quietLogger(), Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	if o.mode == "http" {
		f.SetHTTPTarget(connectortest.ServeRoutes(t, d).URL)
	}
	return &env{fake: f, desk: d, cfg: cfg}
}

// deskEnv adapts an env to the conformance suite.
func (e *env) deskEnv() *connectortest.DeskEnv {
	f := e.fake
	return &connectortest.DeskEnv{
		Desk:      e.desk,
		Channel:   channel,
		Staff:     bridge.Staff{Desk: "slack", ID: staffID, Name: staffName, Groups: []string{groupID}},
		Secrets:   []string{e.cfg.BotToken, e.cfg.AppToken, e.cfg.SigningSecret},
		Listening: e.desk.Listening,
		StaffPost: func(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef {
			ts := f.Say(staffID, th.Channel, th.ID, text)
			return bridge.MessageRef{Desk: "slack", Channel: th.Channel, Thread: th.ID, ID: ts, Author: staffID}
		},
		StaffEdit: func(tb testing.TB, m bridge.MessageRef, text string) {
			if err := f.Edit(m.Channel, m.ID, text); err != nil {
				tb.Fatal(err)
			}
		},
		StaffDelete: func(tb testing.TB, m bridge.MessageRef) {
			if err := f.Delete(m.Channel, m.ID); err != nil {
				tb.Fatal(err)
			}
		},
		Press: func(tb testing.TB, th bridge.ThreadRef, m bridge.MessageRef, verb, arg string) {
			tb.Helper()
			target := th.ID
			if m.ID != "" {
				target = ""
				for _, msg := range f.Thread(th.Channel, th.ID) {
					for _, a := range msg.Actions() {
						if a.ID == "earshot:"+verb && strings.Contains(a.Value, `"m":"`+m.ID+`"`) {
							target = msg.TS
						}
					}
				}
				if target == "" {
					tb.Fatalf("no %s button for message %s in the thread", verb, m.ID)
				}
			}
			if err := f.Press(staffID, th.Channel, target, "earshot:"+verb, arg); err != nil {
				tb.Fatal(err)
			}
		},
		Slash: func(tb testing.TB, ch, verb, args string) {
			switch verb {
			case "claim", "escalate", "resolve", "queue":
				f.Slash(staffID, ch, "/"+verb, args)
			default:
				f.Slash(staffID, ch, "/earshot", strings.TrimSpace(verb+" "+args))
			}
		},
		Card: func(tb testing.TB, th bridge.ThreadRef) connectortest.CardView {
			m, ok := f.Message(th.Channel, th.ID)
			if !ok {
				tb.Fatalf("no card %s in %s", th.ID, th.Channel)
			}
			cv := connectortest.CardView{Text: m.Visible(), Options: map[string][]string{}}
			for _, a := range m.Actions() {
				verb := strings.TrimPrefix(a.ID, "earshot:")
				cv.Buttons = append(cv.Buttons, verb)
				if len(a.Options) > 0 {
					cv.Options[verb] = a.Options
				}
			}
			return cv
		},
		Messages: func(tb testing.TB, th bridge.ThreadRef) []connectortest.ThreadMessage {
			var out []connectortest.ThreadMessage
			for i, m := range f.Thread(th.Channel, th.ID) {
				if i == 0 {
					continue // the card
				}
				text := m.Visible()
				if m.Username != "" {
					text = m.Username + "\n" + text
				}
				out = append(out, connectortest.ThreadMessage{ID: m.TS, Author: m.User, Bot: m.BotID != "", Text: text})
			}
			return out
		},
		Mark: func(tb testing.TB, m bridge.MessageRef) bridge.DeliveryState {
			msg, ok := f.Message(m.Channel, m.ID)
			if !ok {
				tb.Fatalf("no message %s", m.ID)
			}
			var state bridge.DeliveryState
			for _, r := range msg.Reactions {
				for _, u := range r.Users {
					if u == slackfake.BotUserID {
						if s := slack.StateOfReaction(r.Name); s != "" {
							if state != "" {
								tb.Errorf("message %s shows two marks: %q and %q", m.ID, state, s)
							}
							state = s
						}
					}
				}
			}
			return state
		},
		Private: func(tb testing.TB, id string) []string {
			var out []string
			for _, e := range f.Ephemerals(id) {
				out = append(out, slackfake.RenderMrkdwn(e.Text))
			}
			return out
		},
		Fail: func(tb testing.TB, status, n int, wait time.Duration) { f.FailNext(status, n, wait) },
	}
}

func TestDeskSuiteSocket(t *testing.T) {
	t.Parallel()
	connectortest.RunDeskSuite(t, connectortest.DeskHarness{New: func(t *testing.T) *connectortest.DeskEnv {
		return newEnv(t, envOpts{}).deskEnv()
	}})
}

func TestDeskSuiteHTTP(t *testing.T) {
	t.Parallel()
	connectortest.RunDeskSuite(t, connectortest.DeskHarness{New: func(t *testing.T) *connectortest.DeskEnv {
		return newEnv(t, envOpts{mode: "http", customize: true}).deskEnv()
	}})
}

// listen runs the desk's Listen into in until the test ends.
func listen(t *testing.T, d *slack.Desk, in bridge.Inbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return")
		}
	})
	connectortest.WaitFor(t, 10*time.Second, "the desk to listen", d.Listening)
}
