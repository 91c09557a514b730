package xfake

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, s *Server, method, path, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestRefreshRotatesAndOldTokensDie(t *testing.T) {
	s := New(Options{TokenTTL: time.Hour})
	defer s.Close()
	form := func(rt string) *http.Response {
		resp, err := http.PostForm(s.URL()+"/2/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"earshot-client"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if form("x-refresh-0").StatusCode != 200 || s.RefreshToken() != "x-refresh-1" {
		t.Fatal("first refresh failed")
	}
	if form("x-refresh-0").StatusCode != 400 {
		t.Error("a used refresh token still works")
	}
	if r, _ := do(t, s, "GET", "/2/users/me", "x-access-1", ""); r.StatusCode != 200 {
		t.Errorf("new access token: %d", r.StatusCode)
	}
	if r, _ := do(t, s, "GET", "/2/users/me", "nope", ""); r.StatusCode != 401 {
		t.Errorf("bad token: %d", r.StatusCode)
	}
}

func TestCreateTweetChecksWeightedLengthAndReplyTarget(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ok := strings.Repeat("東", 140)
	if r, m := do(t, s, "POST", "/2/tweets", "x-access-0", `{"text":"`+ok+`"}`); r.StatusCode != 201 || m["data"] == nil {
		t.Errorf("140 CJK (280 weighted): %d %v", r.StatusCode, m)
	}
	if r, _ := do(t, s, "POST", "/2/tweets", "x-access-0", `{"text":"`+ok+`a"}`); r.StatusCode != 403 {
		t.Errorf("281 weighted: %d, want 403", r.StatusCode)
	}
	if r, m := do(t, s, "POST", "/2/tweets", "x-access-0", `{"text":"hi","reply":{"in_reply_to_tweet_id":"1"}}`); r.StatusCode != 400 || m["detail"] == nil {
		t.Errorf("reply to a missing tweet: %d %v, want a 400 problem", r.StatusCode, m)
	}
}

func TestRateLimitHeadersAndLegacyBody(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := New(Options{Now: func() time.Time { return now }})
	defer s.Close()
	s.FailReads(429, 1, 5*time.Second, true)
	r, m := do(t, s, "GET", "/2/users/me", "x-access-0", "")
	if r.StatusCode != 429 || r.Header.Get("x-rate-limit-reset") != strconv.FormatInt(now.Unix()+5, 10) || r.Header.Get("Retry-After") != "" {
		t.Errorf("429: %d headers %v", r.StatusCode, r.Header)
	}
	if errs, _ := m["errors"].([]any); len(errs) != 1 {
		t.Errorf("legacy body %v", m)
	}
}

func TestMentionsPagingAndEscaping(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ana := s.AddUser("ana", "Ana", 1)
	for i := range 12 {
		s.Tweet(ana.ID, "@earshot <"+strconv.Itoa(i)+"> & co", TweetOptions{})
	}
	_, m := do(t, s, "GET", "/2/users/"+s.Us().ID+"/mentions?max_results=10", "x-access-0", "")
	data := m["data"].([]any)
	meta := m["meta"].(map[string]any)
	if len(data) != 10 || meta["next_token"] == nil {
		t.Fatalf("first page: %d tweets, meta %v", len(data), meta)
	}
	if txt := data[0].(map[string]any)["text"].(string); txt != "@earshot &lt;11&gt; &amp; co" {
		t.Errorf("newest first and HTML-escaped: %q", txt)
	}
	_, m = do(t, s, "GET", "/2/users/"+s.Us().ID+"/mentions?max_results=10&pagination_token="+meta["next_token"].(string), "x-access-0", "")
	if len(m["data"].([]any)) != 2 {
		t.Errorf("second page %v", m)
	}
}

func TestStreamSendsKeepAlivesAndMatches(t *testing.T) {
	s := New(Options{KeepAlive: 20 * time.Millisecond})
	defer s.Close()
	ana := s.AddUser("ana", "Ana", 1)
	do(t, s, "POST", "/2/tweets/search/stream/rules", "x-access-0", `{"add":[{"value":"\"late train\"","tag":"earshot"}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/2/tweets/search/stream", nil)
	req.Header.Set("Authorization", "Bearer x-access-0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, _ := rd.ReadString('\n')
	if line != "\r\n" {
		t.Errorf("first line %q, want a keep-alive", line)
	}
	s.Tweet(ana.ID, "no match here", TweetOptions{})
	s.Tweet(ana.ID, "my LATE TRAIN again", TweetOptions{})
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.Contains(line, "LATE TRAIN") || !strings.Contains(line, `"matching_rules"`) {
			t.Errorf("line %q", line)
		}
		break
	}
}
