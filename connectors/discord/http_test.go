package discord_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

var (
	testKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	testNow  = time.Unix(1795429800, 0)
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":1}`)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	sig := discordfake.Sign(testKey, ts, body)
	if err := discord.VerifySignature(pub(testKey), ts, sig, body, testNow.Add(30*time.Second)); err != nil {
		t.Fatalf("a good signature refused: %v", err)
	}
	cases := []struct {
		name, ts, sig string
		key           ed25519.PublicKey
		body          []byte
		now           time.Time
	}{
		{"other key", ts, sig, pub(otherKey), body, testNow},
		{"stale", ts, sig, pub(testKey), body, testNow.Add(6 * time.Minute)},
		{"from the future", ts, sig, pub(testKey), body, testNow.Add(-6 * time.Minute)},
		{"missing timestamp", "", sig, pub(testKey), body, testNow},
		{"missing signature", ts, "", pub(testKey), body, testNow},
		{"tampered body", ts, sig, pub(testKey), []byte(`{"type":2}`), testNow},
		{"other timestamp", strconv.FormatInt(testNow.Unix()+1, 10), sig, pub(testKey), body, testNow},
		{"short signature", ts, sig[:10], pub(testKey), body, testNow},
		{"not hex", ts, strings.Repeat("zz", 64), pub(testKey), body, testNow},
		{"garbage timestamp", "soon", sig, pub(testKey), body, testNow},
		{"no key", ts, sig, nil, body, testNow},
	}
	for _, c := range cases {
		if err := discord.VerifySignature(c.key, c.ts, c.sig, c.body, c.now); !errors.Is(err, discord.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", c.name, err)
		}
	}
}

// routeEnv is a desk with an injected clock and a known key, its route on
// a test server, and a log buffer.
type routeEnv struct {
	desk *discord.Desk
	srv  *httptest.Server
	logs *connectortest.LogBuffer
}

func newRouteEnv(t *testing.T, publicKey string) *routeEnv {
	t.Helper()
	logs := &connectortest.LogBuffer{}
	d, err := discord.New(discord.Config{Token: botToken, GuildID: "1", PublicKey: publicKey, APIURL: "http://127.0.0.1:9"},
		bridge.Deps{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := connectortest.ServeRoutes(t, d)
	return &routeEnv{desk: d, srv: srv, logs: logs}
}

func (e *routeEnv) post(t *testing.T, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+discord.InteractionsPath, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

func signed(key ed25519.PrivateKey, at time.Time, body string) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return map[string]string{"X-Signature-Timestamp": ts, "X-Signature-Ed25519": discordfake.Sign(key, ts, []byte(body))}
}

const pingBody = `{"id":"1","application_id":"2","type":1,"token":"t","version":1}`

func TestInteractionsRoute(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t, discordfake.PublicKeyHex(testKey))
	command := `{"id":"9","application_id":"2","type":2,"token":"itoken","channel_id":"5","guild_id":"1",` +
		`"member":{"user":{"id":"3","username":"ana"},"roles":[]},"data":{"id":"7","name":"claim","type":1}}`
	big := `{"type":1,"pad":"` + strings.Repeat("a", 2<<20) + `"}`
	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		want   string
	}{
		{"ping", pingBody, signed(testKey, testNow, pingBody), 200, `{"type":1}`},
		{"ping signed by another key", pingBody, signed(otherKey, testNow, pingBody), 401, "invalid request signature"},
		{"stale timestamp", pingBody, signed(testKey, testNow.Add(-6*time.Minute), pingBody), 401, "invalid request signature"},
		{"timestamp from the future", pingBody, signed(testKey, testNow.Add(6*time.Minute), pingBody), 401, "invalid request signature"},
		{"no headers", pingBody, nil, 401, "invalid request signature"},
		{"tampered body", pingBody + " ", signed(testKey, testNow, pingBody), 401, "invalid request signature"},
		{"oversized body", big, signed(testKey, testNow, big), 413, "larger than"},
		{"malformed JSON", `{"type":`, signed(testKey, testNow, `{"type":`), 400, "malformed"},
		{"wrong field types", `{"type":"one"}`, signed(testKey, testNow, `{"type":"one"}`), 400, "malformed"},
		{"unknown type", `{"type":99}`, signed(testKey, testNow, `{"type":99}`), 400, "unknown interaction type"},
		{"command without a token", `{"id":"9","type":2,"channel_id":"5","data":{"name":"claim"}}`,
			signed(testKey, testNow, `{"id":"9","type":2,"channel_id":"5","data":{"name":"claim"}}`), 400, "lacks"},
		{"command while not listening", command, signed(testKey, testNow, command), 503, "not listening"},
	}
	for _, c := range cases {
		status, got := e.post(t, c.body, c.hdr)
		if status != c.status || !strings.Contains(got, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, status, got, c.status, c.want)
		}
	}
	if strings.Contains(e.logs.String(), botToken) {
		t.Error("the bot token appears in the logs")
	}
}

// Without a public key the endpoint is closed: Discord cannot use it, and
// nobody else either.
func TestInteractionsRouteWithoutKey(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t, "")
	if status, got := e.post(t, pingBody, signed(testKey, testNow, pingBody)); status != 401 || !strings.Contains(got, "public_key") {
		t.Errorf("unconfigured endpoint answered %d %q", status, got)
	}
}

// gateInbox holds every command until released.
type gateInbox struct {
	*connectortest.RecordingInbox
	release chan struct{}
}

// A slow command is answered "thinking…" in time, then the private answer
// replaces it; a public answer goes to the thread instead. Over the gateway
// and over the HTTP endpoint.
func testDeferred(t *testing.T, o envOpts) {
	o.deferAfter = 50 * time.Millisecond
	e := newEnv(t, o)
	in := &gateInbox{RecordingInbox: connectortest.NewRecordingInbox(), release: make(chan struct{})}
	answer := bridge.Response{OK: true, Private: true, Text: "claimed after a while"}
	var mu sync.Mutex
	in.Respond = func(bridge.Invocation) bridge.Response {
		<-in.release
		mu.Lock()
		defer mu.Unlock()
		return answer
	}
	listen(t, e.desk, in)
	th, err := e.desk.OpenThread(t.Context(), e.channel, connectortest.SuiteCase("E-9"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.fake.Press(staffID, e.cardChannel(th), th.ID, "earshot:claim")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the deferred answer", func() bool {
		ia, _ := e.fake.Interaction(id)
		return ia.Response == 5 && ia.Ephemeral
	})
	in.release <- struct{}{}
	connectortest.WaitFor(t, 10*time.Second, "the private answer in place of thinking…", func() bool {
		eph := e.fake.Ephemerals(staffID)
		return len(eph) == 1 && eph[0].Content == "claimed after a while"
	})
	if ia, _ := e.fake.Interaction(id); ia.Late {
		t.Error("the interaction was answered after its deadline")
	}

	mu.Lock()
	answer = bridge.Response{OK: true, Private: false, Text: "Priority set to urgent"}
	mu.Unlock()
	if _, err := e.fake.Slash(staffID, th.ID, "priority", map[string]string{"args": "urgent"}); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the second deferral", func() bool { return len(e.fake.Ephemerals(staffID)) == 2 })
	in.release <- struct{}{}
	connectortest.WaitFor(t, 10*time.Second, "the public answer in the thread", func() bool {
		for _, m := range e.fake.Messages(th.ID) {
			if m.Content == "Priority set to urgent" {
				return true
			}
		}
		return false
	})
	connectortest.WaitFor(t, 10*time.Second, "thinking… gone", func() bool { return len(e.fake.Ephemerals(staffID)) == 1 })
}

func TestDeferredGateway(t *testing.T) { t.Parallel(); testDeferred(t, envOpts{}) }
func TestDeferredHTTP(t *testing.T)    { t.Parallel(); testDeferred(t, envOpts{http: true}) }
