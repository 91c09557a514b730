package slackfake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

func newFake(t *testing.T) *slackfake.Fake {
	f, err := slackfake.New(slackfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func call(t *testing.T, f *slackfake.Fake, method string, form url.Values) (*http.Response, string) {
	t.Helper()
	form.Set("token", f.Options().BotToken)
	resp, err := http.PostForm(f.APIURL()+method, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPerChannelRateLimit(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.SetPostRate(1, 2, 0)
	for i := range 2 {
		if resp, body := call(t, f, "chat.postMessage", url.Values{"channel": {"C1"}, "text": {"hi"}}); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
			t.Fatalf("post %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, _ := call(t, f, "chat.postMessage", url.Values{"channel": {"C1"}, "text": {"hi"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("third post: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another channel has its own bucket.
	if resp, _ := call(t, f, "chat.postMessage", url.Values{"channel": {"C2"}, "text": {"hi"}}); resp.StatusCode != 200 {
		t.Errorf("other channel: %d", resp.StatusCode)
	}
	if f.RateLimited() != 1 {
		t.Errorf("RateLimited() = %d", f.RateLimited())
	}
}

func TestWrongTokenAndErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	resp, err := http.PostForm(f.APIURL()+"auth.test", url.Values{"token": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "invalid_auth") {
		t.Errorf("wrong token answered %s", b)
	}
	if _, body := call(t, f, "chat.update", url.Values{"channel": {"C1"}, "ts": {"1.1"}, "text": {"x"}}); !strings.Contains(body, "message_not_found") {
		t.Errorf("update of nothing answered %s", body)
	}
	f.FailNext(http.StatusInternalServerError, 1, 0)
	if resp, _ := call(t, f, "chat.postMessage", url.Values{"channel": {"C1"}, "text": {"x"}}); resp.StatusCode != 500 {
		t.Errorf("injected failure answered %d", resp.StatusCode)
	}
}

// In HTTP mode the fake signs what it delivers exactly as Slack does.
func TestHTTPDeliveryIsSigned(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := slack.VerifySignature(f.Options().SigningSecret, r.Header.Get("X-Slack-Request-Timestamp"),
			r.Header.Get("X-Slack-Signature"), body, time.Now())
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Errorf("%s: %v", r.URL.Path, err)
		}
		got = append(got, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	f.AddUser(slackfake.User{ID: "U1", Name: "ana"})
	events := f.Subscribe()
	f.SetHTTPTarget(srv.URL)
	ts := f.Say("U1", "C1", "", "hello")
	f.Slash("U1", "C1", "/claim", "E-1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if strings.Join(got, ",") != "/slack/events,/slack/commands" {
		t.Errorf("delivered to %v", got)
	}
	mu.Unlock()
	if ev := <-events; ev.Kind != "message" || ev.TS != ts {
		t.Errorf("first change %+v, want the message", ev)
	}
}
