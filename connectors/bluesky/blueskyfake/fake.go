// Package blueskyfake is a stateful fake of the Bluesky services Earshot
// uses, on loopback: a PDS (XRPC createSession/refreshSession, createRecord
// validating the post record and its record key, getRecord, getProfile,
// resolveHandle), a Jetstream endpoint (/subscribe with wantedCollections
// and cursor replay) and the chat service reached through the PDS with the
// atproto-proxy header.
//
// Records are kept by record key (rkey). createRecord takes an optional
// rkey, which for app.bsky.feed.post must be a TID (13 base32-sortable
// characters, first in 234567abcdefghij): a bad key answers 400
// InvalidRequest. An rkey that already holds a record is refused, never
// overwritten: by default with HTTP 400
// {"error":"RecordAlreadyExists","message":"Record already exists: at://..."};
// SetDuplicateAnswer changes that answer (the reference PDS has answered
// such a create with a bare HTTP 500 InternalServerError, see
// bluesky-social/indigo#873 and bluesky-social/atproto#4728). Without rkey
// the fake mints a TID, as the PDS does.
//
// Tests and `earshot demo` drive it as people (AddAccount, Post, Delete,
// SendDM) and inspect it (Posts, Published, DMs). Knobs: FailNext (HTTP
// errors before anything is done, 429 with RateLimit-Reset), LoseNext (the
// work is done, then the answer is an HTTP error or never comes: "it went
// through but the answer was lost"), ExpireTokens (the next calls answer
// 400 ExpiredToken), ForgetSessions (every token is one this PDS cannot
// verify: 400 InvalidToken, as a real PDS answers), SetAccountStatus (401
// AccountTakedown, AccountDeactivated, AccountSuspended on login and
// calls), SetAppView (without one getProfile answers 502 UpstreamFailure;
// describeRepo still names the handle), SetLatency, DropStreams,
// SetDMPolicy, SetDuplicateAnswer. Subscribe is a change feed for a live
// sandbox page. Safe for concurrent use.
package blueskyfake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/rivo/uniseg"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
)

// ChatProxy is the atproto-proxy header value the chat endpoints require.
const ChatProxy = "did:web:api.bsky.chat#bsky_chat"

// Account is one account on the fake.
type Account struct {
	DID       string
	Handle    string
	Name      string
	Password  string
	Followers int
	// DMPolicy: "all" (default), "following" (only accounts it follows), "none".
	DMPolicy string
	Follows  map[string]bool
	// Status is "" (active), or what its server did: AccountTakedown,
	// AccountDeactivated or AccountSuspended (SetAccountStatus).
	Status string
}

// Ref is a strong reference to a record.
type Ref struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// ReplyRefs is a post's reply block.
type ReplyRefs struct {
	Root   Ref `json:"root"`
	Parent Ref `json:"parent"`
}

// Facet is a rich-text facet with UTF-8 byte offsets.
type Facet struct {
	Index struct {
		ByteStart int `json:"byteStart"`
		ByteEnd   int `json:"byteEnd"`
	} `json:"index"`
	Features []map[string]any `json:"features"`
}

// Record is an app.bsky.feed.post record.
type Record struct {
	Type      string     `json:"$type"`
	Text      string     `json:"text"`
	CreatedAt string     `json:"createdAt"`
	Langs     []string   `json:"langs,omitempty"`
	Reply     *ReplyRefs `json:"reply,omitempty"`
	Facets    []Facet    `json:"facets,omitempty"`
}

// Post is one stored post.
type Post struct {
	URI    string
	CID    string
	Author string // DID
	Rkey   string
	Record Record
	TimeUS int64 // when it entered the firehose
}

// DM is one chat message.
type DM struct {
	ID     string
	Rev    string // position in the chat log, ordered
	Convo  string
	From   string // DID
	To     string // DID
	Text   string
	SentAt time.Time
}

// Event is a change notification for live pages.
type Event struct {
	Kind string // "post", "dm", "failure"
	Post Post
	DM   DM
}

type failure struct {
	status int
	wait   time.Duration
}

// lost is an answer LoseNext throws away: status, or none at all when 0.
type lost struct{ status int }

type sub struct {
	ch   chan []byte
	drop chan struct{}
	conn *fakekit.FreezeConn
}

// Server is a running fake.
type Server struct {
	srv    *httptest.Server
	points fakekit.Budget // SetPointsBudget (ratelimit.go)

	mu       sync.Mutex
	seq      int64
	lastUS   int64
	accounts map[string]*Account // by DID
	byHandle map[string]*Account
	access   map[string]string // token -> DID
	refresh  map[string]string
	expired  map[string]bool // access tokens that now answer ExpiredToken
	posts    []*Post
	byURI    map[string]*Post
	gone     map[string]*Post // deleted posts: replies to them are still taken, as a real PDS does
	log      [][]byte         // jetstream events, in time order
	logUS    []int64
	dms      []DM
	fails    fakekit.Failures[failure]
	losses   fakekit.Failures[lost]
	dup      struct {
		status int
		name   string
	} // the answer to a create on an rkey that is taken
	lastTID   int64 // the last minted TID's microseconds, to keep them increasing
	noAppView bool
	latency   fakekit.Latency
	subs      map[*sub]bool
	stalled   map[*sub]bool
	feed      fakekit.Feed[Event]
	us        Account
	created   int // sessions created
	renewed   int // sessions refreshed
	resolved  int // resolveHandle calls
}

// SessionCounts says how many sessions were created and refreshed, and how
// many handles were resolved, so tests can see a refresh really happened
// and caches really hold.
func (s *Server) SessionCounts() (created, refreshed, resolved int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created, s.renewed, s.resolved
}

// Our account's login.
const (
	OurHandle   = "earshot.fake.bsky"
	OurPassword = "app-pass-earshot-1234"
)

// New starts a fake with our own account (OurHandle / OurPassword). Close it when done.
func New() *Server {
	s := &Server{
		accounts: map[string]*Account{}, byHandle: map[string]*Account{},
		access: map[string]string{}, refresh: map[string]string{}, expired: map[string]bool{},
		byURI: map[string]*Post{}, gone: map[string]*Post{}, subs: map[*sub]bool{}, stalled: map[*sub]bool{},
		feed: fakekit.Feed[Event]{Buffer: 64},
	}
	s.dup.status, s.dup.name = http.StatusBadRequest, "RecordAlreadyExists"
	s.us = s.AddAccount("earshot", "Earshot Support", 900)
	s.mu.Lock()
	a := s.accounts[s.us.DID]
	a.Password = OurPassword
	s.us = *a
	s.mu.Unlock()
	s.srv = httptest.NewUnstartedServer(s.routes())
	fakekit.Freezable(s.srv)
	s.srv.Start()
	return s
}

// URL is the PDS base URL (chat is proxied through it).
func (s *Server) URL() string { return s.srv.URL }

// JetstreamURL is the subscribe endpoint, ws://.../subscribe.
func (s *Server) JetstreamURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/subscribe"
}

// Us is our own account.
func (s *Server) Us() Account { return s.us }

// Close drops streams and stops the server.
func (s *Server) Close() {
	s.DropStreams()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.feed.Close()
}

// AddAccount creates an account "<name>.fake.bsky" and returns it.
func (s *Server) AddAccount(name, display string, followers int) Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	sum := sha256.Sum256([]byte(name + strconv.FormatInt(s.seq, 10)))
	a := &Account{DID: "did:plc:" + hex.EncodeToString(sum[:12]), Handle: name + ".fake.bsky", Name: display,
		Password: "pw-" + name, Followers: followers, DMPolicy: "all", Follows: map[string]bool{}}
	s.accounts[a.DID] = a
	s.byHandle[a.Handle] = a
	return *a
}

// Lookup finds an account by handle or DID.
func (s *Server) Lookup(handleOrDID string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byHandle[strings.TrimPrefix(handleOrDID, "@")]; a != nil {
		return *a, true
	}
	if a := s.accounts[handleOrDID]; a != nil {
		return *a, true
	}
	return Account{}, false
}

// SetDMPolicy sets who may message did: "all", "following" or "none".
func (s *Server) SetDMPolicy(did, policy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[did]; a != nil {
		a.DMPolicy = policy
	}
}

// Follow makes did follow other.
func (s *Server) Follow(did, other string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[did]; a != nil {
		a.Follows[other] = true
	}
}

// FailNext makes the next n createRecord / sendMessage calls fail with
// status; a 429 carries RateLimit-Reset (epoch seconds) wait from now.
func (s *Server) FailNext(status, n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails.Add(failure{status, wait}, n)
}

// LoseNext makes the next n createRecord / sendMessage calls that succeed
// lose their answer: the record is stored (the message sent) and then the
// caller gets HTTP status instead of the result, or, when status is 0, no
// answer at all until it gives up (a timeout after the request was sent).
func (s *Server) LoseNext(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.losses.Add(lost{status}, n)
}

// SetDuplicateAnswer sets how createRecord refuses an rkey that already
// holds a record: HTTP status with XRPC error name (default 400
// RecordAlreadyExists; 500 InternalServerError is what the reference PDS
// has answered).
func (s *Server) SetDuplicateAnswer(status int, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dup.status, s.dup.name = status, name
}

// ExpireTokens makes every access token issued so far answer 400 ExpiredToken.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.access {
		s.expired[tok] = true
	}
}

// ForgetSessions forgets every session: the tokens Earshot holds become
// ones this PDS cannot verify (400 InvalidToken on calls; a refresh is
// refused as revoked), as after a key rotation or a move to another PDS.
func (s *Server) ForgetSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
	clear(s.refresh)
	clear(s.expired)
}

// SetAccountStatus sets what did's server did to it: "" (active),
// "AccountTakedown", "AccountDeactivated" or "AccountSuspended". A
// refused account gets HTTP 401 with that error on login and on every call.
func (s *Server) SetAccountStatus(did, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[did]; a != nil {
		a.Status = status
	}
}

// SetAppView says whether an AppView answers behind the PDS: without one,
// getProfile answers 502 UpstreamFailure as a real PDS does.
func (s *Server) SetAppView(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noAppView = !on
}

// Delete deletes the post at uri, as its author may. A reply to it is
// still taken (the PDS checks the reply's refs, not that the post lives).
func (s *Server) Delete(uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byURI[uri]
	if p == nil {
		return false
	}
	delete(s.byURI, uri)
	s.gone[uri] = p
	for i, q := range s.posts {
		if q == p {
			s.posts = append(s.posts[:i], s.posts[i+1:]...)
			break
		}
	}
	return true
}

// statusText is the message of an account status error.
func statusText(status string) string {
	switch status {
	case "AccountTakedown":
		return "Account has been taken down"
	case "AccountDeactivated":
		return "Account is deactivated"
	}
	return "Account has been suspended"
}

// SetLatency delays every XRPC answer by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Set(d) }

// DropStreams closes every Jetstream connection.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for x := range s.subs {
		close(x.drop)
		delete(s.subs, x)
	}
	for x := range s.stalled {
		close(x.drop)
		delete(s.stalled, x)
	}
}

// StallStreams freezes every open Jetstream connection without closing it
// (a half-open connection: no events, no pongs). New connections work.
func (s *Server) StallStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for x := range s.subs {
		if x.conn != nil {
			x.conn.Freeze()
		}
		delete(s.subs, x)
		s.stalled[x] = true
	}
}

// Streams is the number of open Jetstream connections.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Subscribe returns a channel of changes, closed by Close. Slow readers miss events.
func (s *Server) Subscribe() <-chan Event { return s.feed.Subscribe() }

var mentionRe = regexp.MustCompile(`(^|\s|\()@([a-zA-Z0-9.\-]+[a-zA-Z0-9])`)

// Post publishes text as did, as the official app would: mention facets for
// known @handles, reply refs computed from replyTo (an at:// uri), langs ["en"].
func (s *Server) Post(did, text, replyTo string) (Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Record{Type: "app.bsky.feed.post", Text: text, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), Langs: []string{"en"}}
	for _, m := range mentionRe.FindAllStringSubmatchIndex(text, -1) {
		h := text[m[4]:m[5]]
		if a := s.byHandle[h]; a != nil {
			var f Facet
			f.Index.ByteStart, f.Index.ByteEnd = m[4]-1, m[5]
			f.Features = []map[string]any{{"$type": "app.bsky.richtext.facet#mention", "did": a.DID}}
			rec.Facets = append(rec.Facets, f)
		}
	}
	if replyTo != "" {
		parent := s.byURI[replyTo]
		if parent == nil {
			return Post{}, fmt.Errorf("no post %s", replyTo)
		}
		root := Ref{URI: parent.URI, CID: parent.CID}
		if parent.Record.Reply != nil {
			root = parent.Record.Reply.Root
		}
		rec.Reply = &ReplyRefs{Root: root, Parent: Ref{URI: parent.URI, CID: parent.CID}}
	}
	p, err := s.createLocked(did, "", rec)
	if err != nil {
		return Post{}, err
	}
	return *p, nil
}

// validate checks a post record as the PDS and AppView would.
func (s *Server) validateLocked(rec Record) error {
	if rec.Type != "" && rec.Type != "app.bsky.feed.post" {
		return fmt.Errorf("Invalid app.bsky.feed.post record: $type must be app.bsky.feed.post")
	}
	if n := uniseg.GraphemeClusterCount(rec.Text); n > 300 {
		return fmt.Errorf("Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes (got %d)", n)
	}
	if len(rec.Text) > 3000 {
		return fmt.Errorf("Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 bytes")
	}
	if _, err := time.Parse(time.RFC3339Nano, rec.CreatedAt); err != nil {
		return fmt.Errorf("Invalid app.bsky.feed.post record: Record/createdAt must be a valid datetime")
	}
	if r := rec.Reply; r != nil {
		parent, root := s.byURI[r.Parent.URI], s.byURI[r.Root.URI]
		if parent == nil {
			parent = s.gone[r.Parent.URI]
		}
		if root == nil {
			root = s.gone[r.Root.URI]
		}
		if parent == nil || parent.CID != r.Parent.CID {
			return fmt.Errorf("Invalid app.bsky.feed.post record: reply parent %q does not match a post", r.Parent.URI)
		}
		if root == nil || root.CID != r.Root.CID {
			return fmt.Errorf("Invalid app.bsky.feed.post record: reply root %q does not match a post", r.Root.URI)
		}
		want := parent.URI
		if parent.Record.Reply != nil {
			want = parent.Record.Reply.Root.URI
		}
		if r.Root.URI != want {
			return fmt.Errorf("Invalid app.bsky.feed.post record: reply root must be the parent's root %q", want)
		}
	}
	for i, f := range rec.Facets {
		if f.Index.ByteStart < 0 || f.Index.ByteEnd > len(rec.Text) || f.Index.ByteStart >= f.Index.ByteEnd {
			return fmt.Errorf("Invalid app.bsky.feed.post record: facets[%d] index out of range", i)
		}
		for _, feat := range f.Features {
			if feat["$type"] == "app.bsky.richtext.facet#mention" {
				did, _ := feat["did"].(string)
				a := s.accounts[did]
				if a == nil {
					return fmt.Errorf("Invalid app.bsky.feed.post record: facets[%d] mentions unknown did", i)
				}
				if got := rec.Text[f.Index.ByteStart:f.Index.ByteEnd]; got != "@"+a.Handle {
					return fmt.Errorf("Invalid app.bsky.feed.post record: facets[%d] covers %q, not @%s", i, got, a.Handle)
				}
			}
		}
	}
	return nil
}

// errExists is createLocked's refusal of an rkey that holds a record.
type errExists struct{ uri string }

func (e errExists) Error() string { return "Record already exists: " + e.uri }

// tidRe is the TID syntax of the atproto spec: 13 base32-sortable
// characters, the first one with the top bit clear.
var tidRe = regexp.MustCompile(`^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$`)

// ValidTID reports whether s has the syntax of a TID, the record key of
// app.bsky.feed.post.
func ValidTID(s string) bool { return tidRe.MatchString(s) }

const sortable = "234567abcdefghijklmnopqrstuvwxyz"

// mintTIDLocked returns a new TID from the clock (clock id 0), as the PDS
// does for a create without rkey.
func (s *Server) mintTIDLocked() string {
	us := time.Now().UnixMicro()
	if us <= s.lastTID {
		us = s.lastTID + 1
	}
	s.lastTID = us
	v := uint64(us) << 10
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = sortable[v&31]
		v >>= 5
	}
	return string(b[:])
}

// createLocked stores rec as a post of did under rkey (minted when ""),
// refusing an invalid record, an invalid rkey or a taken one (errExists).
func (s *Server) createLocked(did, rkey string, rec Record) (*Post, error) {
	a := s.accounts[did]
	if a == nil {
		return nil, fmt.Errorf("no account %s", did)
	}
	if rec.Type == "" {
		rec.Type = "app.bsky.feed.post"
	}
	if err := s.validateLocked(rec); err != nil {
		return nil, err
	}
	if rkey == "" {
		rkey = s.mintTIDLocked()
	} else if !ValidTID(rkey) {
		return nil, fmt.Errorf("Invalid record key: app.bsky.feed.post keys must be TIDs, got %q", rkey)
	}
	if uri := "at://" + did + "/app.bsky.feed.post/" + rkey; s.byURI[uri] != nil {
		return nil, errExists{uri}
	}
	s.seq++
	body, _ := json.Marshal(rec)
	sum := sha256.Sum256(append([]byte(did+rkey), body...))
	p := &Post{URI: "at://" + did + "/app.bsky.feed.post/" + rkey, CID: "bafyrei" + hex.EncodeToString(sum[:20]),
		Author: did, Rkey: rkey, Record: rec, TimeUS: s.nextUSLocked()}
	s.posts = append(s.posts, p)
	s.byURI[p.URI] = p
	ev, _ := json.Marshal(map[string]any{
		"did": did, "time_us": p.TimeUS, "kind": "commit",
		"commit": map[string]any{"rev": rkey, "operation": "create", "collection": "app.bsky.feed.post",
			"rkey": rkey, "record": json.RawMessage(body), "cid": p.CID},
	})
	s.log = append(s.log, ev)
	s.logUS = append(s.logUS, p.TimeUS)
	for x := range s.subs {
		select {
		case x.ch <- ev:
		default: // a stalled consumer is dropped, as Jetstream does
			close(x.drop)
			delete(s.subs, x)
		}
	}
	s.feed.Emit(Event{Kind: "post", Post: *p})
	return p, nil
}

func (s *Server) nextUSLocked() int64 {
	us := time.Now().UnixMicro()
	if us <= s.lastUS {
		us = s.lastUS + 1
	}
	s.lastUS = us
	return us
}

// SendDM sends a chat message from one account to another (a customer writing to us).
func (s *Server) SendDM(from, to, text string) (DM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(from, to, text)
}

func convoID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "|" + b))
	return "convo-" + hex.EncodeToString(sum[:8])
}

func (s *Server) dmErrLocked(from, to string) string {
	r := s.accounts[to]
	if r == nil {
		return "InvalidRequest"
	}
	switch r.DMPolicy {
	case "none":
		return "MessagesDisabled"
	case "following":
		if !r.Follows[from] {
			return "NotFollowedBySender"
		}
	}
	return ""
}

func (s *Server) sendLocked(from, to, text string) (DM, error) {
	if e := s.dmErrLocked(from, to); e != "" {
		return DM{}, fmt.Errorf("%s", e)
	}
	if n := uniseg.GraphemeClusterCount(text); n > 1000 || n == 0 {
		return DM{}, fmt.Errorf("InvalidRequest")
	}
	s.seq++
	m := DM{ID: "msg-" + strconv.FormatInt(s.seq, 10), Rev: fmt.Sprintf("rev%016d", s.seq), Convo: convoID(from, to), From: from, To: to, Text: text, SentAt: time.Now().UTC()}
	s.dms = append(s.dms, m)
	s.feed.Emit(Event{Kind: "dm", DM: m})
	return m, nil
}

// Posts returns every post, oldest first.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Post, 0, len(s.posts))
	for _, p := range s.posts {
		out = append(out, *p)
	}
	return out
}

// Published returns the posts our own account made, oldest first.
func (s *Server) Published() []Post {
	var out []Post
	for _, p := range s.Posts() {
		if p.Author == s.us.DID {
			out = append(out, p)
		}
	}
	return out
}

// DMs returns every chat message involving did, oldest first.
func (s *Server) DMs(did string) []DM {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DM
	for _, m := range s.dms {
		if m.From == did || m.To == did {
			out = append(out, m)
		}
	}
	return out
}

// ---- HTTP ----

func xerr(w http.ResponseWriter, code int, name, msg string) {
	writeJSON(w, code, map[string]string{"error": name, "message": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// authed resolves the caller's DID from its access token.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, did string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		did, known := s.access[tok]
		expired := s.expired[tok]
		status := ""
		if a := s.accounts[did]; a != nil {
			status = a.Status
		}
		s.mu.Unlock()
		switch {
		case !ok:
			xerr(w, 401, "AuthMissing", "Authentication Required")
		case !known:
			xerr(w, 400, "InvalidToken", "Token could not be verified")
		case expired:
			xerr(w, 400, "ExpiredToken", "Token has expired")
		case status != "":
			xerr(w, 401, status, statusText(status))
		default:
			h(w, r, did)
		}
	}
}

func (s *Server) issueLocked(did string) (string, string) {
	s.seq++
	a := fmt.Sprintf("access-%d-%s", s.seq, did[len(did)-6:])
	rf := fmt.Sprintf("refresh-%d-%s", s.seq, did[len(did)-6:])
	s.access[a] = did
	s.refresh[rf] = did
	return a, rf
}

func (s *Server) session(w http.ResponseWriter, did string, a, rf string) {
	s.mu.Lock()
	acc := *s.accounts[did]
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"accessJwt": a, "refreshJwt": rf, "did": did, "handle": acc.Handle, "active": true})
}

// takeFailure pops the next injected failure and answers it; false when none.
func (s *Server) takeFailure(w http.ResponseWriter) bool {
	s.mu.Lock()
	f, ok := s.fails.Take()
	if !ok {
		s.mu.Unlock()
		return false
	}
	s.feed.Emit(Event{Kind: "failure"})
	s.mu.Unlock()
	if f.status == 429 {
		reset := time.Now().Add(f.wait)
		w.Header().Set("RateLimit-Limit", "5000")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix()+boolInt(reset.Nanosecond() > 0), 10))
		w.Header().Set("RateLimit-Policy", "5000;w=3600")
		xerr(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
		return true
	}
	xerr(w, f.status, map[bool]string{true: "InternalServerError", false: "InvalidRequest"}[f.status >= 500], http.StatusText(f.status))
	return true
}

// loseAnswer answers a call whose work is done with the next LoseNext
// failure instead of its result: an HTTP error, or nothing until the
// caller hangs up. False when no answer is to be lost.
func (s *Server) loseAnswer(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	l, ok := s.losses.Take()
	if ok {
		s.feed.Emit(Event{Kind: "failure"})
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	if l.status == 0 {
		<-r.Context().Done()
		return true
	}
	xerr(w, l.status, map[bool]string{true: "InternalServerError", false: "InvalidRequest"}[l.status >= 500], http.StatusText(l.status))
	return true
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /xrpc/com.atproto.server.createSession", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Identifier, Password string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
			xerr(w, 400, "InvalidRequest", "bad JSON")
			return
		}
		s.mu.Lock()
		a := s.byHandle[strings.TrimPrefix(in.Identifier, "@")]
		if a == nil {
			a = s.accounts[in.Identifier]
		}
		if a == nil || a.Password != in.Password {
			s.mu.Unlock()
			xerr(w, 401, "AuthenticationRequired", "Invalid identifier or password")
			return
		}
		if a.Status != "" {
			status := a.Status
			s.mu.Unlock()
			xerr(w, 401, status, statusText(status))
			return
		}
		acc, rf := s.issueLocked(a.DID)
		s.created++
		s.mu.Unlock()
		s.session(w, a.DID, acc, rf)
	})
	mux.HandleFunc("POST /xrpc/com.atproto.server.refreshSession", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		did, ok := s.refresh[tok]
		if !ok {
			s.mu.Unlock()
			xerr(w, 400, "ExpiredToken", "Token has been revoked")
			return
		}
		delete(s.refresh, tok) // refresh tokens are single use
		acc, rf := s.issueLocked(did)
		s.renewed++
		s.mu.Unlock()
		s.session(w, did, acc, rf)
	})
	mux.HandleFunc("GET /xrpc/com.atproto.identity.resolveHandle", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		a := s.byHandle[r.URL.Query().Get("handle")]
		s.resolved++
		s.mu.Unlock()
		if a == nil {
			xerr(w, 400, "InvalidRequest", "Unable to resolve handle")
			return
		}
		writeJSON(w, 200, map[string]string{"did": a.DID})
	})
	mux.HandleFunc("GET /xrpc/app.bsky.actor.getProfile", s.authed(func(w http.ResponseWriter, r *http.Request, _ string) {
		actor := r.URL.Query().Get("actor")
		s.mu.Lock()
		a := s.accounts[actor]
		if a == nil {
			a = s.byHandle[actor]
		}
		noAppView := s.noAppView
		s.mu.Unlock()
		if noAppView {
			xerr(w, 502, "UpstreamFailure", "Upstream service unreachable")
			return
		}
		if a == nil {
			xerr(w, 400, "InvalidRequest", "Profile not found")
			return
		}
		writeJSON(w, 200, map[string]any{"did": a.DID, "handle": a.Handle, "displayName": a.Name,
			"avatar": s.srv.URL + "/img/avatar/" + a.DID + ".jpg", "followersCount": a.Followers})
	}))
	mux.HandleFunc("GET /xrpc/com.atproto.repo.describeRepo", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repo")
		s.mu.Lock()
		a := s.accounts[repo]
		if a == nil {
			a = s.byHandle[repo]
		}
		var out map[string]any
		if a != nil {
			out = map[string]any{"did": a.DID, "handle": a.Handle, "handleIsCorrect": true,
				"collections": []string{"app.bsky.feed.post"}}
		}
		s.mu.Unlock()
		if a == nil {
			xerr(w, 400, "RepoNotFound", "Could not find repo: "+repo)
			return
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("GET /xrpc/com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		repo, coll, rkey := q.Get("repo"), q.Get("collection"), q.Get("rkey")
		if repo == "" || coll == "" || rkey == "" {
			xerr(w, 400, "InvalidRequest", "repo, collection and rkey are required")
			return
		}
		s.mu.Lock()
		if a := s.byHandle[repo]; a != nil {
			repo = a.DID
		}
		uri := "at://" + repo + "/" + coll + "/" + rkey
		p := s.byURI[uri]
		var out map[string]any
		if p != nil {
			out = map[string]any{"uri": p.URI, "cid": p.CID, "value": p.Record}
		}
		s.mu.Unlock()
		if p == nil {
			xerr(w, 400, "RecordNotFound", "Could not locate record: "+uri)
			return
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("POST /xrpc/com.atproto.repo.createRecord", s.authed(func(w http.ResponseWriter, r *http.Request, did string) {
		var in struct {
			Repo       string `json:"repo"`
			Collection string `json:"collection"`
			Rkey       string `json:"rkey"`
			Record     Record `json:"record"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
			xerr(w, 400, "InvalidRequest", "bad JSON: "+err.Error())
			return
		}
		if !s.spendPoints(w, did, pointsPerCreate) {
			return
		}
		if s.takeFailure(w) {
			return
		}
		if in.Repo != did {
			xerr(w, 400, "InvalidRequest", "repo does not match the session")
			return
		}
		if in.Collection != "app.bsky.feed.post" {
			xerr(w, 400, "InvalidRequest", "unsupported collection")
			return
		}
		s.mu.Lock()
		p, err := s.createLocked(did, in.Rkey, in.Record)
		dup := s.dup
		s.mu.Unlock()
		var exists errExists
		switch {
		case errors.As(err, &exists):
			xerr(w, dup.status, dup.name, err.Error())
			return
		case err != nil:
			xerr(w, 400, "InvalidRequest", err.Error())
			return
		}
		if s.loseAnswer(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"uri": p.URI, "cid": p.CID})
	}))
	mux.HandleFunc("GET /xrpc/chat.bsky.convo.getConvoForMembers", s.authed(s.chat(func(w http.ResponseWriter, r *http.Request, did string) {
		members := r.URL.Query()["members"]
		if len(members) != 1 {
			xerr(w, 400, "InvalidRequest", "want exactly one other member")
			return
		}
		s.mu.Lock()
		e := s.dmErrLocked(did, members[0])
		s.mu.Unlock()
		if e != "" {
			xerr(w, 400, e, e)
			return
		}
		writeJSON(w, 200, map[string]any{"convo": map[string]any{"id": convoID(did, members[0]),
			"members": []map[string]string{{"did": did}, {"did": members[0]}}}})
	})))
	mux.HandleFunc("POST /xrpc/chat.bsky.convo.sendMessage", s.authed(s.chat(func(w http.ResponseWriter, r *http.Request, did string) {
		var in struct {
			ConvoID string `json:"convoId"`
			Message struct {
				Text string `json:"text"`
			} `json:"message"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
			xerr(w, 400, "InvalidRequest", "bad JSON")
			return
		}
		if s.takeFailure(w) {
			return
		}
		s.mu.Lock()
		var to string
		for d := range s.accounts {
			if d != did && convoID(did, d) == in.ConvoID {
				to = d
			}
		}
		if to == "" {
			s.mu.Unlock()
			xerr(w, 400, "InvalidConvo", "Convo not found")
			return
		}
		m, err := s.sendLocked(did, to, in.Message.Text)
		s.mu.Unlock()
		if err != nil {
			xerr(w, 400, err.Error(), err.Error())
			return
		}
		if s.loseAnswer(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"id": m.ID, "rev": m.ID, "text": m.Text,
			"sender": map[string]string{"did": did}, "sentAt": m.SentAt.Format(time.RFC3339Nano)})
	})))
	mux.HandleFunc("GET /xrpc/chat.bsky.convo.getLog", s.authed(s.chat(func(w http.ResponseWriter, r *http.Request, did string) {
		cursor := r.URL.Query().Get("cursor")
		s.mu.Lock()
		logs := []map[string]any{}
		last := cursor
		for _, m := range s.dms {
			if (m.From != did && m.To != did) || m.Rev <= cursor {
				continue
			}
			if len(logs) == 100 {
				break
			}
			logs = append(logs, map[string]any{"$type": "chat.bsky.convo.defs#logCreateMessage", "rev": m.Rev, "convoId": m.Convo,
				"message": map[string]any{"$type": "chat.bsky.convo.defs#messageView", "id": m.ID, "rev": m.Rev, "text": m.Text,
					"sender": map[string]string{"did": m.From}, "sentAt": m.SentAt.Format(time.RFC3339Nano)}})
			last = m.Rev
		}
		s.mu.Unlock()
		out := map[string]any{"logs": logs}
		if last != "" {
			out["cursor"] = last
		}
		writeJSON(w, 200, out)
	})))
	mux.HandleFunc("GET /subscribe", s.jetstream)
	return s.slow(mux)
}

// chat requires the atproto-proxy header, as the PDS needs it to route.
func (s *Server) chat(h func(http.ResponseWriter, *http.Request, string)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, did string) {
		if r.Header.Get("atproto-proxy") != ChatProxy {
			xerr(w, 400, "InvalidRequest", "chat methods need the atproto-proxy header "+ChatProxy)
			return
		}
		h(w, r, did)
	}
}

func (s *Server) slow(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subscribe" && !s.latency.Wait(r.Context(), nil) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// jetstream serves /subscribe?wantedCollections=...&cursor=<µs>: replays
// logged events at or after the cursor, then streams live ones.
func (s *Server) jetstream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wanted := q["wantedCollections"]
	if len(wanted) > 0 && !containsStr(wanted, "app.bsky.feed.post") {
		http.Error(w, "only app.bsky.feed.post is served", 400)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	x := &sub{ch: make(chan []byte, 1024), drop: make(chan struct{}), conn: fakekit.ConnOf(r.Context())}
	s.mu.Lock()
	var backlog [][]byte
	if cur := q.Get("cursor"); cur != "" {
		us, _ := strconv.ParseInt(cur, 10, 64)
		for i, t := range s.logUS {
			if t >= us {
				backlog = append(backlog, s.log[i])
			}
		}
	}
	s.subs[x] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, x)
		delete(s.stalled, x)
		s.mu.Unlock()
	}()
	ctx := c.CloseRead(r.Context())
	write := func(b []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b) == nil
	}
	for _, b := range backlog {
		select {
		case <-x.drop:
			return
		default:
		}
		if !write(b) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.drop:
			return
		case b := <-x.ch:
			if !write(b) {
				return
			}
		}
	}
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
