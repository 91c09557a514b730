// Package webhookfake is a stateful fake of a generic webhook source: a
// small "site" (a review site, an app store) whose customers post
// complaints that are sent, signed, to Earshot's /webhook/{source} route,
// and whose reply receiver records the replies Earshot POSTs back.
//
// It speaks the wire format of connectors/webhook (README.md) without
// importing that package, so it also checks the format independently. It is
// drivable as a person (Post), inspectable (Timeline, Replies, DMs,
// Attempts), has knobs (FailNext, SetLatency, DropNext) and a change hook
// (Subscribe). Safe for concurrent use. Used by tests and `earshot demo`.
package webhookfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/connectors/internal/fakekit"
)

// Options configure a Site.
type Options struct {
	Source string // the {source} name; default "reviews"
	Secret string // shared signing secret; default "webhook-secret"
	// Target is Earshot's base URL ("http://127.0.0.1:8080"); posts go to
	// Target + "/webhook/" + Source. May be set later with SetTarget.
	Target string
	// Now is the site's clock for signatures; default time.Now.
	Now func() time.Time
	// Legacy signs posts with the old scheme (sha256=, not bound to the
	// source) and accepts replies signed that way, as a sender not yet
	// moved to v1 does. Default: v1 both ways.
	Legacy bool
}

// Author is a customer of the site.
type Author struct {
	ID        string `json:"id"`
	Handle    string `json:"handle,omitempty"`
	Name      string `json:"name,omitempty"`
	URL       string `json:"url,omitempty"`
	Avatar    string `json:"avatar,omitempty"`
	Followers int    `json:"followers,omitempty"`
}

// Post is one entry of the site's public timeline: a customer's post or a
// reply Earshot published.
type Post struct {
	ID           string    `json:"id"`
	Author       Author    `json:"author"`
	Text         string    `json:"text"`
	URL          string    `json:"url,omitempty"`
	InReplyTo    string    `json:"in_reply_to,omitempty"`
	Conversation string    `json:"conversation,omitempty"`
	Lang         string    `json:"lang,omitempty"`
	CreatedAt    string    `json:"created_at,omitempty"`
	Direct       bool      `json:"direct,omitempty"`
	FromBrand    bool      `json:"-"` // published by Earshot
	At           time.Time `json:"-"`
}

// Reply is what Earshot POSTed to the reply receiver (one per idempotency key).
type Reply struct {
	ID             string // the id the receiver gave it
	IdempotencyKey string `json:"idempotency_key"`
	Case           string `json:"case"`
	Source         string `json:"source"`
	InReplyTo      string `json:"in_reply_to"`
	Conversation   string `json:"conversation"`
	To             Author `json:"to"`
	Text           string `json:"text"`
	Private        bool   `json:"private"`
	Deliveries     int    // how many signed requests carried this key
}

// Event tells a subscriber what changed.
type Event struct {
	Kind string // "post" (a customer posted), "reply", "dm", "rejected" (a reply request refused)
	ID   string
}

// Site is the fake source. Close it when done.
type Site struct {
	srv    *httptest.Server
	client *http.Client
	source string
	secret string
	legacy bool
	now    func() time.Time

	mu       sync.Mutex
	target   string
	nextID   int
	timeline []Post
	replies  []*Reply
	byKey    map[string]*Reply
	attempts int
	fail     fakekit.Failures[failure]
	drop     int
	latency  fakekit.Latency
	feed     fakekit.Feed[Event]
	closed   chan struct{}
}

type failure struct {
	status int
	wait   time.Duration
}

// New starts the site's reply receiver on 127.0.0.1.
func New(o Options) *Site {
	if o.Source == "" {
		o.Source = "reviews"
	}
	if o.Secret == "" {
		o.Secret = "webhook-secret"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Site{source: o.Source, secret: o.Secret, legacy: o.Legacy, now: o.Now, target: strings.TrimRight(o.Target, "/"),
		byKey: map[string]*Reply{}, closed: make(chan struct{}), client: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /replies", s.receive)
	s.srv = httptest.NewServer(mux)
	return s
}

// ReplyURL is where Earshot should POST replies (its reply_url).
func (s *Site) ReplyURL() string { return s.srv.URL + "/replies" }

// Source is the site's source name.
func (s *Site) Source() string { return s.source }

// Secret is the shared signing secret.
func (s *Site) Secret() string { return s.secret }

// SetTarget points the site at Earshot's base URL.
func (s *Site) SetTarget(base string) {
	s.mu.Lock()
	s.target = strings.TrimRight(base, "/")
	s.mu.Unlock()
}

// Close stops the receiver and closes subscriber channels.
func (s *Site) Close() {
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
	s.client.CloseIdleConnections()
}

// Subscribe returns a channel of changes (buffered; events are dropped
// when it is full). Closed by Close.
func (s *Site) Subscribe() <-chan Event { return s.feed.Subscribe() }

// FailNext makes the next n reply requests answer status; for 429 and 503
// with Retry-After of wait (whole seconds, rounded up).
func (s *Site) FailNext(status, n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail.Add(failure{status, wait}, n)
}

// DropNext makes the next n reply requests be recorded as received and then
// hang until the client gives up (a timeout after sending): the reply is
// published, but Earshot never hears so.
func (s *Site) DropNext(n int) {
	s.mu.Lock()
	s.drop += n
	s.mu.Unlock()
}

// SetLatency delays every reply answer by d.
func (s *Site) SetLatency(d time.Duration) { s.latency.Set(d) }

// PostOptions are the optional parts of a customer post.
type PostOptions struct {
	ID           string // default: a fresh id
	InReplyTo    string
	Conversation string
	Direct       bool
	Lang         string
	// At is when the customer wrote it (default: now). A site that forwards
	// a backlog, such as last night's reviews, sends older posts.
	At time.Time
}

// Result is Earshot's answer to a post.
type Result struct {
	Status int
	Body   string
}

// Post publishes a customer's post on the site and sends it, signed, to
// Earshot. It blocks until Earshot answered. The post joins the timeline
// whatever the answer.
func (s *Site) Post(ctx context.Context, a Author, text string, o PostOptions) (Post, Result, error) {
	s.mu.Lock()
	if o.ID == "" {
		s.nextID++
		o.ID = "p" + strconv.Itoa(s.nextID)
	}
	if a.Handle == "" {
		a.Handle = a.ID
	}
	p := Post{ID: o.ID, Author: a, Text: text, InReplyTo: o.InReplyTo, Conversation: o.Conversation,
		Direct: o.Direct, Lang: o.Lang, URL: s.srv.URL + "/p/" + o.ID, At: s.now()}
	if !o.At.IsZero() {
		p.At = o.At
	}
	p.CreatedAt = p.At.UTC().Format(time.RFC3339Nano)
	s.timeline = append(s.timeline, p)
	s.feed.Emit(Event{Kind: "post", ID: p.ID})
	target := s.target
	s.mu.Unlock()
	body, _ := json.Marshal(p)
	res, err := s.Send(ctx, target, body)
	return p, res, err
}

// Send POSTs a raw body, signed now, to Earshot's route for this site
// (base "" = the configured target). For tests of malformed input.
func (s *Site) Send(ctx context.Context, base string, body []byte) (Result, error) {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	return s.SendSigned(ctx, base, body, ts, s.sign(ts, body))
}

// sign signs body at ts the way this site signs.
func (s *Site) sign(ts string, body []byte) string {
	if s.legacy {
		return SignLegacy(s.secret, ts, body)
	}
	return Sign(s.secret, s.source, ts, body)
}

// SendSigned POSTs body with the given timestamp and signature headers to
// this site's route.
func (s *Site) SendSigned(ctx context.Context, base string, body []byte, ts, sig string) (Result, error) {
	return s.SendTo(ctx, base, s.source, body, ts, sig)
}

// SendTo POSTs body with the given timestamp and signature headers to the
// route of source (which need not be this site's: a replay elsewhere).
func (s *Site) SendTo(ctx context.Context, base, source string, body []byte, ts, sig string) (Result, error) {
	if base == "" {
		s.mu.Lock()
		base = s.target
		s.mu.Unlock()
	}
	if base == "" {
		return Result{}, errors.New("webhookfake: no target set")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhook/"+source, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if ts != "" {
		req.Header.Set("X-Earshot-Timestamp", ts)
	}
	if sig != "" {
		req.Header.Set("X-Earshot-Signature", sig)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("webhookfake: post: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return Result{Status: resp.StatusCode, Body: string(b)}, nil
}

// Sign is the v1 signing scheme for source:
// "v1=" + hex(HMAC-SHA256(secret, "v1:" + source + ":" + ts + ":" + body)).
func Sign(secret, source, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v1:" + source + ":" + ts + ":"))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// SignLegacy is the old scheme, bound to no source:
// "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func SignLegacy(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// receive is the reply receiver: verify, dedupe by Idempotency-Key, record.
func (s *Site) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":"read"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.attempts++
	f, failing := s.fail.Take()
	dropping := !failing && s.drop > 0
	if dropping {
		s.drop--
	}
	s.mu.Unlock()
	if !s.latency.Wait(r.Context(), nil) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if failing {
		if f.wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.wait+time.Second-1)/time.Second)))
		}
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"error":"injected failure %d"}`, f.status)
		s.feed.Emit(Event{Kind: "rejected"})
		return
	}
	ts := r.Header.Get("X-Earshot-Timestamp")
	sig := r.Header.Get("X-Earshot-Signature")
	if ts == "" || !hmac.Equal([]byte(sig), []byte(s.sign(ts, body))) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"bad signature"}`)
		s.feed.Emit(Event{Kind: "rejected"})
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || absDur(s.now().Sub(time.Unix(sec, 0))) > 5*time.Minute {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"stale timestamp"}`)
		return
	}
	var rp Reply
	if err := json.Unmarshal(body, &rp); err != nil || rp.Text == "" || rp.To.ID == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"malformed reply"}`)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || key != rp.IdempotencyKey {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"Idempotency-Key header missing or not the body's idempotency_key"}`)
		return
	}
	s.mu.Lock()
	got, dup := s.byKey[key]
	if !dup {
		s.nextID++
		rp.ID = "r" + strconv.Itoa(s.nextID)
		rp.Deliveries = 1
		got = &rp
		s.byKey[key] = got
		s.replies = append(s.replies, got)
		p := Post{ID: rp.ID, Author: Author{ID: "brand", Handle: "brand"}, Text: rp.Text, InReplyTo: rp.InReplyTo,
			Conversation: rp.Conversation, Direct: rp.Private, FromBrand: true, At: s.now(), URL: s.srv.URL + "/p/" + rp.ID}
		if rp.Private {
			p.InReplyTo = ""
		}
		s.timeline = append(s.timeline, p)
		kind := "reply"
		if rp.Private {
			kind = "dm"
		}
		s.feed.Emit(Event{Kind: kind, ID: rp.ID})
	} else {
		got.Deliveries++
	}
	id := got.ID
	s.mu.Unlock()
	if dropping {
		// Published, but the answer never comes: hold until the client gives up.
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	status := http.StatusCreated
	if dup {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"id": id, "url": s.srv.URL + "/p/" + id})
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Timeline is every post on the site, customers' and ours, oldest first.
func (s *Site) Timeline() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.timeline...)
}

// Replies is every distinct reply received (public and private), oldest first.
func (s *Site) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Reply, len(s.replies))
	for i, r := range s.replies {
		out[i] = *r
	}
	return out
}

// DMs is the private replies sent to the customer with author id.
func (s *Site) DMs(authorID string) []Reply {
	var out []Reply
	for _, r := range s.Replies() {
		if r.Private && r.To.ID == authorID {
			out = append(out, r)
		}
	}
	return out
}

// Attempts counts every reply request received, failed ones included.
func (s *Site) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}
