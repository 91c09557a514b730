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
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/httpbody"
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

func limit(field, v string, max int) error {
	if len(v) > max {
		return &fieldError{Field: field, Msg: "longer than " + strconv.Itoa(max) + " bytes"}
	}
	if !utf8.ValidString(v) {
		return &fieldError{Field: field, Msg: "not valid UTF-8"}
	}
	return nil
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

// serveInbound is POST /webhook/{source}: bound, verify, parse, deliver.
// It blocks until the Inbox journaled the post.
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
	if err := Verify(src.Secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, n.cfg.ReplayWindow); err != nil {
		n.log.Warn("webhook: rejected signature", "source", name, "err", err)
		reply(w, http.StatusUnauthorized, answer{Error: err.Error()})
		return
	}
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
