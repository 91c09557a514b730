package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/httpbody"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// InboundPost is the JSON body a source POSTs to /webhook/{source}.
// See README.md for the field rules.
type InboundPost struct {
	ID           string        `json:"id"`
	Author       InboundAuthor `json:"author"`
	Text         string        `json:"text"`
	URL          string        `json:"url,omitempty"`
	InReplyTo    string        `json:"in_reply_to,omitempty"`
	Conversation string        `json:"conversation,omitempty"`
	Lang         string        `json:"lang,omitempty"`
	CreatedAt    string        `json:"created_at,omitempty"` // RFC 3339; default: when received
	Direct       bool          `json:"direct,omitempty"`     // a private message to us
}

// InboundAuthor is the customer who wrote an InboundPost.
type InboundAuthor struct {
	ID        string `json:"id"`
	Handle    string `json:"handle,omitempty"` // default: id
	Name      string `json:"name,omitempty"`
	URL       string `json:"url,omitempty"`
	Avatar    string `json:"avatar,omitempty"`
	Followers int    `json:"followers,omitempty"`
}

// Field limits of an inbound post.
const (
	maxIDLen   = 256
	maxTextLen = 40000 // bytes; the body limit usually bites first
	maxNameLen = 512
)

// fieldError is a 400 answer naming the offending field.
type fieldError struct {
	Field string
	Msg   string
}

func (e *fieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// parseInbound decodes and validates one inbound body. Pure; fuzzed.
func parseInbound(body []byte, now time.Time) (InboundPost, time.Time, error) {
	var in InboundPost
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			f := te.Field
			if f == "" {
				f = "(body)"
			}
			return in, time.Time{}, &fieldError{Field: f, Msg: "must be a " + jsonKind(te.Type.Kind().String())}
		case errors.As(err, &se):
			return in, time.Time{}, &fieldError{Msg: fmt.Sprintf("body is not valid JSON (at byte %d)", se.Offset)}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return in, time.Time{}, &fieldError{Msg: "body is empty or cut short"}
		}
		return in, time.Time{}, &fieldError{Msg: "body is not a JSON object"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, time.Time{}, &fieldError{Msg: "body has data after the JSON object"}
	}
	if err := checkRawIDs(body); err != nil {
		return in, time.Time{}, err
	}
	req := func(field, v string, max int) error {
		if strings.TrimSpace(v) == "" {
			return &fieldError{Field: field, Msg: "required"}
		}
		return limit(field, v, max)
	}
	if err := req("id", in.ID, maxIDLen); err != nil {
		return in, time.Time{}, err
	}
	if err := req("author.id", in.Author.ID, maxIDLen); err != nil {
		return in, time.Time{}, err
	}
	for _, f := range []struct{ name, v string }{{"id", in.ID}, {"author.id", in.Author.ID}, {"in_reply_to", in.InReplyTo}, {"conversation", in.Conversation}} {
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return in, time.Time{}, &fieldError{Field: f.name, Msg: "has a control character"}
		}
	}
	if err := req("text", in.Text, maxTextLen); err != nil {
		return in, time.Time{}, err
	}
	for _, f := range []struct{ name, v string }{
		{"author.handle", in.Author.Handle}, {"author.name", in.Author.Name},
		{"in_reply_to", in.InReplyTo}, {"conversation", in.Conversation}, {"lang", in.Lang},
	} {
		if err := limit(f.name, f.v, maxNameLen); err != nil {
			return in, time.Time{}, err
		}
	}
	for _, f := range []struct{ name, v string }{{"url", in.URL}, {"author.url", in.Author.URL}, {"author.avatar", in.Author.Avatar}} {
		if f.v == "" {
			continue
		}
		if len(f.v) > 2048 {
			return in, time.Time{}, &fieldError{Field: f.name, Msg: "longer than 2048 bytes"}
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return in, time.Time{}, &fieldError{Field: f.name, Msg: "must be an http(s) URL"}
		}
	}
	if in.Author.Followers < 0 {
		return in, time.Time{}, &fieldError{Field: "author.followers", Msg: "must not be negative"}
	}
	at := now
	if in.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, in.CreatedAt)
		if err != nil {
			return in, time.Time{}, &fieldError{Field: "created_at", Msg: "must be an RFC 3339 time like 2026-11-23T10:00:00Z"}
		}
		at = t
	}
	return in, at, nil
}

// limit bounds a decoded field's length. (Decoded text is always valid
// UTF-8: invalid bytes in text fields are shown as U+FFFD; ids are checked
// on the raw bytes instead, checkRawIDs.)
func limit(field, v string, max int) error {
	if len(v) > max {
		return &fieldError{Field: field, Msg: "longer than " + strconv.Itoa(max) + " bytes"}
	}
	return nil
}

// rawIDs are the id fields of an inbound post as the sender wrote them.
// encoding/json matches keys the same way for this struct as for
// InboundPost (case-insensitively, the last of duplicates wins), so these
// are the bytes the decoded ids came from.
type rawIDs struct {
	ID           json.RawMessage `json:"id"`
	InReplyTo    json.RawMessage `json:"in_reply_to"`
	Conversation json.RawMessage `json:"conversation"`
	Author       struct {
		ID json.RawMessage `json:"id"`
	} `json:"author"`
}

// checkRawIDs checks the ids of a body that decoded: encoding/json turns
// invalid UTF-8 and unpaired surrogate escapes into U+FFFD, which would
// make different ids ("dup\xff", "dup\xfe") the same, and the second post
// would be dropped as a duplicate. So ids are checked on the raw bytes:
// valid UTF-8, no unpaired \uD800-\uDFFF escape, no control character.
func checkRawIDs(body []byte) error {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
		return nil // nothing decoding could have replaced: the usual body
	}
	var raw rawIDs
	if json.Unmarshal(body, &raw) != nil {
		return nil // the decode that matters succeeded; nothing to check against
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"id", raw.ID}, {"author.id", raw.Author.ID}, {"in_reply_to", raw.InReplyTo}, {"conversation", raw.Conversation}} {
		if msg := rawIDProblem(f.raw); msg != "" {
			return &fieldError{Field: f.name, Msg: msg}
		}
	}
	return nil
}

// rawIDProblem says what is wrong with the raw bytes of a JSON string
// token used as an id, or "" when nothing is (or it is not a string).
func rawIDProblem(tok []byte) string {
	if len(tok) < 2 || tok[0] != '"' {
		return ""
	}
	if !utf8.Valid(tok) {
		return "not valid UTF-8; an id is compared byte for byte, and invalid bytes would be read as U+FFFD"
	}
	for i := 1; i < len(tok)-1; i++ {
		if tok[i] != '\\' {
			continue
		}
		if tok[i+1] != 'u' || i+6 > len(tok) {
			i++ // a one-letter escape
			continue
		}
		switch r := hex4(tok[i+2 : i+6]); {
		case r >= 0xD800 && r < 0xDC00:
			if i+12 <= len(tok) && tok[i+6] == '\\' && tok[i+7] == 'u' {
				if lo := hex4(tok[i+8 : i+12]); lo >= 0xDC00 && lo < 0xE000 {
					i += 11 // a surrogate pair: one character
					continue
				}
			}
			return "has an unpaired UTF-16 surrogate escape (\\u" + string(tok[i+2:i+6]) + "); an id must be valid Unicode"
		case r >= 0xDC00 && r < 0xE000:
			return "has an unpaired UTF-16 surrogate escape (\\u" + string(tok[i+2:i+6]) + "); an id must be valid Unicode"
		}
		i += 5
	}
	return ""
}

// hex4 reads four hex digits; -1 when they are not.
func hex4(b []byte) int {
	v, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return -1
	}
	return int(v)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	case "struct", "map":
		return "JSON object"
	case "slice":
		return "JSON array"
	case "bool":
		return "boolean (true or false)"
	}
	return k
}

type answer struct {
	Status string `json:"status,omitempty"` // accepted, duplicate
	ID     string `json:"id,omitempty"`     // the post's id as Earshot knows it (source/id)
	Error  string `json:"error,omitempty"`
	Field  string `json:"field,omitempty"`
}

func reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// serveInbound is POST /webhook/{source}: bound, verify, refuse a replay,
// then accept. It blocks until the Inbox journaled the post.
func (n *Network) serveInbound(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	src, ok := n.source(name)
	if !ok {
		reply(w, http.StatusNotFound, answer{Error: "unknown source"})
		return
	}
	body, err := httpbody.Read(w, r, n.cfg.MaxBody)
	if err != nil {
		reply(w, httpbody.Status(err), answer{Error: err.Error()})
		return
	}
	now := n.deps.Now()
	ts := strings.TrimSpace(r.Header.Get(HeaderTimestamp))
	v := Verifier{Secret: src.Secret, Source: name, Window: n.cfg.ReplayWindow, Legacy: src.LegacySignatures}
	signedAt, err := v.Verify(ts, r.Header.Get(HeaderSignature), body, now)
	if err != nil {
		n.log.Warn("webhook: rejected signature", "source", name, "err", err)
		reply(w, http.StatusUnauthorized, answer{Error: err.Error()})
		return
	}
	// Known by what was signed, not by the signature header (whose hex
	// may be written in either case).
	t, verdict := n.replays.Claim(replay.Key([]byte("webhook"), []byte(name), []byte(ts), body), signedAt, now)
	if verdict != replay.First {
		n.log.Warn("webhook: a signed request came again; answered as before", "source", name)
		t.Replayed(w)
		return
	}
	rec := replay.NewRecorder(w)
	n.accept(rec, r, name, body, now)
	switch a, whole := rec.Answer(); {
	case a.Status >= 500 || a.Status == http.StatusConflict:
		t.Forget() // "retry": the same request is welcome again
	case whole:
		t.Done(a)
	}
}

// accept parses a verified body and delivers the post. It blocks until the
// Inbox journaled it.
func (n *Network) accept(w http.ResponseWriter, r *http.Request, name string, body []byte, now time.Time) {
	in, at, err := parseInbound(body, now)
	if err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		reply(w, http.StatusBadRequest, answer{Error: err.Error(), Field: fe.Field})
		return
	}
	id := joinID(name, in.ID)

	n.mu.Lock()
	inbox := n.inbox
	switch {
	case inbox == nil:
		n.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		reply(w, http.StatusServiceUnavailable, answer{Error: "not listening yet; retry"})
		return
	case n.seen.has(id):
		n.mu.Unlock()
		reply(w, http.StatusOK, answer{Status: "duplicate", ID: id})
		return
	case n.flight[id]:
		n.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusConflict, answer{Error: "the same post is being accepted right now; retry", ID: id})
		return
	}
	n.flight[id] = true
	p := n.toPost(name, id, in, at)
	n.mu.Unlock()

	err = inbox.Post(r.Context(), p)

	n.mu.Lock()
	delete(n.flight, id)
	if err == nil {
		n.seen.add(id)
		n.convs.put(id, p.ConversationKey())
	}
	n.mu.Unlock()
	if err != nil {
		n.log.Error("webhook: deliver post", "source", name, "err", err)
		reply(w, http.StatusInternalServerError, answer{Error: "could not accept the post; retry", ID: id})
		return
	}
	reply(w, http.StatusOK, answer{Status: "accepted", ID: id})
}

// toPost maps an inbound post; called with n.mu held (reads convs, ours).
func (n *Network) toPost(source, id string, in InboundPost, at time.Time) bridge.Post {
	handle := in.Author.Handle
	if handle == "" {
		handle = in.Author.ID
	}
	p := bridge.Post{
		Network: Name,
		ID:      id,
		Author: bridge.Author{
			ID: joinID(source, in.Author.ID), Handle: handle, Name: in.Author.Name,
			URL: in.Author.URL, Avatar: in.Author.Avatar, Followers: in.Author.Followers,
		},
		Text:       in.Text,
		URL:        in.URL,
		Lang:       in.Lang,
		CreatedAt:  at.UTC(),
		MentionsUs: !in.Direct, // everything sent to the webhook is addressed to us
		Direct:     in.Direct,
	}
	if in.InReplyTo != "" {
		p.InReplyTo = joinID(source, in.InReplyTo)
		p.ReplyToUs = n.ours.has(p.InReplyTo)
	}
	switch {
	case in.Conversation != "":
		p.Conversation = joinID(source, in.Conversation)
	case p.InReplyTo != "":
		if c, ok := n.convs.get(p.InReplyTo); ok {
			p.Conversation = c
		} else {
			p.Conversation = p.InReplyTo // an unseen parent: group its replies together
		}
	}
	p.Ref = map[string]string{"source": source, "id": in.ID, "conversation": p.ConversationKey()}
	return p
}
