package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	w   *demo.World
	sb  *Sandbox
	srv *httptest.Server
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	w, err := demo.Start()
	if err != nil {
		t.Fatal(err)
	}
	sb := New(w, o)
	mux := http.NewServeMux()
	for p, h := range sb.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.RegisterOnShutdown(sb.Shutdown)
	srv.Start()
	t.Cleanup(func() {
		sb.Shutdown()
		srv.Close()
		w.Close()
	})
	return &fixture{w: w, sb: sb, srv: srv}
}

func (f *fixture) do(t *testing.T, method, path, ctype, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return f.do(t, http.MethodPost, path, "application/json", body, nil)
}

func TestPageAndAssetsAreServed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	code, body := f.do(t, http.MethodGet, "/", "", "", nil)
	if code != 200 || !strings.Contains(body, "<title>Earshot sandbox</title>") {
		t.Fatalf("GET / = %d %.200s", code, body)
	}
	for _, p := range []string{"/static/app.js", "/static/style.css"} {
		if code, _ := f.do(t, http.MethodGet, p, "", "", nil); code != 200 {
			t.Errorf("GET %s = %d", p, code)
		}
	}
	if code, _ := f.do(t, http.MethodGet, "/nothing-here", "", "", nil); code != 404 {
		t.Errorf("GET /nothing-here = %d, want 404", code)
	}
	code, body = f.do(t, http.MethodGet, "/api/cast", "", "", nil)
	var cast castView
	if code != 200 || json.Unmarshal([]byte(body), &cast) != nil || len(cast.Staff) == 0 || len(cast.Customers["x"]) == 0 ||
		cast.UndoSeconds != demo.DefaultUndoWindow.Seconds() || len(cast.SlashCommands) == 0 {
		t.Errorf("GET /api/cast = %d %.300s", code, body)
	}
}

func TestRequestsFromElsewhereAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	body := `{"network":"x","handle":"ana","text":"hi"}`
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"a foreign host name (DNS rebinding)", map[string]string{"Host": "evil.example:8080"}, http.StatusMisdirectedRequest},
		{"another origin", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"a cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		if code, _ := f.do(t, http.MethodPost, "/api/public/post", "application/json", body, tc.hdr); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	// Exposed on purpose (a container), any host name is accepted; other origins still are not.
	exposed := newFixture(t, Options{AnyHost: true})
	if code, _ := exposed.do(t, http.MethodPost, "/api/public/post", "application/json", body, map[string]string{"Host": "earshot.internal:8080"}); code != 200 {
		t.Errorf("AnyHost: a foreign host name = %d, want 200", code)
	}
	if code, _ := exposed.do(t, http.MethodPost, "/api/public/post", "application/json", body, map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Errorf("AnyHost: another origin = %d, want 403", code)
	}
	if n, _, _ := f.w.Timeline(demo.X, 10); len(n) != 0 {
		t.Errorf("a refused request posted: %+v", n)
	}
	// The page's own requests pass.
	code, _ := f.do(t, http.MethodPost, "/api/public/post", "application/json", body,
		map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"})
	if code != 200 {
		t.Errorf("same-origin post = %d", code)
	}
}

func TestEveryInputIsValidated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	big := `{"network":"x","handle":"ana","text":"` + strings.Repeat("a", maxBody) + `"}`
	for _, tc := range []struct {
		name, path, ctype, body string
		want                    int
		says                    string
	}{
		{"not JSON", "/api/public/post", "text/plain", `{}`, 415, "application/json"},
		{"an unknown field", "/api/public/post", "application/json", `{"network":"x","handle":"ana","text":"hi","admin":true}`, 400, "unknown field"},
		{"two objects", "/api/public/post", "application/json", `{"network":"x","handle":"ana","text":"hi"}{}`, 400, "after its JSON"},
		{"too large", "/api/public/post", "application/json", big, 413, "larger than"},
		{"an unknown network", "/api/public/post", "application/json", `{"network":"myspace","handle":"ana","text":"hi"}`, 400, "unknown network"},
		{"a bad handle", "/api/public/post", "application/json", `{"network":"x","handle":"Ana Lima","text":"hi"}`, 400, "handle"},
		{"an empty text", "/api/public/post", "application/json", `{"network":"x","handle":"ana","text":"  "}`, 400, "text"},
		{"over Mastodon's limit", "/api/public/post", "application/json", `{"network":"mastodon","handle":"ana","text":"` + strings.Repeat("a", 501) + `"}`, 422, "500"},
		{"a reply to nothing", "/api/public/post", "application/json", `{"network":"x","handle":"ana","text":"hi","in_reply_to":"42"}`, 404, "no such post"},
		{"a DM that replies", "/api/public/post", "application/json", `{"network":"x","handle":"ana","text":"hi","in_reply_to":"42","direct":true}`, 400, "direct message"},
		{"nobody acting", "/api/desk/say", "application/json", `{"desk":"slack","channel":"C01CARE","text":"hi"}`, 400, "acting as"},
		{"an unknown desk", "/api/desk/say", "application/json", `{"desk":"teams","channel":"C01CARE","as":"U01RUI","text":"hi"}`, 400, "unknown desk"},
		{"an unknown channel", "/api/desk/say", "application/json", `{"desk":"slack","channel":"C99","as":"U01RUI","text":"hi"}`, 400, "unknown channel"},
		{"an unknown person", "/api/desk/say", "application/json", `{"desk":"slack","channel":"C01CARE","as":"U99","text":"hi"}`, 400, "unknown staff"},
		{"a missing thread", "/api/desk/say", "application/json", `{"desk":"slack","channel":"C01CARE","thread":"1.000001","as":"U01RUI","text":"hi"}`, 404, "no such message"},
		{"an edit of nothing", "/api/desk/edit", "application/json", `{"desk":"slack","channel":"C01CARE","id":"1.000001","as":"U01RUI","text":"hi"}`, 404, "no such message"},
		{"a press of nothing", "/api/desk/press", "application/json", `{"desk":"slack","channel":"C01CARE","id":"1.000001","as":"U01RUI","action":"earshot:claim"}`, 404, "no such message"},
		{"a slash without /", "/api/desk/slash", "application/json", `{"desk":"slack","channel":"C01CARE","as":"U01RUI","line":"claim"}`, 400, "starts with /"},
		{"an unregistered slash", "/api/desk/slash", "application/json", `{"desk":"slack","channel":"C01CARE","as":"U01RUI","line":"/kick everyone"}`, 400, "not a slash command"},
	} {
		code, body := f.do(t, http.MethodPost, tc.path, tc.ctype, tc.body, nil)
		if code != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, code, strings.TrimSpace(body), tc.want, tc.says)
		}
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/public/myspace", 404},
		{"/api/desk/slack/C99", 404},
		{"/api/desk/slack/C01CARE?as=U99", 400},
		{"/api/desk/slack/C01CARE/thread/1.000001", 404},
		{"/api/locate", 400},
		{"/api/locate?url=https://example.com/x", 404},
	} {
		if code, body := f.do(t, http.MethodGet, tc.path, "", "", nil); code != tc.want {
			t.Errorf("GET %s = %d %s, want %d", tc.path, code, body, tc.want)
		}
	}
}

func TestCustomerPostShowsOnTheTimeline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	code, body := f.post(t, "/api/public/post", `{"network":"bluesky","handle":"newbie","text":"@earshot.fake.bsky my router is blinking red"}`)
	if code != 200 {
		t.Fatalf("post = %d %s", code, body)
	}
	var p demo.PublicPost
	_ = json.Unmarshal([]byte(body), &p)
	code, body = f.do(t, http.MethodGet, "/api/public/bluesky", "", "", nil)
	var v publicView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Total != 1 || v.Posts[0].ID != p.ID || v.Posts[0].Author != "@newbie.fake.bsky" {
		t.Errorf("timeline = %d %s", code, body)
	}
	code, body = f.post(t, "/api/public/post", `{"network":"bluesky","handle":"newbie","text":"me again","in_reply_to":"`+p.ID+`"}`)
	if code != 200 || !strings.Contains(body, p.ID) {
		t.Errorf("reply = %d %s", code, body)
	}
}

// readEvent reads one SSE event (its name and data) from r.
func readEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (got %q %q)", err, name, data)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func openStream(t *testing.T, f *fixture) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, bufio.NewReader(resp.Body)
}

func TestLiveUpdatesCoalesceAndEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxStreams: 1, Coalesce: 50 * time.Millisecond})
	_, r := openStream(t, f)
	if name, _ := readEvent(t, r); name != "hello" {
		t.Fatalf("first event %q, want hello", name)
	}
	// A second page is refused while the only slot is taken.
	resp, err := http.Get(f.srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream over the limit = %d, want 503", resp.StatusCode)
	}
	for i := 0; i < 20; i++ {
		if code, body := f.post(t, "/api/public/post", `{"network":"mastodon","handle":"ana","text":"@earshot train delayed"}`); code != 200 {
			t.Fatalf("post = %d %s", code, body)
		}
	}
	name, data := readEvent(t, r)
	var c demo.Changes
	if name != "change" || json.Unmarshal([]byte(data), &c) != nil || len(c.Public) != 1 || c.Public[0] != "mastodon" {
		t.Errorf("event %q %s", name, data)
	}
	// Shutdown ends the stream.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, r)
	}()
	f.sb.Shutdown()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end at Shutdown")
	}
	if resp, err := http.Get(f.srv.URL + "/api/events"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a stream after Shutdown = %d, want 503", resp.StatusCode)
		}
	}
}

func TestStreamEndsWhenTheClientGoes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxStreams: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := readEvent(t, bufio.NewReader(resp.Body)); name != "hello" {
		t.Fatalf("first event %q", name)
	}
	cancel()
	resp.Body.Close()
	// The slot frees up: a new stream is accepted (polling: the server
	// notices the closed connection on its own schedule).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(f.srv.URL + "/api/events")
		if err != nil {
			t.Fatal(err)
		}
		code := resp.StatusCode
		resp.Body.Close()
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream slot was not freed: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
