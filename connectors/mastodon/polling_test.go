package mastodon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// Finding 1: on a server where no stream works (streaming off), mentions
// arrive by polling; the connector says so once, at WARN, and is degraded,
// not up and not silent.
func TestNoStreamFallsBackToPolling(t *testing.T) {
	t.Parallel()
	for _, software := range []string{mastodonfake.Mastodon, mastodonfake.GoToSocial} {
		t.Run(software, func(t *testing.T) {
			t.Parallel()
			f := mastodonfake.New(mastodonfake.Options{Software: software})
			t.Cleanup(f.Close)
			f.SetStreaming(false)
			var logs connectortest.LogBuffer
			h := &connectortest.HealthRecorder{}
			n, err := New(Config{Server: f.URL(), AccessToken: token, PollInterval: 100 * time.Millisecond, Idempotent: "false"},
				bridge.Deps{DataDir: t.TempDir(), Health: h, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ana := f.AddAccount("ana", "Ana", 1)
			in := runListen(t, &fixture{fake: f, net: n})
			h.WaitFor(t, Name, bridge.HealthDegraded, "no stream works")
			for i := range 3 {
				st, err := f.Post(ana.ID, "@earshot polled "+string(rune('a'+i)), mastodonfake.PostOptions{})
				if err != nil {
					t.Fatal(err)
				}
				in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == st.ID })
			}
			if c := strings.Count(logs.String(), "no stream works"); c != 1 {
				t.Errorf("the fallback was logged %d times, want once:\n%s", c, logs.String())
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"mastodon: no stream works") {
				t.Errorf("the fallback is not a WARN:\n%s", logs.String())
			}
		})
	}
}

// Finding 1: the mentions made while the stream is down arrive by the
// poller (not only once a stream connects again).
func TestGapFilledWhileTheStreamIsDown(t *testing.T) {
	t.Parallel()
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{PollInterval: 100 * time.Millisecond, Idempotent: "false"})
	in := listen(t, fx)
	fx.net.backoff.Min = 20 * time.Second // the stream will not be back soon
	fx.fake.SetStreaming(false)
	fx.fake.DropStreams()
	id := fx.post(t, "@earshot while the stream is down", "")
	in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
}

// Finding 5: GoToSocial's hashtag stream is silent: keyword posts arrive
// through periodic tag timeline polls, without any reconnect.
func TestGoToSocialSilentHashtagStreamIsPolled(t *testing.T) {
	t.Parallel()
	fx, _ := gtsFixture(t, mastodonfake.Options{}, Config{Hashtags: []string{"TrainFail"}, PollInterval: 100 * time.Millisecond, Idempotent: "false"})
	fx.post(t, "old news #trainfail", "") // the tag exists; this is history
	in := listen(t, fx)
	id := fx.post(t, "cancelled again #TrainFail", "")
	p := in.WaitPost(t, 10*time.Second, func(p bridge.Post) bool { return p.ID == id })
	if p.Text != "cancelled again #TrainFail" {
		t.Errorf("post = %+v", p)
	}
	for _, q := range in.Posts() {
		if strings.Contains(q.Text, "old news") {
			t.Error("a keyword post from before the watch was delivered")
		}
	}
}

// Finding 3: listening spends at most its share of the account's rate
// limit (here 20 per 2 s, half for listening) however eager it is; the
// rest is there for replies.
func TestListeningLeavesRepliesTheirShare(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "poll", Hashtags: []string{"a", "b", "c"},
		PollInterval: time.Millisecond, Idempotent: "false"})
	fx.fake.SetRateLimit(20, 2*time.Second)
	runListen(t, fx)
	time.Sleep(4500 * time.Millisecond) // two resets: listening spends its half of each window
	if n := reqs.Count("mastodon tag_timeline error"); n < 10 {
		t.Errorf("listening read the tags %d times; it should have wanted more than its share", n)
	}
	if n := fx.fake.RateLimited(); n != 0 {
		t.Fatalf("listening met %d 429s; it should stop at its share (counts %v)", n, reqs.Counts())
	}
	for i := range 5 {
		_, err := fx.net.Publish(context.Background(), bridge.Reply{Text: "On it " + string(rune('a'+i)), To: bridge.Author{Handle: "ana@fake.social"}, IdempotencyKey: "k" + string(rune('a'+i))})
		if err != nil {
			t.Errorf("reply %d: %v (counts %v)", i, err, reqs.Counts())
		}
	}
}

// `earshot check` says what the server is and how Earshot uses it.
func TestCheckDetails(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		software string
		want     []string
	}{
		{mastodonfake.Mastodon, []string{"server: mastodon 4.3.0", "stream: sse (auto)", "idempotency: yes", "links count 23"}},
		{mastodonfake.GoToSocial, []string{"server: gotosocial 0.17.3", "stream: websocket (auto)",
			"idempotency: not known for gotosocial 0.17.3: Earshot probes it", "links and mentions count as typed", "5000"}},
	} {
		f := mastodonfake.New(mastodonfake.Options{Software: c.software})
		t.Cleanup(f.Close)
		n, err := New(Config{Server: f.URL(), AccessToken: token}, bridge.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(n.CheckDetails(), "\n")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: details lack %q:\n%s", c.software, w, got)
			}
		}
		if len(f.Published()) != 0 {
			t.Errorf("%s: Check left statuses behind", c.software)
		}
		connectortest.WaitFor(t, 5*time.Second, "Check's stream closed", func() bool { return f.Streams() == 0 })
	}
}

// The idempotency probe runs once per server version: its verdict is kept
// with the state, so a restart does not post the probe again.
func TestIdempotencyProbeRunsOncePerVersion(t *testing.T) {
	t.Parallel()
	fx, reqs := gtsFixture(t, mastodonfake.Options{}, Config{Stream: "websocket"})
	in := runListen(t, fx)
	_ = in
	connectortest.WaitFor(t, 10*time.Second, "the probe", func() bool { return reqs.Count("mastodon probe ok") == 2 })
	connectortest.WaitFor(t, 10*time.Second, "the stream", func() bool { return fx.fake.Streams() > 0 })
	reqs2 := &connectortest.RequestCounter{}
	n2, err := New(Config{Server: fx.fake.URL(), AccessToken: token, Stream: "websocket"}, bridge.Deps{DataDir: fx.dir, Requests: reqs2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if n2.Idempotent() {
		t.Error("the kept verdict says idempotent")
	}
	runListen(t, &fixture{fake: fx.fake, net: n2})
	connectortest.WaitFor(t, 10*time.Second, "the second stream", func() bool { return fx.fake.Streams() > 1 })
	if n := reqs2.Count("mastodon probe ok"); n != 0 {
		t.Errorf("the restart probed again (%d statuses)", n)
	}
	if len(fx.fake.Published()) != 0 {
		t.Errorf("probe statuses left: %+v", fx.fake.Published())
	}
}

func TestSoftwareOfInstanceVersion(t *testing.T) {
	for v, want := range map[string]string{
		"2.7.2 (compatible; Pleroma 2.5.0)": "pleroma 2.5.0",
		"3.0.0 (compatible; Akkoma 3.13.2)": "akkoma 3.13.2",
		"4.3.0":                             " 4.3.0",
	} {
		name, version := softwareOf(v)
		if got := name + " " + version; got != want {
			t.Errorf("softwareOf(%q) = %q, want %q", v, got, want)
		}
	}
	for _, c := range []struct {
		info          serverInfo
		honours, know bool
	}{
		{serverInfo{Software: "mastodon", Version: "4.3.0+glitch"}, true, true},
		{serverInfo{Software: "mastodon", Version: "2.9.0"}, false, true},
		{serverInfo{Software: "gotosocial", Version: "0.17.3"}, false, false},
		{serverInfo{}, false, false},
	} {
		if h, k := c.info.knownIdempotency(); h != c.honours || k != c.know {
			t.Errorf("%v: knownIdempotency = %v %v", c.info, h, k)
		}
	}
}

// Health: up while the mentions stream is connected, down with the reason
// when the token is refused.
func TestHealthReports(t *testing.T) {
	t.Parallel()
	f := mastodonfake.New(mastodonfake.Options{Software: mastodonfake.GoToSocial})
	t.Cleanup(f.Close)
	h := &connectortest.HealthRecorder{}
	n, err := New(Config{Server: f.URL(), AccessToken: token, Idempotent: "false"}, bridge.Deps{Health: h, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runListen(t, &fixture{fake: f, net: n})
	h.WaitFor(t, Name, bridge.HealthUp, "")

	bad, err := New(Config{Server: f.URL(), AccessToken: "not-a-token"}, bridge.Deps{Health: h, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runListen(t, &fixture{fake: f, net: bad})
	h.WaitFor(t, Name, bridge.HealthDown, "access token was refused")
}
