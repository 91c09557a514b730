// Package xfake is a stateful fake of the X API v2 on 127.0.0.1, speaking
// the real wire format and its quirks: users, the mentions timeline with
// since_id and pagination tokens (newest first), recent search, filtered
// stream rules and the NDJSON filtered stream with "\r\n" keep-alives, tweet
// creation (weighted length checked, reply targets checked, HTML entities
// escaped in text as X does), DMs, OAuth 2.0 refresh with rotating refresh
// tokens, x-rate-limit-* headers, 429s (problem JSON, or the legacy
// {"errors":[{"code":88}]} form), RFC 7807 problems, and 200s that carry
// partial errors.
//
// It is drivable as a person (Tweet, Reply, SendDM), inspectable (Tweets,
// Published, DMs, Rules, counters), has knobs (FailNext, FailReads,
// SetLatency, SetRateLimit, DropStreams, HangNextPost, HangStreamConnects,
// SlowTokenAnswers, PartialErrors) and a change hook
// (Subscribe). Safe for concurrent use; used by tests and `earshot demo`.
// OAuth 1.0a requests are accepted when they carry the configured consumer
// key and token (the signature itself is not recomputed).
package xfake

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
	"github.com/earshot-dev/earshot/connectors/x/xtext"
)

// Options configure a Server.
type Options struct {
	Username     string        // our account; default "earshot"
	ClientID     string        // OAuth 2.0 client id; default "earshot-client"
	AccessToken  string        // initial OAuth 2.0 access token; default "x-access-0"
	RefreshToken string        // initial refresh token; default "x-refresh-0"
	TokenTTL     time.Duration // lifetime of refreshed access tokens; default 2h
	// ConsumerKey and Token enable OAuth 1.0a requests with these credentials.
	ConsumerKey, Token string
	KeepAlive          time.Duration // stream keep-alive interval; default 20s
	Now                func() time.Time
}

// User is an account on the fake.
type User struct {
	ID        string
	Username  string
	Name      string
	Followers int
}

// Tweet is a post on the fake. Text is stored as written (unescaped).
type Tweet struct {
	ID              string
	AuthorID        string
	Text            string
	ConversationID  string
	InReplyTo       string // the tweet it replies to
	InReplyToUserID string
	Mentions        []string // usernames mentioned in Text, lowercase
	CreatedAt       time.Time
	Lang            string
}

// DM is a direct message.
type DM struct {
	ID             string
	ConversationID string
	SenderID       string
	RecipientID    string
	Text           string
	CreatedAt      time.Time
}

// Rule is a filtered stream rule.
type Rule struct {
	ID    string `json:"id"`
	Value string `json:"value"`
	Tag   string `json:"tag,omitempty"`
}

// Event tells a subscriber what changed.
type Event struct {
	Kind string // "tweet", "published", "dm", "rules", "stream_open", "stream_closed", "token"
	ID   string
}

// Server is the fake X. Close it when done.
type Server struct {
	srv  *httptest.Server
	opts Options
	us   User

	mu          sync.Mutex
	seq         uint64
	users       map[string]*User
	byName      map[string]*User
	tweets      []*Tweet
	byID        map[string]*Tweet
	dms         []DM
	rules       []Rule
	access      map[string]time.Time // valid access tokens -> expiry (zero: no expiry)
	refresh     string               // the one valid refresh token
	refreshes   int
	streams     map[*stream]bool
	feed        fakekit.Feed[Event]
	failWrite   fakekit.Failures[failure]
	failRead    fakekit.Failures[failure]
	hangNext    int
	hangStream  int
	slowToken   time.Duration
	latency     fakekit.Latency
	partial     bool
	noSearch    bool
	failPage    int // status for the next request of a page after the first
	attempts    int
	mentionReqs int
	windows     map[string]*window // by route pattern: budgets set with SetRateLimit
	limited     int                // 429s answered by a window's budget running out
	closed      chan struct{}
}

// window is one route's request budget, as X keeps one per endpoint and
// user: limit requests per period, counted from the first in the period.
type window struct {
	limit  int
	period time.Duration
	used   int
	reset  time.Time
}

type failure struct {
	status int
	wait   time.Duration
	legacy bool
}

type stream struct {
	out  chan []byte
	done chan struct{}
}

// New starts the fake on 127.0.0.1.
func New(o Options) *Server {
	if o.Username == "" {
		o.Username = "earshot"
	}
	if o.ClientID == "" {
		o.ClientID = "earshot-client"
	}
	if o.AccessToken == "" {
		o.AccessToken = "x-access-0"
	}
	if o.RefreshToken == "" {
		o.RefreshToken = "x-refresh-0"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 2 * time.Hour
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, seq: 1_860_000_000_000_000_000, users: map[string]*User{}, byName: map[string]*User{},
		byID: map[string]*Tweet{}, access: map[string]time.Time{o.AccessToken: {}}, refresh: o.RefreshToken,
		streams: map[*stream]bool{}, windows: map[string]*window{}, closed: make(chan struct{})}
	s.us = s.AddUser(o.Username, "Earshot Care", 1000)
	s.srv = httptest.NewServer(s.routes())
	return s
}

// URL is the API base URL ("http://127.0.0.1:port").
func (s *Server) URL() string { return s.srv.URL }

// Us is our account.
func (s *Server) Us() User { return s.us }

// Close ends streams and the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return
	default:
	}
	close(s.closed)
	s.feed.Close()
	s.mu.Unlock()
	s.srv.Close()
}

func (s *Server) nextIDLocked() string {
	s.seq += 1 + s.seq%7 // increasing, not contiguous, like snowflakes
	return strconv.FormatUint(s.seq, 10)
}

// AddUser creates an account.
func (s *Server) AddUser(username, name string, followers int) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{ID: s.nextIDLocked(), Username: username, Name: name, Followers: followers}
	s.users[u.ID] = u
	s.byName[strings.ToLower(username)] = u
	return *u
}

// Subscribe returns a channel of changes (buffered; dropped when full), closed by Close.
func (s *Server) Subscribe() <-chan Event { return s.feed.Subscribe() }

// ---- knobs ----

// FailNext makes the next n publish requests (tweets, DMs) fail with
// status; a 429 carries x-rate-limit-reset `wait` from now.
func (s *Server) FailNext(status, n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWrite.Add(failure{status: status, wait: wait}, n)
}

// FailReads makes the next n read requests (mentions, search, stream
// connect, rules) fail with status; legacy selects the old errors-array body.
func (s *Server) FailReads(status, n int, wait time.Duration, legacy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRead.Add(failure{status: status, wait: wait, legacy: legacy}, n)
}

// SetRateLimit gives the route (its pattern as this fake routes it, e.g.
// "GET /2/users/{id}/mentions" or "POST /2/tweets") a budget of limit
// requests per period, as X does: every answer carries the budget in
// x-rate-limit-limit/remaining/reset, and a request over it is answered
// 429 until the period resets. limit 0 removes the budget.
func (s *Server) SetRateLimit(route string, limit int, period time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit <= 0 {
		delete(s.windows, route)
		return
	}
	s.windows[route] = &window{limit: limit, period: period}
}

// RateLimited counts the requests answered 429 because a SetRateLimit
// budget was used up (injected failures are not counted).
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// budget spends one request of r's route budget and writes the rate-limit
// headers. It answers 429 and reports false when the budget is used up.
// Routes without a budget report remaining as the fake always did.
func (s *Server) budget(w http.ResponseWriter, r *http.Request, remaining int) bool {
	now := s.opts.Now()
	s.mu.Lock()
	win := s.windows[r.Pattern]
	if win == nil {
		s.mu.Unlock()
		s.rateHeaders(w, "300", remaining, now.Add(15*time.Minute))
		return true
	}
	if !now.Before(win.reset) {
		win.used, win.reset = 0, now.Add(win.period)
	}
	limit, reset := strconv.Itoa(win.limit), win.reset
	if win.used >= win.limit {
		s.limited++
		s.mu.Unlock()
		s.rateHeaders(w, limit, 0, reset)
		problem(w, 429, "Too Many Requests", "Too Many Requests", "about:blank")
		return false
	}
	win.used++
	left := win.limit - win.used
	s.mu.Unlock()
	s.rateHeaders(w, limit, left, reset)
	return true
}

// HangNextPost makes the next n tweet/DM creations succeed on the server
// and then never answer (a timeout after sending).
func (s *Server) HangNextPost(n int) {
	s.mu.Lock()
	s.hangNext += n
	s.mu.Unlock()
}

// HangStreamConnects makes the next n filtered stream connections be
// accepted and then never answered, not even with headers, until the
// client gives up: a stream endpoint that hangs.
func (s *Server) HangStreamConnects(n int) {
	s.mu.Lock()
	s.hangStream += n
	s.mu.Unlock()
}

// SlowTokenAnswers makes token refreshes rotate the tokens at once, as X
// does on receipt, and then answer only after d: a client that gives up
// meanwhile has lost its refresh token (the old one is dead). 0: answer at once.
func (s *Server) SlowTokenAnswers(d time.Duration) {
	s.mu.Lock()
	s.slowToken = d
	s.mu.Unlock()
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Set(d) }

// PartialErrors makes timeline and search answers carry a partial "errors" array.
func (s *Server) PartialErrors(on bool) {
	s.mu.Lock()
	s.partial = on
	s.mu.Unlock()
}

// FailNextPage makes the next request for a page after the first (one
// carrying a pagination token) fail with status.
func (s *Server) FailNextPage(status int) {
	s.mu.Lock()
	s.failPage = status
	s.mu.Unlock()
}

// DisableSearch makes recent search answer 403 client-forbidden, as for
// an access tier without it.
func (s *Server) DisableSearch(on bool) {
	s.mu.Lock()
	s.noSearch = on
	s.mu.Unlock()
}

// DropStreams closes every open filtered stream connection.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		close(st.done)
		delete(s.streams, st)
	}
}

// ExpireAccessTokens makes every current access token invalid (401).
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	s.access = map[string]time.Time{}
	s.mu.Unlock()
}

// ---- person actions ----

var mentionRE = regexp.MustCompile(`@([A-Za-z0-9_]{1,15})`)

// TweetOptions are the optional parts of a person's tweet.
type TweetOptions struct {
	ReplyTo string
	Lang    string
}

// Tweet posts text as the user authorID and sends it to matching streams.
func (s *Server) Tweet(authorID, text string, o TweetOptions) (Tweet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tweetLocked(authorID, text, o.ReplyTo)
	if err != nil {
		return Tweet{}, err
	}
	if o.Lang != "" {
		t.Lang = o.Lang
	}
	return *t, nil
}

func (s *Server) tweetLocked(authorID, text, replyTo string) (*Tweet, error) {
	if s.users[authorID] == nil {
		return nil, fmt.Errorf("xfake: no user %s", authorID)
	}
	t := &Tweet{ID: s.nextIDLocked(), AuthorID: authorID, Text: text, CreatedAt: s.opts.Now().UTC(), Lang: "en"}
	t.ConversationID = t.ID
	if replyTo != "" {
		p := s.byID[replyTo]
		if p == nil {
			return nil, fmt.Errorf("xfake: no tweet %s", replyTo)
		}
		t.InReplyTo, t.InReplyToUserID, t.ConversationID = p.ID, p.AuthorID, p.ConversationID
	}
	for _, m := range mentionRE.FindAllStringSubmatch(text, -1) {
		t.Mentions = append(t.Mentions, strings.ToLower(m[1]))
	}
	s.tweets = append(s.tweets, t)
	s.byID[t.ID] = t
	s.feed.Emit(Event{Kind: "tweet", ID: t.ID})
	s.broadcastLocked(t)
	return t, nil
}

// SendDM sends a direct message from one user to another.
func (s *Server) SendDM(fromID, toID, text string) DM {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmLocked(fromID, toID, text)
}

func (s *Server) dmLocked(fromID, toID, text string) DM {
	a, b := fromID, toID
	if b < a {
		a, b = b, a
	}
	d := DM{ID: s.nextIDLocked(), ConversationID: a + "-" + b, SenderID: fromID, RecipientID: toID, Text: text, CreatedAt: s.opts.Now().UTC()}
	s.dms = append(s.dms, d)
	s.feed.Emit(Event{Kind: "dm", ID: d.ID})
	return d
}

// ---- inspection ----

// Tweets is every tweet, oldest first (the public timeline).
func (s *Server) Tweets() []Tweet {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tweet, len(s.tweets))
	for i, t := range s.tweets {
		out[i] = *t
	}
	return out
}

// Published is every tweet by our account, oldest first.
func (s *Server) Published() []Tweet {
	var out []Tweet
	for _, t := range s.Tweets() {
		if t.AuthorID == s.us.ID {
			out = append(out, t)
		}
	}
	return out
}

// DMs is every direct message, oldest first.
func (s *Server) DMs() []DM {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DM(nil), s.dms...)
}

// Rules is the current filtered stream rules.
func (s *Server) Rules() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rule(nil), s.rules...)
}

// Streams counts open filtered stream connections.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// MentionPolls counts mentions timeline requests answered.
func (s *Server) MentionPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mentionReqs
}

// PublishAttempts counts tweet and DM creation requests, failed ones included.
func (s *Server) PublishAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Refreshes counts successful OAuth 2.0 token refreshes.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// RefreshToken is the currently valid refresh token.
func (s *Server) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh
}

// ---- wire ----

type apiUser struct {
	ID              string `json:"id"`
	Username        string `json:"username"`
	Name            string `json:"name"`
	ProfileImageURL string `json:"profile_image_url,omitempty"`
	PublicMetrics   *struct {
		Followers int `json:"followers_count"`
	} `json:"public_metrics,omitempty"`
}

type apiRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type apiTweet struct {
	ID               string   `json:"id"`
	Text             string   `json:"text"`
	AuthorID         string   `json:"author_id,omitempty"`
	ConversationID   string   `json:"conversation_id,omitempty"`
	InReplyToUserID  string   `json:"in_reply_to_user_id,omitempty"`
	ReferencedTweets []apiRef `json:"referenced_tweets,omitempty"`
	CreatedAt        string   `json:"created_at,omitempty"`
	Lang             string   `json:"lang,omitempty"`
	Entities         *struct {
		Mentions []struct {
			Start    int    `json:"start"`
			End      int    `json:"end"`
			Username string `json:"username"`
		} `json:"mentions,omitempty"`
	} `json:"entities,omitempty"`
}

func (s *Server) userJSON(u *User) apiUser {
	a := apiUser{ID: u.ID, Username: u.Username, Name: u.Name, ProfileImageURL: s.srv.URL + "/img/" + u.ID + ".png"}
	a.PublicMetrics = &struct {
		Followers int `json:"followers_count"`
	}{u.Followers}
	return a
}

// tweetJSON renders a tweet as v2 does with the fields Earshot asks for.
// X escapes &, < and > in text.
func (s *Server) tweetJSON(t *Tweet) apiTweet {
	a := apiTweet{ID: t.ID, Text: html.EscapeString(t.Text), AuthorID: t.AuthorID, ConversationID: t.ConversationID,
		InReplyToUserID: t.InReplyToUserID, CreatedAt: t.CreatedAt.Format("2006-01-02T15:04:05.000Z"), Lang: t.Lang}
	a.Text = strings.ReplaceAll(a.Text, "&#34;", `"`)
	a.Text = strings.ReplaceAll(a.Text, "&#39;", "'")
	if t.InReplyTo != "" {
		a.ReferencedTweets = []apiRef{{Type: "replied_to", ID: t.InReplyTo}}
	}
	for _, m := range mentionRE.FindAllStringSubmatchIndex(t.Text, -1) {
		if a.Entities == nil {
			a.Entities = &struct {
				Mentions []struct {
					Start    int    `json:"start"`
					End      int    `json:"end"`
					Username string `json:"username"`
				} `json:"mentions,omitempty"`
			}{}
		}
		a.Entities.Mentions = append(a.Entities.Mentions, struct {
			Start    int    `json:"start"`
			End      int    `json:"end"`
			Username string `json:"username"`
		}{m[0], m[1], t.Text[m[2]:m[3]]})
	}
	return a
}

func (s *Server) includesLocked(ts []*Tweet) map[string]any {
	seen := map[string]bool{}
	var us []apiUser
	for _, t := range ts {
		if u := s.users[t.AuthorID]; u != nil && !seen[u.ID] {
			seen[u.ID] = true
			us = append(us, s.userJSON(u))
		}
	}
	return map[string]any{"users": us}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// problem answers an RFC 7807 problem as X does.
func problem(w http.ResponseWriter, status int, title, detail, typ string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "detail": detail, "type": typ, "status": status})
}

// rateHeaders writes X's budget headers; reset is sent in epoch seconds,
// rounded up so that a client never comes back before the window resets.
func (s *Server) rateHeaders(w http.ResponseWriter, limit string, remaining int, reset time.Time) {
	w.Header().Set("x-rate-limit-limit", limit)
	w.Header().Set("x-rate-limit-remaining", strconv.Itoa(remaining))
	secs := reset.Unix()
	if reset.After(time.Unix(secs, 0)) {
		secs++
	}
	w.Header().Set("x-rate-limit-reset", strconv.FormatInt(secs, 10))
}

// injected writes f as X would.
func (s *Server) injected(w http.ResponseWriter, f failure) {
	now := s.opts.Now()
	switch {
	case f.status == 429:
		s.rateHeaders(w, "300", 0, now.Add(f.wait)) // rounded up: never earlier than asked
		if f.legacy {
			writeJSON(w, 429, map[string]any{"errors": []map[string]any{{"code": 88, "message": "Rate limit exceeded"}}})
			return
		}
		problem(w, 429, "Too Many Requests", "Too Many Requests", "about:blank")
	case f.status == 401:
		problem(w, 401, "Unauthorized", "Unauthorized", "about:blank")
	case f.status == 403:
		problem(w, 403, "Forbidden", "You are not permitted to perform this action.", "about:blank")
	case f.status == 404:
		problem(w, 404, "Not Found Error", "Could not find the requested resource.", "https://api.twitter.com/2/problems/resource-not-found")
	case f.status >= 500:
		problem(w, f.status, "Service Unavailable", "Service is temporarily unavailable.", "about:blank")
	default:
		problem(w, f.status, "Invalid Request", "One or more parameters to your request was invalid.", "https://api.twitter.com/2/problems/invalid-request")
	}
}

// authed checks the Authorization header; it answers 401 and returns false when bad.
func (s *Server) authed(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	s.mu.Lock()
	ok := false
	if tok, isBearer := strings.CutPrefix(h, "Bearer "); isBearer {
		exp, known := s.access[tok]
		ok = known && (exp.IsZero() || s.opts.Now().Before(exp))
	} else if strings.HasPrefix(h, "OAuth ") && s.opts.ConsumerKey != "" {
		ok = strings.Contains(h, `oauth_consumer_key="`+s.opts.ConsumerKey+`"`) &&
			strings.Contains(h, `oauth_token="`+s.opts.Token+`"`) && strings.Contains(h, "oauth_signature=")
	}
	s.mu.Unlock()
	if !ok {
		problem(w, 401, "Unauthorized", "Unauthorized", "about:blank")
	}
	return ok
}

func (s *Server) delay(r *http.Request) { s.latency.Wait(r.Context(), nil) }

func (s *Server) takeRead() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failRead.Take()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	read := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.delay(r)
			if !s.authed(w, r) {
				return
			}
			if f, ok := s.takeRead(); ok {
				s.injected(w, f)
				return
			}
			if s.budget(w, r, 100) {
				h(w, r)
			}
		}
	}
	mux.HandleFunc("POST /2/oauth2/token", s.token)
	mux.HandleFunc("GET /2/users/me", read(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		u := s.userJSON(s.users[s.us.ID])
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"data": u})
	}))
	mux.HandleFunc("GET /2/users/{id}/mentions", read(s.mentions))
	mux.HandleFunc("GET /2/dm_events", read(s.dmEvents))
	mux.HandleFunc("GET /2/tweets/search/recent", read(s.search))
	mux.HandleFunc("GET /2/tweets/search/stream/rules", read(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		rs := append([]Rule{}, s.rules...)
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"data": rs, "meta": map[string]any{"sent": s.opts.Now().UTC().Format(time.RFC3339), "result_count": len(rs)}})
	}))
	mux.HandleFunc("POST /2/tweets/search/stream/rules", read(s.postRules))
	mux.HandleFunc("GET /2/tweets/search/stream", read(s.stream))
	mux.HandleFunc("POST /2/tweets", s.write(s.createTweet))
	mux.HandleFunc("POST /2/dm_conversations/with/{id}/messages", s.write(s.createDM))
	return mux
}

// token is POST /2/oauth2/token (grant_type=refresh_token); the refresh token rotates.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	cid := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		cid = u
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PostForm.Get("grant_type") != "refresh_token" || cid != s.opts.ClientID {
		writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "Value passed for the token was invalid."})
		return
	}
	if r.PostForm.Get("refresh_token") != s.refresh {
		writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "Value passed for the token was invalid."})
		return
	}
	s.refreshes++
	n := s.refreshes
	acc := "x-access-" + strconv.Itoa(n)
	s.refresh = "x-refresh-" + strconv.Itoa(n)
	s.access[acc] = s.opts.Now().Add(s.opts.TokenTTL)
	s.feed.Emit(Event{Kind: "token"})
	body := map[string]any{"token_type": "bearer", "expires_in": int(s.opts.TokenTTL / time.Second),
		"access_token": acc, "refresh_token": s.refresh, "scope": "tweet.read tweet.write users.read dm.write offline.access"}
	if d := s.slowToken; d > 0 {
		s.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closed:
		}
		t.Stop()
		s.mu.Lock() // for the deferred Unlock
	}
	writeJSON(w, 200, body)
}

// page returns tweets (newest first) filtered, paged like X:
// max_results, pagination_token (an index), since_id; meta.newest_id/oldest_id/next_token.
func (s *Server) pageLocked(w http.ResponseWriter, r *http.Request, match func(*Tweet) bool, tokenParam string, minMax int) {
	q := r.URL.Query()
	max := 10
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minMax || n > 100 {
			problem(w, 400, "Invalid Request", fmt.Sprintf("The `max_results` query parameter value [%s] is not between %d and 100", v, minMax), "https://api.twitter.com/2/problems/invalid-request")
			return
		}
		max = n
	}
	since := q.Get("since_id")
	var all []*Tweet
	for i := len(s.tweets) - 1; i >= 0; i-- {
		t := s.tweets[i]
		if since != "" && !idGreater(t.ID, since) {
			continue
		}
		if match(t) {
			all = append(all, t)
		}
	}
	start := 0
	if tok := q.Get(tokenParam); tok != "" {
		if st := s.failPage; st != 0 {
			s.failPage = 0
			s.injected(w, failure{status: st})
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "p"))
		if err != nil || n < 0 || n > len(all) {
			problem(w, 400, "Invalid Request", "The `"+tokenParam+"` query parameter value is invalid", "https://api.twitter.com/2/problems/invalid-request")
			return
		}
		start = n
	}
	end := min(start+max, len(all))
	pageTweets := all[start:end]
	meta := map[string]any{"result_count": len(pageTweets)}
	if len(pageTweets) > 0 {
		meta["newest_id"] = pageTweets[0].ID
		meta["oldest_id"] = pageTweets[len(pageTweets)-1].ID
	}
	if end < len(all) {
		meta["next_token"] = "p" + strconv.Itoa(end)
	}
	body := map[string]any{"meta": meta}
	if len(pageTweets) > 0 {
		data := make([]apiTweet, len(pageTweets))
		for i, t := range pageTweets {
			data[i] = s.tweetJSON(t)
		}
		body["data"] = data
		body["includes"] = s.includesLocked(pageTweets)
	}
	if s.partial {
		body["errors"] = []map[string]any{{"value": "1", "detail": "Could not find tweet with referenced_tweets.id: [1].",
			"title": "Not Found Error", "resource_type": "tweet", "parameter": "referenced_tweets.id", "resource_id": "1",
			"type": "https://api.twitter.com/2/problems/resource-not-found"}}
	}
	writeJSON(w, 200, body)
}

func idGreater(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func (s *Server) mentions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil {
		problem(w, 404, "Not Found Error", "Could not find user with id: ["+id+"].", "https://api.twitter.com/2/problems/resource-not-found")
		return
	}
	s.mentionReqs++
	name := strings.ToLower(u.Username)
	s.pageLocked(w, r, func(t *Tweet) bool {
		if t.AuthorID == id {
			return false
		}
		if t.InReplyToUserID == id {
			return true
		}
		for _, m := range t.Mentions {
			if m == name {
				return true
			}
		}
		return false
	}, "pagination_token", 5)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query")
	if strings.TrimSpace(q) == "" {
		problem(w, 400, "Invalid Request", "The `query` query parameter can not be empty", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noSearch {
		problem(w, 403, "Client Forbidden", "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.", "https://api.twitter.com/2/problems/client-forbidden")
		return
	}
	s.pageLocked(w, r, func(t *Tweet) bool { return matchQuery(q, t.Text) }, "next_token", 10)
}

// matchQuery evaluates a small subset of X's query language: groups joined
// by " OR " (parentheses around a group are ignored); in a group, every
// term must appear (case-insensitive); "quoted phrases" are one term; a
// leading '-' negates a term.
func matchQuery(q, text string) bool {
	text = strings.ToLower(text)
	for _, group := range strings.Split(q, " OR ") {
		group = strings.Trim(strings.TrimSpace(group), "()")
		ok := true
		terms := splitTerms(group)
		for _, term := range terms {
			neg := strings.HasPrefix(term, "-")
			term = strings.ToLower(strings.Trim(strings.TrimPrefix(term, "-"), `"`))
			if term == "" {
				continue
			}
			if strings.Contains(text, term) == neg {
				ok = false
				break
			}
		}
		if ok && len(terms) > 0 {
			return true
		}
	}
	return false
}

func splitTerms(s string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			cur.WriteRune(r)
		case r == ' ' && !inQ:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func (s *Server) postRules(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Add []struct {
			Value string `json:"value"`
			Tag   string `json:"tag"`
		} `json:"add"`
		Delete *struct {
			IDs []string `json:"ids"`
		} `json:"delete"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Add == nil && body.Delete == nil) {
		problem(w, 400, "Invalid Request", "One or more parameters to your request was invalid.", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta := map[string]any{"sent": s.opts.Now().UTC().Format(time.RFC3339)}
	if body.Delete != nil {
		del := map[string]bool{}
		for _, id := range body.Delete.IDs {
			del[id] = true
		}
		kept := s.rules[:0]
		n := 0
		for _, r := range s.rules {
			if del[r.ID] {
				n++
				continue
			}
			kept = append(kept, r)
		}
		s.rules = kept
		meta["summary"] = map[string]any{"deleted": n, "not_deleted": len(del) - n}
		s.feed.Emit(Event{Kind: "rules"})
		writeJSON(w, 200, map[string]any{"meta": meta})
		return
	}
	var added []Rule
	var errs []map[string]any
	for _, a := range body.Add {
		dup := false
		for _, r := range s.rules {
			if r.Value == a.Value {
				dup = true
				errs = append(errs, map[string]any{"value": a.Value, "id": r.ID, "title": "DuplicateRule", "type": "https://api.twitter.com/2/problems/duplicate-rules"})
			}
		}
		if dup {
			continue
		}
		nr := Rule{ID: s.nextIDLocked(), Value: a.Value, Tag: a.Tag}
		s.rules = append(s.rules, nr)
		added = append(added, nr)
	}
	meta["summary"] = map[string]any{"created": len(added), "not_created": len(body.Add) - len(added), "valid": len(added), "invalid": 0}
	out := map[string]any{"meta": meta}
	if len(added) > 0 {
		out["data"] = added
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	s.feed.Emit(Event{Kind: "rules"})
	writeJSON(w, 201, out)
}

// broadcastLocked sends t to every stream whose rules match it.
func (s *Server) broadcastLocked(t *Tweet) {
	if len(s.streams) == 0 {
		return
	}
	var matching []map[string]string
	for _, r := range s.rules {
		if matchQuery(r.Value, t.Text) {
			matching = append(matching, map[string]string{"id": r.ID, "tag": r.Tag})
		}
	}
	if len(matching) == 0 {
		return
	}
	line, _ := json.Marshal(map[string]any{"data": s.tweetJSON(t), "includes": s.includesLocked([]*Tweet{t}), "matching_rules": matching})
	line = append(line, '\r', '\n')
	for st := range s.streams {
		select {
		case st.out <- line:
		default: // a slow consumer loses the connection, as on X
			close(st.done)
			delete(s.streams, st)
		}
	}
}

// stream is GET /2/tweets/search/stream: NDJSON lines, "\r\n" keep-alives.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		problem(w, 500, "Internal", "no flusher", "about:blank")
		return
	}
	st := &stream{out: make(chan []byte, 1024), done: make(chan struct{})}
	s.mu.Lock()
	if s.hangStream > 0 {
		s.hangStream--
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	if len(s.rules) == 0 {
		s.mu.Unlock()
		problem(w, 409, "ConnectionException", "There are no rules on this stream.", "https://api.twitter.com/2/problems/streaming-connection")
		return
	}
	s.streams[st] = true
	s.feed.Emit(Event{Kind: "stream_open"})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.streams[st] {
			delete(s.streams, st)
		}
		s.feed.Emit(Event{Kind: "stream_closed"})
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	bw := bufio.NewWriter(w)
	bw.WriteString("\r\n")
	bw.Flush()
	fl.Flush()
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		case <-st.done:
			return
		case line := <-st.out:
			bw.Write(line)
			bw.Flush()
			fl.Flush()
		case <-tick.C:
			bw.WriteString("\r\n")
			bw.Flush()
			fl.Flush()
		}
	}
}

// write wraps a publishing endpoint: latency, auth, attempts, injected failures.
func (s *Server) write(h func(w http.ResponseWriter, r *http.Request) (created func(), hang bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.delay(r)
		s.mu.Lock()
		s.attempts++
		s.mu.Unlock()
		if !s.authed(w, r) {
			return
		}
		s.mu.Lock()
		f, failing := s.failWrite.Take()
		s.mu.Unlock()
		if failing {
			s.injected(w, f)
			return
		}
		if !s.budget(w, r, 99) {
			return
		}
		done, hang := h(w, r)
		if hang {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		}
		if done != nil {
			done()
		}
	}
}

func (s *Server) takeHangLocked() bool {
	if s.hangNext > 0 {
		s.hangNext--
		return true
	}
	return false
}

func (s *Server) createTweet(w http.ResponseWriter, r *http.Request) (func(), bool) {
	var body struct {
		Text  string `json:"text"`
		Reply *struct {
			InReplyToTweetID string `json:"in_reply_to_tweet_id"`
		} `json:"reply"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		problem(w, 400, "Invalid Request", "One or more parameters to your request was invalid.", "https://api.twitter.com/2/problems/invalid-request")
		return nil, false
	}
	if !xtext.Parse(body.Text).Valid || strings.TrimSpace(body.Text) == "" {
		// X answers a text twitter-text calls invalid (over 280, or holding
		// U+FFFE, U+FEFF or U+FFFF) with 403 and this detail.
		problem(w, 403, "Forbidden", "You are not permitted to perform this action.", "about:blank")
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := ""
	if body.Reply != nil {
		reply = body.Reply.InReplyToTweetID
		if s.byID[reply] == nil {
			problem(w, 400, "Invalid Request", "Your Tweet could not be sent: the Tweet you are replying to has been deleted or is not visible to you.", "https://api.twitter.com/2/problems/invalid-request")
			return nil, false
		}
	}
	for _, t := range s.tweets {
		if t.AuthorID == s.us.ID && t.Text == body.Text && t.InReplyTo == reply {
			problem(w, 403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.", "about:blank")
			return nil, false
		}
	}
	t, err := s.tweetLocked(s.us.ID, body.Text, reply)
	if err != nil {
		problem(w, 400, "Invalid Request", err.Error(), "https://api.twitter.com/2/problems/invalid-request")
		return nil, false
	}
	s.feed.Emit(Event{Kind: "published", ID: t.ID})
	if s.takeHangLocked() {
		return nil, true
	}
	return func() {
		writeJSON(w, 201, map[string]any{"data": map[string]any{"id": t.ID, "text": html.EscapeString(t.Text), "edit_history_tweet_ids": []string{t.ID}}})
	}, false
}

func (s *Server) createDM(w http.ResponseWriter, r *http.Request) (func(), bool) {
	to := r.PathValue("id")
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || strings.TrimSpace(body.Text) == "" {
		problem(w, 400, "Invalid Request", "One or more parameters to your request was invalid.", "https://api.twitter.com/2/problems/invalid-request")
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[to] == nil {
		problem(w, 400, "Invalid Request", "The `participant_id` path parameter value is invalid", "https://api.twitter.com/2/problems/invalid-request")
		return nil, false
	}
	if len([]rune(body.Text)) > 10000 {
		problem(w, 400, "Invalid Request", "text is longer than 10000 characters", "https://api.twitter.com/2/problems/invalid-request")
		return nil, false
	}
	d := s.dmLocked(s.us.ID, to, body.Text)
	if s.takeHangLocked() {
		return nil, true
	}
	return func() {
		writeJSON(w, 201, map[string]any{"data": map[string]any{"dm_conversation_id": d.ConversationID, "dm_event_id": d.ID}})
	}, false
}

// dmEvents is GET /2/dm_events: our account's DM events, newest first,
// paged by pagination_token (X offers no since_id here).
func (s *Server) dmEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	max := 100
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problem(w, 400, "Invalid Request", "The `max_results` query parameter value ["+v+"] is not between 1 and 100", "https://api.twitter.com/2/problems/invalid-request")
			return
		}
		max = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []DM
	for i := len(s.dms) - 1; i >= 0; i-- {
		if d := s.dms[i]; d.SenderID == s.us.ID || d.RecipientID == s.us.ID {
			all = append(all, d)
		}
	}
	start := 0
	if tok := q.Get("pagination_token"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "d"))
		if err != nil || n < 0 || n > len(all) {
			problem(w, 400, "Invalid Request", "The `pagination_token` query parameter value is invalid", "https://api.twitter.com/2/problems/invalid-request")
			return
		}
		start = n
	}
	end := min(start+max, len(all))
	var data []map[string]any
	seen := map[string]bool{}
	var us []apiUser
	for _, d := range all[start:end] {
		data = append(data, map[string]any{"id": d.ID, "event_type": "MessageCreate", "text": d.Text, "sender_id": d.SenderID,
			"dm_conversation_id": d.ConversationID, "created_at": d.CreatedAt.Format("2006-01-02T15:04:05.000Z")})
		if u := s.users[d.SenderID]; u != nil && !seen[u.ID] {
			seen[u.ID] = true
			us = append(us, s.userJSON(u))
		}
	}
	meta := map[string]any{"result_count": len(data)}
	if end < len(all) {
		meta["next_token"] = "d" + strconv.Itoa(end)
	}
	body := map[string]any{"meta": meta}
	if len(data) > 0 {
		body["data"] = data
		body["includes"] = map[string]any{"users": us}
	}
	writeJSON(w, 200, body)
}
