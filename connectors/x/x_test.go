package x

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

const (
	clientID     = "earshot-client"
	clientSecret = "x-client-secret-77"
)

type fixture struct {
	fake *xfake.Server
	ana  xfake.User
	cfg  Config
	dir  string
	obs  *connectortest.RequestCounter
}

func newFixture(t *testing.T, keywords ...string) *fixture {
	t.Helper()
	f := xfake.New(xfake.Options{KeepAlive: 100 * time.Millisecond})
	t.Cleanup(f.Close)
	fx := &fixture{fake: f, ana: f.AddUser("ana_l", "Ana Lima", 42), dir: t.TempDir(), obs: &connectortest.RequestCounter{}}
	fx.cfg = Config{APIURL: f.URL(), ClientID: clientID, ClientSecret: clientSecret, RefreshToken: "x-refresh-0",
		Keywords: keywords, PollInterval: 40 * time.Millisecond, RequestTimeout: 5 * time.Second, StallTimeout: 2 * time.Second}
	return fx
}

func (fx *fixture) network(t *testing.T) *Network {
	t.Helper()
	cfg := fx.cfg
	cfg.Keywords = append([]string(nil), fx.cfg.Keywords...)
	n, err := New(cfg, bridge.Deps{DataDir: fx.dir, Requests: fx.obs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.backoffMin, n.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	return n
}

func (fx *fixture) tweet(t testing.TB, text, replyTo string) string {
	t.Helper()
	tw, err := fx.fake.Tweet(fx.ana.ID, text, xfake.TweetOptions{ReplyTo: replyTo})
	if err != nil {
		t.Fatal(err)
	}
	return tw.ID
}

// run starts Listen; stop cancels it and waits.
func run(t *testing.T, n *Network) (*connectortest.RecordingInbox, func()) {
	t.Helper()
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Listen(ctx, in) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Listen: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	connectortest.WaitFor(t, 10*time.Second, "x to connect", n.Connected)
	return in, stop
}

func harness(keywords ...string) connectortest.NetworkHarness {
	return connectortest.NetworkHarness{New: func(t *testing.T) *connectortest.NetworkEnv {
		fx := newFixture(t, keywords...)
		n := fx.network(t)
		f := fx.fake
		return &connectortest.NetworkEnv{
			Network:   n,
			Secrets:   []string{clientSecret, "x-refresh-0", "x-access-1", "x-refresh-1"},
			Listening: n.Connected,
			Mention:   func(t testing.TB, text string) string { return fx.tweet(t, "@earshot "+text, "") },
			Reply:     func(t testing.TB, inReplyTo, text string) string { return fx.tweet(t, "@earshot "+text, inReplyTo) },
			Published: func(t testing.TB) []connectortest.Published {
				var out []connectortest.Published
				for _, tw := range f.Published() {
					out = append(out, connectortest.Published{ID: tw.ID, InReplyTo: tw.InReplyTo, Text: tw.Text})
				}
				for _, d := range f.DMs() {
					if d.SenderID == f.Us().ID {
						out = append(out, connectortest.Published{ID: d.ID, Text: d.Text, Direct: true, To: d.RecipientID})
					}
				}
				return out
			},
			Fail: func(t testing.TB, status, n int, wait time.Duration) { f.FailNext(status, n, wait) },
			Drop: func(t testing.TB) { f.DropStreams() },
			DM:   true,
		}
	}}
}

func TestNetworkSuite(t *testing.T) { connectortest.RunNetworkSuite(t, harness()) }
func TestNetworkSuiteWithStream(t *testing.T) {
	connectortest.RunNetworkSuite(t, harness("delayed train"))
}

func byID(id string) func(bridge.Post) bool { return func(p bridge.Post) bool { return p.ID == id } }

func checkOnce(t *testing.T, posts []bridge.Post) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range posts {
		seen[p.ID]++
		if seen[p.ID] == 2 {
			t.Errorf("post %s (%q) delivered twice", p.ID, p.Text)
		}
	}
}

func TestStreamDropAndRestartNothingMissedNothingTwice(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund")
	n := fx.network(t)
	in, stop := run(t, n)

	var ids []string
	ids = append(ids, fx.tweet(t, "I want a refund now", ""))
	in.WaitPost(t, 5*time.Second, byID(ids[0]))
	fx.fake.DropStreams()
	ids = append(ids, fx.tweet(t, "still no refund while your stream is down", ""))
	connectortest.WaitFor(t, 5*time.Second, "stream back", func() bool { return fx.fake.Streams() > 0 })
	ids = append(ids, fx.tweet(t, "refund please, after the reconnect", ""))
	for _, id := range ids {
		in.WaitPost(t, 5*time.Second, byID(id))
	}
	stop()

	// Down for a while: posts made meanwhile arrive after a restart (gap fill
	// from the saved stream position), and nothing earlier comes again.
	var later []string
	for i := range 3 {
		later = append(later, fx.tweet(t, fmt.Sprintf("refund %d while earshot was down", i), ""))
	}
	n2 := fx.network(t)
	in2, _ := run(t, n2)
	for _, id := range later {
		in2.WaitPost(t, 5*time.Second, byID(id))
	}
	time.Sleep(100 * time.Millisecond) // let a stray duplicate show itself
	all := append(in.Posts(), in2.Posts()...)
	checkOnce(t, all)
	if len(all) != len(ids)+len(later) {
		t.Errorf("delivered %d posts, want %d: %+v", len(all), len(ids)+len(later), all)
	}
	for _, p := range all {
		if p.MentionsUs || p.FromUs {
			t.Errorf("keyword post %s flagged MentionsUs=%v FromUs=%v", p.ID, p.MentionsUs, p.FromUs)
		}
	}
}

func TestSinceIDSurvivesRestartAndGapsArePaged(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	old := fx.tweet(t, "@earshot an old complaint from before we started", "")
	n := fx.network(t)
	in, stop := run(t, n)
	first := fx.tweet(t, "@earshot first", "")
	in.WaitPost(t, 5*time.Second, byID(first))
	stop()

	var st state
	b, err := os.ReadFile(filepath.Join(fx.dir, "x-state.json"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.SinceID != first {
		t.Fatalf("state file: %s %v, want since_id %s", b, err, first)
	}

	// 130 mentions while down: two pages of 100.
	var gap []string
	for i := range 130 {
		gap = append(gap, fx.tweet(t, fmt.Sprintf("@earshot gap %d", i), ""))
	}
	n2 := fx.network(t)
	in2, _ := run(t, n2)
	for _, id := range gap {
		in2.WaitPost(t, 10*time.Second, byID(id))
	}
	posts := in2.Posts()
	checkOnce(t, append(in.Posts(), posts...))
	for i, p := range posts[:len(gap)] {
		if p.ID != gap[i] {
			t.Fatalf("post %d is %s, want %s: gaps are delivered oldest first", i, p.ID, gap[i])
		}
	}
	for _, p := range append(in.Posts(), posts...) {
		if p.ID == old {
			t.Errorf("the mention from before the first start was delivered (backfill is off)")
		}
	}
}

func TestTweetMapping(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	in, _ := run(t, n)
	id := fx.tweet(t, `@earshot A & B <3 "quoted"`, "")
	p := in.WaitPost(t, 5*time.Second, byID(id))
	if p.Text != `@earshot A & B <3 "quoted"` {
		t.Errorf("text %q: X's HTML escapes must be undone", p.Text)
	}
	if p.Author.Handle != "ana_l" || p.Author.Name != "Ana Lima" || p.Author.Followers != 42 || p.Author.Avatar == "" {
		t.Errorf("author %+v not expanded", p.Author)
	}
	if p.URL != "https://x.com/ana_l/status/"+id || p.Lang != "en" || p.Ref["author_id"] != fx.ana.ID {
		t.Errorf("post %+v", p)
	}
}

func TestPartialErrorsStillDeliver(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.fake.PartialErrors(true)
	n := fx.network(t)
	in, _ := run(t, n)
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "@earshot partial", "")))
}

func TestRateLimitsFromHeaders(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	me, err := n.ensureMe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n.state.Primed = true
	for _, legacy := range []bool{false, true} {
		fx.fake.FailReads(429, 1, 4*time.Second, legacy)
		err := n.pollMentions(context.Background(), connectortest.NewRecordingInbox(), me)
		var ae *apiError
		if !errors.As(err, &ae) || !ae.rateLimited() || ae.Wait < 3*time.Second || ae.Wait > 5*time.Second {
			t.Errorf("legacy=%v: %v, want a rate limit of about 4s from x-rate-limit-reset", legacy, err)
		}
		if legacy && ae != nil && ae.Code != 88 {
			t.Errorf("legacy code = %d, want 88", ae.Code)
		}
	}
	if fx.obs.Count("x mentions rate_limited") != 2 {
		t.Errorf("rate limited requests observed: %v", fx.obs.Counts())
	}
}

// X's budgets: an answer that spends a call's last request holds that call
// back until the window resets, so polling under a tight budget never
// earns a 429 and still delivers what was posted meanwhile; a reply held
// back is not sent, and is safe to retry after the reset.
func TestUsedUpWindowHoldsCallsBackUntilItResets(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.fake.SetRateLimit("GET /2/users/{id}/mentions", 2, 2*time.Second)
	n := fx.network(t)
	in, stop := run(t, n)
	defer stop()
	first := fx.tweet(t, "@earshot first", "")
	in.WaitPost(t, 5*time.Second, byID(first))
	later := fx.tweet(t, "@earshot posted while the window is used up", "")
	in.WaitPost(t, 10*time.Second, byID(later))
	if got := fx.fake.RateLimited(); got != 0 {
		t.Errorf("X answered %d mention polls 429: a used-up window was asked anyway", got)
	}
	checkOnce(t, in.Posts())

	fx.fake.SetRateLimit("POST /2/tweets", 1, time.Minute)
	reply := bridge.Reply{Case: "E-1", InReplyTo: first, To: bridge.Author{ID: fx.ana.ID}, Text: "On it", IdempotencyKey: "k1"}
	if _, err := n.Publish(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	attempts := fx.fake.PublishAttempts()
	reply.Text, reply.IdempotencyKey = "And another", "k2"
	_, err := n.Publish(context.Background(), reply)
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.MaybeSent || pe.RetryAfter < 30*time.Second {
		t.Fatalf("publish with the window used up: %v (%+v), want retryable, not sent, after the reset", err, pe)
	}
	if fx.fake.PublishAttempts() != attempts || fx.fake.RateLimited() != 0 {
		t.Errorf("the held-back reply reached X (attempts %d → %d, 429s %d)", attempts, fx.fake.PublishAttempts(), fx.fake.RateLimited())
	}
}

func TestPublishTimeoutAfterSendIsMaybeSent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.cfg.RequestTimeout = 300 * time.Millisecond
	n := fx.network(t)
	if _, ok := any(n).(bridge.Idempotent); ok {
		t.Fatal("X has no idempotency key: the network must not be Idempotent")
	}
	target := fx.tweet(t, "@earshot where is my bag", "")
	if err := n.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.fake.HangNextPost(1)
	_, err := n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: "We found it", IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.MaybeSent {
		t.Fatalf("timeout after send: %v, want PublishError with MaybeSent", err)
	}
	if len(fx.fake.Published()) != 1 {
		t.Errorf("fake shows %d published, want 1 (it did go through)", len(fx.fake.Published()))
	}
	if got := fx.obs.Count("x publish error"); got != 1 {
		t.Errorf("publish attempts observed as error: %d, want 1", got)
	}
	// Not sent at all: refused before sending, no attempt reached X.
	before := fx.fake.PublishAttempts()
	_, err = n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: strings.Repeat("東", 141), IdempotencyKey: "k2"})
	if errors.As(err, &pe); err == nil || pe.Retryable || !strings.Contains(pe.Reason, "282") || !strings.Contains(pe.Reason, "280") {
		t.Errorf("over-long CJK: %v, want a permanent refusal naming 282 of 280", err)
	}
	if fx.fake.PublishAttempts() != before {
		t.Error("an over-long text reached X")
	}
	// X's counter, not a looser one: a URL path ends at CJK, so this is 357,
	// not 23 (issue #15, finding 7).
	_, err = n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: "https://example.com/" + strings.Repeat("漢", 167), IdempotencyKey: "k3"})
	if errors.As(err, &pe); err == nil || pe.Retryable || !strings.Contains(pe.Reason, "357") {
		t.Errorf("URL then CJK: %v, want a permanent refusal naming 357", err)
	}
	// A character X refuses in a post, invisible to staff: refused with its name.
	_, err = n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: "We found it\uFEFF", IdempotencyKey: "k4"})
	if errors.As(err, &pe); err == nil || pe.Retryable || !strings.Contains(pe.Reason, "U+FEFF") {
		t.Errorf("U+FEFF: %v, want a permanent refusal naming U+FEFF", err)
	}
	if fx.fake.PublishAttempts() != before {
		t.Error("a text X refuses reached X")
	}
}

func TestRefreshTokenRotationIsPersisted(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ctx := context.Background()
	n1 := fx.network(t)
	if err := n1.Check(ctx); err != nil {
		t.Fatal(err)
	}
	read := func() tokenFile {
		var tf tokenFile
		b, err := os.ReadFile(filepath.Join(fx.dir, "x-token.json"))
		if err != nil || json.Unmarshal(b, &tf) != nil {
			t.Fatalf("token file: %v", err)
		}
		fi, _ := os.Stat(filepath.Join(fx.dir, "x-token.json"))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
		}
		return tf
	}
	if tf := read(); tf.RefreshToken != "x-refresh-1" || tf.AccessToken != "x-access-1" || tf.Expiry.IsZero() {
		t.Fatalf("after the first refresh the file holds %+v", tf)
	}
	// A restart with the same (now dead) configured token continues the chain from the file.
	fx.fake.ExpireAccessTokens()
	n2 := fx.network(t)
	if err := n2.Check(ctx); err == nil {
		t.Fatal("a check with an expired access token passed")
	}
	if err := n2.Check(ctx); err != nil {
		t.Fatalf("after the 401 the next request must refresh: %v", err)
	}
	if tf := read(); tf.RefreshToken != "x-refresh-2" || fx.fake.RefreshToken() != "x-refresh-2" {
		t.Fatalf("refresh chain: file %+v, fake %s", tf, fx.fake.RefreshToken())
	}
	// Proactive refresh: a token about to expire is refreshed before use.
	n3 := fx.network(t)
	n3.api.auth.(*oauth2Auth).tok.Expiry = time.Now().Add(30 * time.Second)
	if err := n3.Check(ctx); err != nil || fx.fake.Refreshes() != 3 {
		t.Fatalf("proactive refresh: %v, refreshes %d", err, fx.fake.Refreshes())
	}
	// A newly configured refresh token (re-authorized) wins over the file.
	fx.cfg.RefreshToken = "operator-new-token"
	n4 := fx.network(t)
	if got := n4.api.auth.(*oauth2Auth).tok.RefreshToken; got != "operator-new-token" {
		t.Errorf("new configured token ignored: chain uses %q", got)
	}
	err := n4.Check(ctx)
	if err == nil || strings.Contains(err.Error(), "operator-new-token") || strings.Contains(err.Error(), clientSecret) {
		t.Errorf("refusal of an unknown refresh token: %v (must fail without echoing secrets)", err)
	}
}

func TestOAuth1(t *testing.T) {
	t.Parallel()
	f := xfake.New(xfake.Options{ConsumerKey: "ck", Token: "at-oauth1"})
	t.Cleanup(f.Close)
	ana := f.AddUser("ana", "Ana", 1)
	tw, _ := f.Tweet(ana.ID, "@earshot hi", xfake.TweetOptions{})
	n, err := New(Config{APIURL: f.URL(), ConsumerKey: "ck", ConsumerSecret: "cs-secret", AccessToken: "at-oauth1", AccessTokenSecret: "ats-secret"},
		bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(context.Background(), bridge.Reply{InReplyTo: tw.ID, To: bridge.Author{ID: ana.ID}, Text: "hello", IdempotencyKey: "k"}); err != nil {
		t.Fatalf("publish with OAuth 1.0a: %v", err)
	}
}

func TestRulesSyncedFromConfig(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund", "delayed train")
	// A stale rule of ours and a rule owned by another tool.
	stale := fx.network(t)
	stale.cfg.Keywords = []string{"old keyword"}
	if err := stale.syncRules(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := fx.network(t)
	run(t, n)
	var got []string
	for _, r := range fx.fake.Rules() {
		got = append(got, r.Value+"|"+r.Tag)
	}
	want := `refund|earshot,"delayed train"|earshot`
	if strings.Join(got, ",") != want {
		t.Errorf("rules %v, want %s", got, want)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{},
		{APIURL: "ftp://x", AccessToken: "a"},
		{RefreshToken: "r"},
		{ConsumerKey: "k", ConsumerSecret: "s-secret"},
		{ConsumerKey: "k", ConsumerSecret: "s-secret", AccessToken: "a", AccessTokenSecret: "b", ClientID: "c"},
		{AccessToken: "a", Keywords: []string{" "}},
	} {
		_, err := New(c, bridge.Deps{})
		if err == nil {
			t.Errorf("New(%+v) accepted", c)
		} else if strings.Contains(err.Error(), "s-secret") {
			t.Errorf("error echoes a secret: %v", err)
		}
	}
}

func TestDirectMessagesBothWays(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.cfg.DirectMessages = true
	early := fx.fake.SendDM(fx.ana.ID, fx.fake.Us().ID, "a DM from before we started")
	n := fx.network(t)
	in, stop := run(t, n)
	first := in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "@earshot my card was charged twice", "")))
	ref, err := n.Publish(context.Background(), bridge.Reply{Case: "E-5", Private: true, To: first.Author, Text: "Please send your booking number here", IdempotencyKey: "dm1"})
	if err != nil {
		t.Fatal(err)
	}
	d := fx.fake.SendDM(fx.ana.ID, fx.fake.Us().ID, "It is ABC123")
	p := in.WaitPost(t, 5*time.Second, byID("dm:"+d.ID))
	if !p.Direct || p.Author.ID != fx.ana.ID || p.Author.Handle != "ana_l" || p.Conversation != "dm:"+d.ConversationID || p.Text != "It is ABC123" {
		t.Errorf("DM post %+v", p)
	}
	stop()
	d2 := fx.fake.SendDM(fx.ana.ID, fx.fake.Us().ID, "hello?")
	in2, _ := run(t, fx.network(t))
	in2.WaitPost(t, 5*time.Second, byID("dm:"+d2.ID))
	time.Sleep(100 * time.Millisecond)
	all := append(in.Posts(), in2.Posts()...)
	checkOnce(t, all)
	for _, p := range all {
		if p.ID == "dm:"+early.ID || p.ID == "dm:"+ref.ID {
			t.Errorf("delivered %s (%q): the DM from before the start and our own DM must not come in", p.ID, p.Text)
		}
	}
}

func TestSilentStreamIsReconnected(t *testing.T) {
	t.Parallel()
	f := xfake.New(xfake.Options{KeepAlive: time.Hour}) // no keep-alives: the stream looks dead
	t.Cleanup(f.Close)
	events := f.Subscribe()
	ana := f.AddUser("ana", "Ana", 1)
	n, err := New(Config{APIURL: f.URL(), AccessToken: "x-access-0", Keywords: []string{"refund"}, PollInterval: time.Second,
		StallTimeout: 200 * time.Millisecond}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.backoffMin, n.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	in, _ := run(t, n)
	opens := 0
	deadline := time.After(5 * time.Second)
	for opens < 3 {
		select {
		case e := <-events:
			if e.Kind == "stream_open" {
				opens++
			}
		case <-deadline:
			t.Fatalf("the stream was opened %d times; a silent stream must be reconnected", opens)
		}
	}
	// Still working: a keyword post arrives (through the stream or the gap fill).
	tw, _ := f.Tweet(ana.ID, "refund!", xfake.TweetOptions{})
	in.WaitPost(t, 5*time.Second, byID(tw.ID))
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund")
	var buf connectortest.LogBuffer
	n, err := New(fx.cfg, bridge.Deps{DataDir: fx.dir, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	n.backoffMin, n.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	fx.fake.FailReads(500, 3, 0, false)
	fx.fake.FailReads(429, 2, time.Second, true)
	in, _ := run(t, n)
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "@earshot hello", "")))
	fx.fake.ExpireAccessTokens()
	fx.fake.DropStreams()
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "@earshot again", "")))
	for _, s := range []string{clientSecret, "x-refresh-", "x-access-"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("logs contain %q:\n%s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "HTTP 500") {
		t.Errorf("the failures were not logged at all:\n%s", buf.String())
	}
}

func TestDuplicateContentIsPermanentWithReason(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	target := fx.tweet(t, "@earshot hi", "")
	r := bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: "Thanks!", IdempotencyKey: "k"}
	if _, err := n.Publish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	_, err := n.Publish(context.Background(), r)
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "same text twice") {
		t.Errorf("duplicate: %v, want a permanent refusal explaining X's duplicate rule", err)
	}
	if got := fx.obs.Count("x publish ok") + fx.obs.Count("x publish error"); got != 2 {
		t.Errorf("observed %d publish attempts, want 2", got)
	}
	// A reply to a tweet that does not exist: the problem's detail reaches staff.
	_, err = n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: "1", To: bridge.Author{ID: fx.ana.ID}, Text: "x", IdempotencyKey: "k2"})
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "deleted or is not visible") {
		t.Errorf("reply to a missing tweet: %v", err)
	}
}

func BenchmarkDecodeLine(b *testing.B) {
	line := []byte(`{"data":{"id":"1860000000000000123","text":"my train is delayed again &amp; no refund","author_id":"99","conversation_id":"1860000000000000123","created_at":"2026-11-23T10:00:00.000Z","lang":"en","entities":{"mentions":[{"start":0,"end":8,"username":"earshot"}]}},"includes":{"users":[{"id":"99","username":"ana","name":"Ana","profile_image_url":"https://x/img.png","public_metrics":{"followers_count":42}}]},"matching_rules":[{"id":"5","tag":"earshot"}]}`)
	for b.Loop() {
		if _, _, err := decodeLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

func TestForbiddenGapFillDoesNotReconnectForever(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund")
	fx.fake.DisableSearch(true)
	events := fx.fake.Subscribe()
	n := fx.network(t)
	in, _ := run(t, n)
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "refund one", "")))
	fx.fake.DropStreams()
	connectortest.WaitFor(t, 5*time.Second, "reconnect", func() bool { return fx.fake.Streams() > 0 })
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "refund two", "")))
	time.Sleep(300 * time.Millisecond)
	opens := 0
	for len(events) > 0 {
		if e := <-events; e.Kind == "stream_open" {
			opens++
		}
	}
	if opens != 2 {
		t.Errorf("stream opened %d times, want 2 (connect, one reconnect)", opens)
	}
}

func TestFailedPageMidGapDeliversNothingAndKeepsSinceID(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	me, err := n.ensureMe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n.state.Primed, n.state.SinceID = true, fx.tweet(t, "@earshot baseline", "")
	var gap []string
	for i := range 150 {
		gap = append(gap, fx.tweet(t, fmt.Sprintf("@earshot %d", i), ""))
	}
	in := connectortest.NewRecordingInbox()
	fx.fake.FailNextPage(503)
	if err := n.pollMentions(context.Background(), in, me); err == nil {
		t.Fatal("a failed second page went unnoticed")
	}
	if len(in.Posts()) != 0 || n.state.SinceID == gap[len(gap)-1] {
		t.Fatalf("after a failed page: %d delivered, since_id %s; want none and the old since_id", len(in.Posts()), n.state.SinceID)
	}
	if err := n.pollMentions(context.Background(), in, me); err != nil {
		t.Fatal(err)
	}
	got := in.Posts()
	if len(got) != len(gap) || got[0].ID != gap[0] || got[len(got)-1].ID != gap[len(gap)-1] || n.state.SinceID != gap[len(gap)-1] {
		t.Errorf("second poll delivered %d (want %d, oldest first) and since_id %s", len(got), len(gap), n.state.SinceID)
	}
}

func TestListenRefreshesAfterA401AndGivesUpOnDeadCredentials(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n1 := fx.network(t)
	if err := n1.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.fake.ExpireAccessTokens() // the saved access token now gets 401; the refresh token still works
	n := fx.network(t)
	in, _ := run(t, n)
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "@earshot after a refresh", "")))

	dead := newFixture(t)
	dead.cfg.RefreshToken, dead.cfg.AccessToken = "revoked-token", "stale-access"
	err := dead.network(t).Listen(context.Background(), connectortest.NewRecordingInbox())
	if err == nil || strings.Contains(err.Error(), "revoked-token") || strings.Contains(err.Error(), "stale-access") {
		t.Errorf("Listen with dead credentials: %v; want an error without secrets", err)
	}
}

// A stream endpoint that takes the connection and never answers is given
// up after the request timeout and connected again, instead of blocking
// the keyword listener forever.
func TestHungStreamConnectIsGivenUp(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "refund")
	fx.cfg.RequestTimeout = 300 * time.Millisecond
	fx.fake.HangStreamConnects(1)
	n := fx.network(t)
	in, _ := run(t, n) // waits for the stream to be connected
	in.WaitPost(t, 5*time.Second, byID(fx.tweet(t, "refund please", "")))
}

// X rotates the refresh token when it takes the request. A caller that
// gives up while the answer is on its way must not lose the new token:
// the refresh runs to its end and is saved, and a restart goes on from it.
func TestRefreshOutlivesACallerThatGivesUp(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	fx.fake.SlowTokenAnswers(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_ = n.Check(ctx) // the caller's deadline passes while X answers
	cancel()
	fx.fake.SlowTokenAnswers(0)
	var tf tokenFile
	b, err := os.ReadFile(filepath.Join(fx.dir, "x-token.json"))
	if err != nil || json.Unmarshal(b, &tf) != nil {
		t.Fatalf("no token file after the refresh: %v", err)
	}
	if tf.RefreshToken != fx.fake.RefreshToken() {
		t.Fatalf("saved refresh token %q, X's valid one %q: the rotated token was lost", tf.RefreshToken, fx.fake.RefreshToken())
	}
	if err := fx.network(t).Check(context.Background()); err != nil {
		t.Errorf("a restart after the abandoned refresh: %v", err)
	}
}

// A token refresh is a request of its own: its write must not make the
// publication look sent when the post itself never left.
func TestRefreshBeforeAnUnsentPostIsNotMaybeSent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	dead := xfake.New(xfake.Options{})
	deadURL := dead.URL()
	dead.Close() // nothing listens there any more: the post cannot be written
	fx.cfg.TokenURL = fx.fake.URL() + "/2/oauth2/token"
	fx.cfg.APIURL = deadURL
	n := fx.network(t)
	n.me = &user{ID: fx.fake.Us().ID, Username: "earshot"}
	_, err := n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: "1", To: bridge.Author{ID: fx.ana.ID}, Text: "hello", IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.MaybeSent {
		t.Fatalf("publish that never left after a refresh: %v (MaybeSent=%v); want retryable, not maybe sent", err, pe != nil && pe.MaybeSent)
	}
	if fx.fake.Refreshes() != 1 {
		t.Errorf("refreshes = %d, want 1 (the refresh did happen)", fx.fake.Refreshes())
	}
}

// Only the post itself can have gone out: a look-up before it that got no
// answer (our account, fetched once) published nothing and may be retried.
func TestLookupTimeoutBeforeThePostIsNotMaybeSent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.cfg.RequestTimeout = 200 * time.Millisecond
	n := fx.network(t)
	target := fx.tweet(t, "@earshot hello?", "")
	fx.fake.SetLatency(2 * time.Second)
	_, err := n.Publish(context.Background(), bridge.Reply{Case: "E-1", InReplyTo: target, To: bridge.Author{ID: fx.ana.ID}, Text: "Hi", IdempotencyKey: "k"})
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.MaybeSent {
		t.Fatalf("users/me timed out before any post: %v; want retryable and not maybe sent", err)
	}
	if fx.fake.PublishAttempts() != 0 {
		t.Errorf("X saw %d publish attempts, want 0", fx.fake.PublishAttempts())
	}
}

// An incident's public status thread on X: a broadcast without a post to
// answer is a top-level post; the next answers our own latest one. A
// reply to a customer still needs the post it answers.
func TestBroadcastStatusThread(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.network(t)
	ctx := context.Background()
	if _, err := n.Publish(ctx, bridge.Reply{Network: Name, Text: "no target", IdempotencyKey: "k0"}); err == nil {
		t.Error("a reply without the post it answers was published")
	}
	first, err := n.Publish(ctx, bridge.Reply{Network: Name, Text: "Broadband is down around Braga.", Broadcast: true, IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(ctx, bridge.Reply{Network: Name, Text: "Engineers on site.", Broadcast: true, InReplyTo: first.ID, IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	got := fx.fake.Published()
	if len(got) != 2 || got[0].InReplyTo != "" || got[1].InReplyTo != first.ID {
		t.Errorf("published %+v", got)
	}
}

// X refuses a post holding U+FFFE, U+FEFF or U+FFFF whatever its length
// (twitter-text's invalid characters): the limits say so, so the bridge's
// gate refuses it before the undo window; a direct message takes them.
func TestLimitsRefuseInvalidCharacters(t *testing.T) {
	lim := (&Network{}).Limits()
	for _, c := range []rune{'\uFFFE', '\uFEFF', '\uFFFF'} {
		text := "Sorry " + string(c) + "for the wait"
		if why := lim.Refuse(text, false); !strings.Contains(why, fmt.Sprintf("%U", c)) {
			t.Errorf("%U in a post: %q", c, why)
		}
		if why := lim.Refuse(text, true); why != "" {
			t.Errorf("%U in a direct message refused: %q", c, why)
		}
	}
	if why := lim.Refuse("Sorry for the wait", false); why != "" {
		t.Errorf("a plain post refused: %q", why)
	}
}
