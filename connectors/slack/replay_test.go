package slack_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// replayEnv is a desk in mode with the real core and commands behind it,
// a stub network to publish on, and one claimed case, E-1.
type replayEnv struct {
	*env
	net    *connectortest.StubNetwork
	thread string
}

func newReplayEnv(t *testing.T, o envOpts) *replayEnv {
	t.Helper()
	e := newEnv(t, o)
	net := connectortest.NewStubNetwork()
	cmds := commands.New(nil, commands.Options{Logger: quietLogger()})
	b := connectortest.StartBridge(t, connectortest.BridgeRun{
		Options: bridge.Options{
			Commander: cmds,
			Config: bridge.Config{
				Queues:        []bridge.QueueConfig{{Name: "support", Desk: "slack", Channel: channel}},
				Watch:         []bridge.WatchRule{{Network: "mastodon", Mentions: true}},
				Staff:         []bridge.StaffRule{{Desk: "slack", Group: groupID, Role: bridge.RoleAgent}},
				UndoWindowSet: true, // publish at once
			},
			Networks: []bridge.Network{net},
			Desks:    []bridge.Desk{e.desk},
			Logger:   quietLogger(),
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: e.desk.Listening,
	})
	net.Posts <- bridge.Post{Network: "mastodon", ID: "p1", Author: bridge.Author{ID: "109", Handle: "ana@mastodon.social"},
		Text: "@shop my parcel never arrived", CreatedAt: time.Now(), MentionsUs: true}
	connectortest.WaitFor(t, 10*time.Second, "the card", func() bool { return len(e.fake.Messages(channel)) == 1 })
	th := e.fake.Messages(channel)[0].TS
	if _, err := b.Claim(t.Context(), "E-1", bridge.Staff{Desk: "slack", ID: staffID, Name: staffName, Groups: []string{groupID}}); err != nil {
		t.Fatal(err)
	}
	return &replayEnv{env: e, net: net, thread: th}
}

// onlyReplies waits for want published replies, gives a wrongly repeated
// one the time to show, and fails when there are more.
func (e *replayEnv) onlyReplies(t *testing.T, want int) {
	t.Helper()
	connectortest.WaitFor(t, 10*time.Second, "the reply published", func() bool { return len(e.net.Replies()) >= want })
	time.Sleep(300 * time.Millisecond)
	if got := e.net.Replies(); len(got) != want {
		t.Errorf("%d public replies, want %d: %+v", len(got), want, got)
	}
}

// sendThrice sends the same signed form body to url three times, as a
// replayer would, and fails unless each gets Slack's 200.
func (e *replayEnv) sendThrice(t *testing.T, url, body string) {
	t.Helper()
	hdr := signed(e.cfg.SigningSecret, time.Now(), body)
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("request %d answered %d, want 200", i+1, resp.StatusCode)
		}
	}
}

// Three byte-identical signed `/earshot reply E-1 …` requests inside the
// signature's window: all three get Slack's answer (an empty 200), the
// reply is published once.
func TestReplayedSlashCommandRunsOnce(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t, envOpts{mode: "http"})
	srv := connectortest.ServeRoutes(t, e.desk)
	body := url.Values{"token": {"deprecated"}, "team_id": {slackfake.TeamID}, "channel_id": {channel}, "user_id": {staffID},
		"user_name": {"ana"}, "command": {"/earshot"}, "text": {"reply E-1 Sorry Ana, a new parcel is on its way"},
		"response_url": {e.fake.URL() + "/response/none"}, "trigger_id": {"trig.1"}}.Encode()
	e.sendThrice(t, srv.URL+"/slack/commands", body)
	e.onlyReplies(t, 1)
	if r := e.net.Replies(); len(r) > 0 && !strings.Contains(r[0].Text, "new parcel") {
		t.Errorf("published %+v", r[0])
	}
}

// A replayed button press (the same signed interactivity request) runs
// once: Claim pressed on a case one already holds is refused privately
// ("You already have E-1."), once, not three times.
func TestReplayedButtonPressRunsOnce(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t, envOpts{mode: "http"})
	srv := connectortest.ServeRoutes(t, e.desk)
	payload := `{"type":"block_actions","team":{"id":"` + slackfake.TeamID + `"},"user":{"id":"` + staffID + `","name":"ana"},` +
		`"channel":{"id":"` + channel + `"},"container":{"type":"message","message_ts":"` + e.thread + `","channel_id":"` + channel + `"},` +
		`"trigger_id":"trig.2","actions":[{"action_id":"earshot:claim","block_id":"b","type":"button","value":"x"}]}`
	body := url.Values{"payload": {payload}}.Encode()
	e.sendThrice(t, srv.URL+"/slack/interactive", body)
	// Claiming a case one already holds answers privately each time it runs.
	connectortest.WaitFor(t, 10*time.Second, "the answer to the press", func() bool { return len(e.fake.Ephemerals(staffID)) >= 1 })
	time.Sleep(300 * time.Millisecond)
	if n := len(e.fake.Ephemerals(staffID)); n != 1 {
		t.Errorf("%d answers to one press sent three times, want 1: %+v", n, e.fake.Ephemerals(staffID))
	}
}

// A request signed before the desk started listening is refused: after a
// restart the desk cannot know whether it already ran it.
func TestRequestSignedBeforeListenRefused(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t, envOpts{mode: "http"})
	srv := connectortest.ServeRoutes(t, e.desk)
	body := url.Values{"command": {"/earshot"}, "text": {"reply E-1 hello again"}, "channel_id": {channel}, "user_id": {staffID}, "trigger_id": {"trig.3"}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(body))
	for k, v := range signed(e.cfg.SigningSecret, time.Now().Add(-2*time.Minute), body) {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed before Listen: %d, want 401", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(e.net.Replies()); n != 0 {
		t.Errorf("%d replies published from a request signed before Listen", n)
	}
}

// Socket Mode: Slack sends an envelope again when it did not get our ack
// in time; a slash command so redelivered runs once.
func TestSocketRedeliveredCommandRunsOnce(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t, envOpts{ackWait: time.Microsecond})
	e.fake.Slash(staffID, channel, "/earshot", "reply E-1 Sorry Ana, a new parcel is on its way")
	connectortest.WaitFor(t, 10*time.Second, "the fake to redeliver the command", func() bool { return e.fake.Redelivered() > 0 })
	e.onlyReplies(t, 1)
}
