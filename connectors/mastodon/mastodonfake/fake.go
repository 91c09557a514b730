// Package mastodonfake is a stateful fake Mastodon instance on loopback,
// speaking enough of the real REST and streaming API for Earshot's Mastodon
// connector (through go-mastodon) and for `earshot demo`.
//
// A test or the demo drives it as people (AddAccount, Post) and inspects it
// (Statuses, Published, DMs). Knobs: FailNext (HTTP errors and 429 with an
// ISO-8601 X-RateLimit-Reset), LoseNext (the status is stored, then the
// answer is an error or never comes), SetRateLimit (the account's request
// budget per window, with X-RateLimit-* headers and 429 when spent),
// SetStreaming, SetLatency, SetMaxChars, DropStreams, StallStreams. Subscribe gives a
// change feed for a live sandbox page. Everything is safe for concurrent use.
//
// Options.Software chooses whose behaviour it has. Mastodon (the default)
// as above. GoToSocial as observed on GoToSocial built from source: no SSE
// (the /api/v1/streaming/user and /hashtag routes answer 404; the
// WebSocket works), Idempotency-Key ignored, hashtag streams accepted and
// silent, length in plain characters (URLs and mentions as typed; 5000 by
// default), a tag's timeline 404 until some status used the tag, and
// notifications made asynchronously (each becomes visible a moment after
// its status, so they arrive out of status order and a notification with a
// lower id may appear after one with a higher id). Both serve nodeinfo.
//
// Served: GET /api/v1/instance, GET /api/v2/instance, GET
// /.well-known/nodeinfo, GET /nodeinfo/2.0,
// GET /api/v1/accounts/verify_credentials, GET /api/v1/accounts/{id},
// GET /api/v1/statuses/{id}, GET /api/v1/statuses/{id}/context,
// POST /api/v1/statuses (form or JSON; Idempotency-Key; 422 on validation),
// DELETE /api/v1/statuses/{id},
// GET /api/v1/notifications (types[], since_id, min_id, limit),
// GET /api/v1/timelines/tag/{hashtag} (min_id, since_id, max_id, limit),
// SSE GET /api/v1/streaming/user and /api/v1/streaming/hashtag?tag=,
// WebSocket GET /api/v1/streaming?stream=user|hashtag (payload as a JSON string).
package mastodonfake

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/mattn/go-mastodon"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
)

// Domain is the fake instance's domain, used in accts of remote-looking handles and URLs.
const Domain = "fake.social"

// Account is one account on the fake.
type Account struct {
	ID        string
	Username  string
	Name      string
	Followers int
	Token     string // bearer token for API calls as this account
}

// Acct is the account's full handle, "ana@fake.social".
func (a Account) Acct() string { return a.Username + "@" + Domain }

// Status is one stored status.
type Status struct {
	ID          string
	Account     Account
	Text        string // plain text as written
	InReplyTo   string
	InReplyToAc string // account id of the status answered
	Visibility  string // public, unlisted, private, direct
	Mentions    []Account
	Tags        []string
	Lang        string
	CreatedAt   time.Time
}

// Event is a change notification for live pages.
type Event struct {
	Kind   string // "status", "notification", "failure"
	Status Status
}

// Server software the fake can behave as (Options.Software).
const (
	Mastodon   = "mastodon"
	GoToSocial = "gotosocial"
)

// Versions the fake reports for each software (instance and nodeinfo).
const (
	MastodonVersion   = "4.3.0"
	GoToSocialVersion = "0.17.3"
)

// Options configure a fake.
type Options struct {
	MaxChars int // instance limit; default 500 (GoToSocial: 5000)
	// KeepAlive is the interval of ":thump" comments on SSE streams; default 15s as Mastodon.
	KeepAlive time.Duration
	// Software is Mastodon (default) or GoToSocial: see the package doc.
	Software string
	// NotifyDelay bounds how late a GoToSocial notification becomes
	// visible after its status (a random delay up to it); default 30ms.
	NotifyDelay time.Duration
}

type failure struct {
	status int
	wait   time.Duration
}

// lost is an answer LoseNext throws away: status, or none at all when 0.
type lost struct{ status int }

type stream struct {
	account string // user stream for this account id, or ""
	tag     string // hashtag stream, or ""
	ch      chan streamEvent
	drop    chan struct{}
	stall   chan struct{}       // closed: go silent (no events, no keep-alives) but keep the connection
	conn    *fakekit.FreezeConn // frozen on stall: not even pongs go back
}

type streamEvent struct {
	event, payload string
}

// Server is a running fake instance.
type Server struct {
	srv         *httptest.Server
	maxChars    int
	keepAlive   time.Duration
	software    string
	notifyDelay time.Duration
	budget      fakekit.Budget // SetRateLimit (ratelimit.go)

	mu        sync.Mutex
	nextID    int64
	accounts  map[string]*Account // by id
	byToken   map[string]*Account
	statuses  []*Status
	byID      map[string]*Status
	notifs    []*notification
	idem      map[string]string // token+key -> status id
	fails     fakekit.Failures[failure]
	losses    fakekit.Failures[lost]
	latency   fakekit.Latency
	pending   sync.WaitGroup // notifications not yet visible (GoToSocial)
	noStreams bool           // SetStreaming(false): every streaming route is 404
	closed    bool
	streams   map[*stream]bool
	stalled   map[*stream]bool
	feed      fakekit.Feed[Event]
	us        Account
	publishes int
}

type notification struct {
	id      string
	account string // who is notified
	status  *Status
	hidden  bool // made, not yet visible (GoToSocial's asynchronous notifications)
}

// New starts a fake on 127.0.0.1 with our own account "earshot" (token
// "earshot-token"). Close it when done.
func New(opts Options) *Server {
	switch opts.Software {
	case "":
		opts.Software = Mastodon
	case Mastodon, GoToSocial:
	default:
		panic("mastodonfake: unknown software " + opts.Software)
	}
	if opts.MaxChars <= 0 {
		opts.MaxChars = 500
		if opts.Software == GoToSocial {
			opts.MaxChars = 5000
		}
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.NotifyDelay <= 0 {
		opts.NotifyDelay = 30 * time.Millisecond
	}
	s := &Server{
		maxChars:    opts.MaxChars,
		keepAlive:   opts.KeepAlive,
		software:    opts.Software,
		notifyDelay: opts.NotifyDelay,
		nextID:      109000000000000000,
		accounts:    map[string]*Account{},
		byToken:     map[string]*Account{},
		byID:        map[string]*Status{},
		idem:        map[string]string{},
		streams:     map[*stream]bool{},
		stalled:     map[*stream]bool{},
		feed:        fakekit.Feed[Event]{Buffer: 64},
	}
	s.us = s.AddAccount("earshot", "Earshot Support", 1200)
	s.mu.Lock()
	s.byToken["earshot-token"] = s.accounts[s.us.ID]
	s.accounts[s.us.ID].Token = "earshot-token"
	s.us.Token = "earshot-token"
	s.mu.Unlock()
	s.srv = httptest.NewUnstartedServer(s.routes())
	fakekit.Freezable(s.srv)
	s.srv.Start()
	return s
}

// URL is the instance's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Us is our own account (the one Earshot logs in as).
func (s *Server) Us() Account { return s.us }

// Software is Mastodon or GoToSocial.
func (s *Server) Software() string { return s.software }

// Close drops every stream and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.pending.Wait()
	s.DropStreams()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.feed.Close()
}

func (s *Server) newID() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

// AddAccount creates an account (a customer) and returns it, with a token.
func (s *Server) AddAccount(username, name string, followers int) Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &Account{ID: s.newID(), Username: username, Name: name, Followers: followers}
	a.Token = "token-" + a.ID
	s.accounts[a.ID] = a
	s.byToken[a.Token] = a
	return *a
}

// Lookup finds an account by username ("ana" or "ana@fake.social").
func (s *Server) Lookup(username string) (Account, bool) {
	username = strings.TrimSuffix(strings.TrimPrefix(username, "@"), "@"+Domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if strings.EqualFold(a.Username, username) {
			return *a, true
		}
	}
	return Account{}, false
}

// FailNext makes the next n POST /api/v1/statuses fail with status; a 429
// carries X-RateLimit-Reset wait from now (ISO-8601).
func (s *Server) FailNext(status, n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails.Add(failure{status: status, wait: wait}, n)
}

// LoseNext makes the next n POST /api/v1/statuses store their status and
// then lose the answer: status (a 502, say), or no answer at all until the
// client gives up when status is 0. "It went out but we never heard."
func (s *Server) LoseNext(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.losses.Add(lost{status: status}, n)
}

// SetStreaming turns the streaming API off (every streaming handshake
// answers 404, as on a server with streaming disabled) or on again.
func (s *Server) SetStreaming(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noStreams = !on
}

// SetMaxChars changes the instance's character limit, as an admin may;
// clients that read the old one get 422 validation errors for longer posts.
func (s *Server) SetMaxChars(n int) {
	s.mu.Lock()
	s.maxChars = n
	s.mu.Unlock()
}

// SetLatency delays every API answer by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Set(d) }

// DropStreams closes every open streaming connection.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		close(st.drop)
		delete(s.streams, st)
	}
	for st := range s.stalled {
		close(st.drop)
		delete(s.stalled, st)
	}
}

// StallStreams makes every open stream go silent without closing it (a
// half-open connection): no events, no keep-alives. Clients must notice and
// reconnect. New streams work normally.
func (s *Server) StallStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		close(st.stall)
		if st.conn != nil {
			st.conn.Freeze()
		}
		delete(s.streams, st)
		s.stalled[st] = true
	}
}

// Streams is the number of open streaming connections.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Subscribe returns a channel of changes, closed by Close. Slow readers miss events.
func (s *Server) Subscribe() <-chan Event { return s.feed.Subscribe() }

var mentionRe = regexp.MustCompile(`(^|[^\w/])@([A-Za-z0-9_]+)(@[A-Za-z0-9.\-]+)?`)
var tagRe = regexp.MustCompile(`(^|[^\w/&])#(\w+)`)

// PostOptions are optional fields of a person's post.
type PostOptions struct {
	InReplyTo  string
	Visibility string // default "public"
	Lang       string
}

// Post publishes text as account a (by id), as the web client would:
// mentions notify their accounts, statuses reach the user and hashtag streams.
func (s *Server) Post(accountID, text string, o PostOptions) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.postLocked(accountID, text, o)
	if err != nil {
		return Status{}, err
	}
	return *st, nil
}

func (s *Server) postLocked(accountID, text string, o PostOptions) (*Status, error) {
	a := s.accounts[accountID]
	if a == nil {
		return nil, fmt.Errorf("no account %q", accountID)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("Validation failed: Text can't be blank")
	}
	if n := s.count(text); n > s.maxChars {
		return nil, fmt.Errorf("Validation failed: Text character limit of %d exceeded", s.maxChars)
	}
	st := &Status{ID: s.newID(), Account: *a, Text: text, Visibility: o.Visibility, Lang: o.Lang, CreatedAt: time.Now().UTC()}
	if st.Visibility == "" {
		st.Visibility = "public"
	}
	if st.Lang == "" {
		st.Lang = "en"
	}
	if o.InReplyTo != "" {
		parent := s.byID[o.InReplyTo]
		if parent == nil {
			return nil, fmt.Errorf("Validation failed: in_reply_to_id not found")
		}
		st.InReplyTo = parent.ID
		st.InReplyToAc = parent.Account.ID
	}
	for _, m := range mentionRe.FindAllStringSubmatch(text, -1) {
		if m[3] != "" && m[3] != "@"+Domain {
			continue
		}
		for _, acc := range s.accounts {
			if strings.EqualFold(acc.Username, m[2]) && !slices.ContainsFunc(st.Mentions, func(x Account) bool { return x.ID == acc.ID }) {
				st.Mentions = append(st.Mentions, *acc)
			}
		}
	}
	for _, m := range tagRe.FindAllStringSubmatch(text, -1) {
		st.Tags = append(st.Tags, strings.ToLower(m[2]))
	}
	s.statuses = append(s.statuses, st)
	s.byID[st.ID] = st
	js := s.statusJSON(st)
	// The author's own user stream gets the status (home timeline).
	s.broadcastLocked(func(x *stream) bool { return x.account == a.ID }, "update", js)
	for _, m := range st.Mentions {
		if m.ID == a.ID {
			continue
		}
		n := &notification{id: s.newID(), account: m.ID, status: st}
		s.notifs = append(s.notifs, n)
		if s.software != GoToSocial || s.closed {
			s.showLocked(n)
			continue
		}
		// GoToSocial makes notifications in a worker: visible a moment
		// later, in no particular order.
		n.hidden = true
		s.pending.Add(1)
		time.AfterFunc(rand.N(s.notifyDelay+1), func() {
			defer s.pending.Done()
			s.mu.Lock()
			defer s.mu.Unlock()
			s.showLocked(n)
		})
	}
	if st.Visibility == "public" && s.software != GoToSocial {
		for _, tag := range st.Tags {
			s.broadcastLocked(func(x *stream) bool { return x.tag == tag }, "update", js)
		}
	}
	s.feed.Emit(Event{Kind: "status", Status: *st})
	return st, nil
}

// showLocked makes notification n visible and streams it.
func (s *Server) showLocked(n *notification) {
	n.hidden = false
	s.broadcastLocked(func(x *stream) bool { return x.account == n.account }, "notification", s.notifJSON(*n))
	s.feed.Emit(Event{Kind: "notification", Status: *n.status})
}

func (s *Server) broadcastLocked(match func(*stream) bool, event string, payload []byte) {
	for st := range s.streams {
		if !match(st) {
			continue
		}
		select {
		case st.ch <- streamEvent{event: event, payload: string(payload)}:
		default: // a stalled reader loses its stream, as on a real server
			close(st.drop)
			delete(s.streams, st)
		}
	}
}

// Statuses returns every status, oldest first.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.statuses))
	for _, st := range s.statuses {
		out = append(out, *st)
	}
	return out
}

// Published returns the statuses our own account wrote, oldest first.
func (s *Server) Published() []Status {
	var out []Status
	for _, st := range s.Statuses() {
		if st.Account.ID == s.us.ID {
			out = append(out, st)
		}
	}
	return out
}

// PublicTimeline returns public statuses, oldest first.
func (s *Server) PublicTimeline() []Status {
	var out []Status
	for _, st := range s.Statuses() {
		if st.Visibility == "public" {
			out = append(out, st)
		}
	}
	return out
}

// DMs returns direct statuses that mention account id (or that it wrote), oldest first.
func (s *Server) DMs(accountID string) []Status {
	var out []Status
	for _, st := range s.Statuses() {
		if st.Visibility != "direct" {
			continue
		}
		if st.Account.ID == accountID || slices.ContainsFunc(st.Mentions, func(a Account) bool { return a.ID == accountID }) {
			out = append(out, st)
		}
	}
	return out
}

// PublishAttempts counts POST /api/v1/statuses requests by our account that created a status.
func (s *Server) PublishAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishes
}

// count is the length of text by this server's rules.
func (s *Server) count(text string) int {
	if s.software == GoToSocial {
		return len([]rune(text))
	}
	return CountChars(text)
}

// CountChars counts text as Mastodon does: URLs as 23, a mention as its
// @username part only, everything else by code point.
func CountChars(text string) int {
	t := urlRe.ReplaceAllString(text, strings.Repeat("x", 23))
	t = mentionRe.ReplaceAllString(t, "$1@$2")
	return len([]rune(t))
}

var urlRe = regexp.MustCompile(`https?://[^\s]+`)

// ---- JSON ----

func (s *Server) accountJSON(a Account) mastodon.Account {
	return mastodon.Account{
		ID: mastodon.ID(a.ID), Username: a.Username, Acct: a.Username, DisplayName: a.Name,
		FollowersCount: int64(a.Followers), URL: s.srv.URL + "/@" + a.Username,
		Avatar: s.srv.URL + "/avatars/" + a.ID + ".png",
	}
}

// HTML renders text as Mastodon does: paragraphs, <br>, mention and hashtag links.
func (s *Server) HTML(st Status) string {
	var b strings.Builder
	for i, para := range strings.Split(st.Text, "\n\n") {
		_ = i
		b.WriteString("<p>")
		lines := strings.Split(para, "\n")
		for j, line := range lines {
			if j > 0 {
				b.WriteString("<br />")
			}
			esc := html.EscapeString(line)
			esc = mentionRe.ReplaceAllStringFunc(esc, func(m string) string {
				sm := mentionRe.FindStringSubmatch(m)
				return sm[1] + `<span class="h-card"><a href="` + s.srv.URL + "/@" + sm[2] + `" class="u-url mention">@<span>` + sm[2] + `</span></a></span>`
			})
			esc = tagRe.ReplaceAllString(esc, `$1<a href="`+s.srv.URL+`/tags/$2" class="mention hashtag" rel="tag">#<span>$2</span></a>`)
			b.WriteString(esc)
		}
		b.WriteString("</p>")
	}
	return b.String()
}

func (s *Server) statusJSON(st *Status) []byte {
	b, _ := json.Marshal(s.statusObj(st))
	return b
}

func (s *Server) statusObj(st *Status) mastodon.Status {
	o := mastodon.Status{
		ID: mastodon.ID(st.ID), URI: s.srv.URL + "/users/" + st.Account.Username + "/statuses/" + st.ID,
		URL: s.srv.URL + "/@" + st.Account.Username + "/" + st.ID, Account: s.accountJSON(st.Account),
		Content: s.HTML(*st), CreatedAt: st.CreatedAt, Visibility: st.Visibility, Language: st.Lang,
	}
	if st.InReplyTo != "" {
		o.InReplyToID = st.InReplyTo
		o.InReplyToAccountID = st.InReplyToAc
	}
	for _, m := range st.Mentions {
		o.Mentions = append(o.Mentions, mastodon.Mention{ID: mastodon.ID(m.ID), Username: m.Username, Acct: m.Username, URL: s.srv.URL + "/@" + m.Username})
	}
	for _, t := range st.Tags {
		o.Tags = append(o.Tags, mastodon.Tag{Name: t})
	}
	return o
}

func (s *Server) notifJSON(n notification) []byte {
	b, _ := json.Marshal(mastodon.Notification{
		ID: mastodon.ID(n.id), Type: "mention", CreatedAt: n.status.CreatedAt,
		Account: s.accountJSON(n.status.Account), Status: ptr(s.statusObj(n.status)),
	})
	return b
}

func ptr[T any](v T) *T { return &v }

// ---- HTTP ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) auth(r *http.Request) *Account {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byToken[tok]; a != nil {
		c := *a
		return &c
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/instance", func(w http.ResponseWriter, r *http.Request) {
		ws := "ws" + strings.TrimPrefix(s.srv.URL, "http")
		s.mu.Lock()
		max := s.maxChars
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"uri": Domain, "title": "Fake Social", "version": s.version(),
			"urls": map[string]string{"streaming_api": ws}, "max_toot_chars": max})
	})
	mux.HandleFunc("GET /.well-known/nodeinfo", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"links": []map[string]string{{
			"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": s.srv.URL + "/nodeinfo/2.0"}}})
	})
	mux.HandleFunc("GET /nodeinfo/2.0", func(w http.ResponseWriter, r *http.Request) {
		name, version := Mastodon, MastodonVersion
		if s.software == GoToSocial {
			name, version = GoToSocial, GoToSocialVersion
		}
		writeJSON(w, 200, map[string]any{"version": "2.0", "software": map[string]string{"name": name, "version": version},
			"protocols": []string{"activitypub"}, "openRegistrations": false,
			"usage": map[string]any{"users": map[string]int{"total": len(s.accounts)}}})
	})
	mux.HandleFunc("GET /api/v2/instance", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		max := s.maxChars
		s.mu.Unlock()
		reserved := 23
		if s.software == GoToSocial {
			reserved = 25 // said, and not applied: GoToSocial counts a URL as typed
		}
		writeJSON(w, 200, map[string]any{"domain": Domain, "title": "Fake Social", "version": s.version(),
			"configuration": map[string]any{
				"urls":     map[string]string{"streaming": "ws" + strings.TrimPrefix(s.srv.URL, "http")},
				"statuses": map[string]any{"max_characters": max, "characters_reserved_per_url": reserved},
			}})
	})
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", s.authed(func(w http.ResponseWriter, r *http.Request, a *Account) {
		writeJSON(w, 200, s.accountJSON(*a))
	}))
	mux.HandleFunc("GET /api/v1/accounts/{id}", s.authed(func(w http.ResponseWriter, r *http.Request, _ *Account) {
		s.mu.Lock()
		a := s.accounts[r.PathValue("id")]
		s.mu.Unlock()
		if a == nil {
			apiErr(w, 404, "Record not found")
			return
		}
		writeJSON(w, 200, s.accountJSON(*a))
	}))
	mux.HandleFunc("GET /api/v1/statuses/{id}", s.authed(func(w http.ResponseWriter, r *http.Request, _ *Account) {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.byID[r.PathValue("id")]
		if st == nil {
			apiErr(w, 404, "Record not found")
			return
		}
		writeJSON(w, 200, s.statusObj(st))
	}))
	mux.HandleFunc("GET /api/v1/statuses/{id}/context", s.authed(func(w http.ResponseWriter, r *http.Request, _ *Account) {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.byID[r.PathValue("id")]
		if st == nil {
			apiErr(w, 404, "Record not found")
			return
		}
		anc := []mastodon.Status{}
		for p := s.byID[st.InReplyTo]; p != nil; p = s.byID[p.InReplyTo] {
			anc = append([]mastodon.Status{s.statusObj(p)}, anc...)
		}
		writeJSON(w, 200, map[string]any{"ancestors": anc, "descendants": []any{}})
	}))
	mux.HandleFunc("GET /api/v1/timelines/tag/{hashtag}", s.authed(s.tagTimeline))
	mux.HandleFunc("POST /api/v1/statuses", s.authed(s.postStatus))
	mux.HandleFunc("DELETE /api/v1/statuses/{id}", s.authed(s.deleteStatus))
	mux.HandleFunc("GET /api/v1/notifications", s.authed(s.notifications))
	if s.software != GoToSocial { // GoToSocial has no SSE: 404
		mux.HandleFunc("GET /api/v1/streaming/user", s.authed(func(w http.ResponseWriter, r *http.Request, a *Account) {
			s.sse(w, r, &stream{account: a.ID})
		}))
		mux.HandleFunc("GET /api/v1/streaming/hashtag", s.authed(func(w http.ResponseWriter, r *http.Request, a *Account) {
			s.sse(w, r, &stream{tag: strings.ToLower(strings.TrimPrefix(r.URL.Query().Get("tag"), "#"))})
		}))
	}
	mux.HandleFunc("GET /api/v1/streaming", s.authed(s.websocket))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { apiErr(w, 404, "Not Found") })
	return s.slow(mux)
}

// version is what the instance documents say: Mastodon's version, or
// GoToSocial's own (its build's commit after it).
func (s *Server) version() string {
	if s.software == GoToSocial {
		return GoToSocialVersion + " git-4d12e8b"
	}
	return MastodonVersion
}

func (s *Server) slow(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		off := s.noStreams
		s.mu.Unlock()
		if off && strings.HasPrefix(r.URL.Path, "/api/v1/streaming") {
			apiErr(w, 404, "Not Found")
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/api/v1/streaming") && !s.latency.Wait(r.Context(), nil) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *Account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.auth(r)
		if a == nil {
			apiErr(w, 401, "The access token is invalid")
			return
		}
		if !s.spend(w, a) {
			return
		}
		h(w, r, a)
	}
}

func (s *Server) postStatus(w http.ResponseWriter, r *http.Request, a *Account) {
	var in struct {
		Status      string `json:"status"`
		InReplyToID string `json:"in_reply_to_id"`
		Visibility  string `json:"visibility"`
		Language    string `json:"language"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiErr(w, 400, "invalid JSON")
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			apiErr(w, 400, "invalid form")
			return
		}
		in.Status, in.InReplyToID = r.PostForm.Get("status"), r.PostForm.Get("in_reply_to_id")
		in.Visibility, in.Language = r.PostForm.Get("visibility"), r.PostForm.Get("language")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.fails.Take(); ok {
		s.feed.Emit(Event{Kind: "failure"})
		if f.status == 429 {
			w.Header().Set("X-RateLimit-Limit", "300")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", time.Now().Add(f.wait).UTC().Format("2006-01-02T15:04:05.000Z"))
			apiErr(w, 429, "Too many requests")
			return
		}
		apiErr(w, f.status, http.StatusText(f.status))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if s.software == GoToSocial {
		key = "" // accepted, and ignored
	}
	if key != "" {
		if id, ok := s.idem[a.ID+"\x00"+key]; ok {
			writeJSON(w, 200, s.statusObj(s.byID[id]))
			return
		}
	}
	st, err := s.postLocked(a.ID, in.Status, PostOptions{InReplyTo: in.InReplyToID, Visibility: in.Visibility, Lang: in.Language})
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			apiErr(w, 404, "Record not found")
			return
		}
		apiErr(w, 422, err.Error())
		return
	}
	if a.ID == s.us.ID {
		s.publishes++
	}
	if key != "" {
		s.idem[a.ID+"\x00"+key] = st.ID
	}
	if l, ok := s.losses.Take(); ok {
		s.feed.Emit(Event{Kind: "failure"})
		if l.status != 0 {
			apiErr(w, l.status, http.StatusText(l.status))
			return
		}
		s.mu.Unlock()
		<-r.Context().Done()
		s.mu.Lock() // for the deferred unlock
		return
	}
	writeJSON(w, 200, s.statusObj(st))
}

// deleteStatus is DELETE /api/v1/statuses/{id}: the author's own only;
// answers the deleted status (with its text, for "delete and redraft").
func (s *Server) deleteStatus(w http.ResponseWriter, r *http.Request, a *Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byID[r.PathValue("id")]
	if st == nil {
		apiErr(w, 404, "Record not found")
		return
	}
	if st.Account.ID != a.ID {
		apiErr(w, 403, "This action is not allowed")
		return
	}
	delete(s.byID, st.ID)
	s.statuses = slices.DeleteFunc(s.statuses, func(x *Status) bool { return x == st })
	s.notifs = slices.DeleteFunc(s.notifs, func(n *notification) bool { return n.status == st })
	obj := s.statusObj(st)
	obj.Content = ""
	writeJSON(w, 200, struct {
		mastodon.Status
		Text string `json:"text"`
	}{obj, st.Text})
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request, a *Account) {
	q := r.URL.Query()
	types := q["types[]"]
	since, _ := strconv.ParseInt(q.Get("since_id"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 80 {
		limit = 40
	}
	minID, _ := strconv.ParseInt(q.Get("min_id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []notification
	for _, n := range s.notifs {
		id, _ := strconv.ParseInt(n.id, 10, 64)
		if n.hidden || n.account != a.ID || id <= since || id <= minID {
			continue
		}
		if len(types) > 0 && !slices.Contains(types, "mention") {
			continue
		}
		match = append(match, *n)
	}
	// min_id pages forward from that id (the oldest page after it);
	// otherwise the newest page. Either way answered newest first.
	if len(match) > limit {
		if q.Has("min_id") {
			match = match[:limit]
		} else {
			match = match[len(match)-limit:]
		}
	}
	out := []json.RawMessage{}
	for i := len(match) - 1; i >= 0; i-- {
		out = append(out, s.notifJSON(match[i]))
	}
	writeJSON(w, 200, out)
}

// tagTimeline is GET /api/v1/timelines/tag/{hashtag}: public statuses
// with the tag, newest first; min_id pages forward from that id (the
// oldest page after it), since_id/max_id bound, limit ≤ 40 (default 20).
func (s *Server) tagTimeline(w http.ResponseWriter, r *http.Request, _ *Account) {
	q := r.URL.Query()
	tag := strings.ToLower(strings.TrimPrefix(r.PathValue("hashtag"), "#"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 40 {
		limit = 20
	}
	minID, _ := strconv.ParseInt(q.Get("min_id"), 10, 64)
	since, _ := strconv.ParseInt(q.Get("since_id"), 10, 64)
	maxID, _ := strconv.ParseInt(q.Get("max_id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.software == GoToSocial && !slices.ContainsFunc(s.statuses, func(st *Status) bool { return slices.Contains(st.Tags, tag) }) {
		apiErr(w, 404, "Not Found: tag "+tag+" not found")
		return
	}
	var match []*Status // oldest first
	for _, st := range s.statuses {
		id, _ := strconv.ParseInt(st.ID, 10, 64)
		if st.Visibility != "public" || !slices.Contains(st.Tags, tag) || id <= minID || id <= since || (maxID > 0 && id >= maxID) {
			continue
		}
		match = append(match, st)
	}
	if len(match) > limit {
		if q.Has("min_id") {
			match = match[:limit]
		} else {
			match = match[len(match)-limit:]
		}
	}
	out := []mastodon.Status{}
	for i := len(match) - 1; i >= 0; i-- {
		out = append(out, s.statusObj(match[i]))
	}
	writeJSON(w, 200, out)
}

func (s *Server) register(r *http.Request, st *stream) {
	st.conn = fakekit.ConnOf(r.Context())
	st.ch = make(chan streamEvent, 256)
	st.drop = make(chan struct{})
	st.stall = make(chan struct{})
	s.mu.Lock()
	s.streams[st] = true
	s.mu.Unlock()
}

func (s *Server) unregister(st *stream) {
	s.mu.Lock()
	delete(s.streams, st)
	delete(s.stalled, st)
	s.mu.Unlock()
}

// sse serves one Server-Sent Events stream until the client leaves or the
// stream is dropped. Keep-alives are ":thump" comments.
func (s *Server) sse(w http.ResponseWriter, r *http.Request, st *stream) {
	fl, ok := w.(http.Flusher)
	if !ok {
		apiErr(w, 500, "no flusher")
		return
	}
	s.register(r, st)
	defer s.unregister(st)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	_, _ = fmt.Fprint(w, ":)\n\n")
	fl.Flush()
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.drop:
			return
		case <-st.stall:
			select {
			case <-r.Context().Done():
			case <-st.drop:
			}
			return
		case <-tick.C:
			_, _ = fmt.Fprint(w, ":thump\n\n")
		case ev := <-st.ch:
			_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.event, ev.payload)
		}
		fl.Flush()
	}
}

// websocket serves GET /api/v1/streaming?stream=user|hashtag&tag=: each
// message is {"stream":[...],"event":...,"payload":"<JSON as a string>"}.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request, a *Account) {
	st := &stream{}
	switch r.URL.Query().Get("stream") {
	case "user":
		st.account = a.ID
	case "hashtag":
		st.tag = strings.ToLower(r.URL.Query().Get("tag"))
	default:
		apiErr(w, 400, "Unknown stream type")
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.register(r, st)
	defer s.unregister(st)
	ctx := c.CloseRead(r.Context())
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.drop:
			return
		case <-st.stall:
			select {
			case <-ctx.Done():
			case <-st.drop:
			}
			return
		case ev := <-st.ch:
			msg, _ := json.Marshal(map[string]any{"stream": []string{r.URL.Query().Get("stream")}, "event": ev.event, "payload": ev.payload})
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// Listener is exposed for the demo, which may want to know the address.
func (s *Server) Addr() net.Addr { return s.srv.Listener.Addr() }
