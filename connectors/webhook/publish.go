package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// OutboundReply is the JSON body POSTed to a source's reply URL.
type OutboundReply struct {
	IdempotencyKey string         `json:"idempotency_key"` // also in the Idempotency-Key header
	Case           string         `json:"case"`            // Earshot's case id, "E-42"
	Source         string         `json:"source"`
	InReplyTo      string         `json:"in_reply_to,omitempty"`  // the source's id of the post answered (public replies)
	Conversation   string         `json:"conversation,omitempty"` // the source's id of the conversation root
	To             OutboundAuthor `json:"to"`
	Text           string         `json:"text"`
	Private        bool           `json:"private"` // a direct message rather than a public reply
}

// OutboundAuthor is the customer a reply goes to, in the source's own ids.
type OutboundAuthor struct {
	ID     string `json:"id"`
	Handle string `json:"handle,omitempty"`
	Name   string `json:"name,omitempty"`
}

// receipt is what a receiver may answer (2xx): the id and link of the published reply.
type receipt struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// Publish POSTs r to its source's reply URL, signed, with an
// Idempotency-Key. It blocks until the receiver answered or ctx ended.
// Errors are *bridge.PublishError.
func (n *Network) Publish(ctx context.Context, r bridge.Reply) (bridge.PostRef, error) {
	op := "webhook: publish reply"
	if r.Private {
		op = "webhook: publish direct message"
	}
	perm := func(reason string) error { return &bridge.PublishError{Op: op, Reason: reason} }
	if cnt, limit, ok := n.Limits().Check(r.Text, r.Private); !ok {
		return bridge.PostRef{}, perm(fmt.Sprintf("the text is %d characters; this source takes at most %d", cnt, limit))
	}
	if strings.TrimSpace(r.Text) == "" {
		return bridge.PostRef{}, perm("the text is empty")
	}
	name := r.InRef["source"]
	if name == "" {
		name, _, _ = splitID(r.InReplyTo)
	}
	if name == "" {
		name, _, _ = splitID(r.To.ID)
	}
	if name == "" {
		return bridge.PostRef{}, perm("cannot tell which webhook source this reply belongs to (no source in the post or customer id)")
	}
	src, ok := n.source(name)
	if !ok {
		return bridge.PostRef{}, perm(fmt.Sprintf("no webhook source named %q is configured", name))
	}
	if src.ReplyURL == "" {
		return bridge.PostRef{}, perm(fmt.Sprintf("webhook source %q has no reply_url, so replies cannot be sent", name))
	}
	if r.IdempotencyKey == "" {
		return bridge.PostRef{}, perm("the reply has no idempotency key")
	}

	n.mu.Lock()
	conv := r.InRef["conversation"]
	if conv == "" && r.InReplyTo != "" {
		conv, _ = n.convs.get(r.InReplyTo)
		if conv == "" {
			conv = r.InReplyTo
		}
	}
	n.mu.Unlock()

	out := OutboundReply{IdempotencyKey: r.IdempotencyKey, Case: string(r.Case), Source: name, Text: r.Text, Private: r.Private}
	_, out.To.ID, _ = splitID(r.To.ID)
	out.To.Handle, out.To.Name = r.To.Handle, r.To.Name
	if !r.Private {
		if r.InReplyTo == "" {
			return bridge.PostRef{}, perm("a public reply needs the post it answers")
		}
		_, out.InReplyTo, _ = splitID(r.InReplyTo)
	}
	if conv != "" {
		_, out.Conversation, _ = splitID(conv)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: "could not encode the reply", Err: err}
	}

	rc, err := n.post(ctx, op, src, r.IdempotencyKey, body)
	if err != nil {
		return bridge.PostRef{}, err
	}
	if rc.ID == "" {
		rc.ID = r.IdempotencyKey
	}
	ref := bridge.PostRef{Network: Name, ID: joinID(name, rc.ID), URL: rc.URL}
	n.mu.Lock()
	n.ours.add(ref.ID)
	if conv != "" {
		n.convs.put(ref.ID, conv)
	}
	n.mu.Unlock()
	return ref, nil
}

// post sends one signed request and classifies its outcome; it does I/O.
func (n *Network) post(ctx context.Context, op string, src SourceConfig, key string, body []byte) (receipt, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	ctx = httptrace.WithClientTrace(ctx, trace)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, src.ReplyURL, bytes.NewReader(body))
	if err != nil {
		return receipt{}, &bridge.PublishError{Op: op, Reason: "the reply_url is not usable", Err: errors.New("bad request URL")}
	}
	now := n.deps.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "earshot")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if src.LegacySignatures {
		req.Header.Set(HeaderSignature, SignLegacy(src.Secret, now, body))
	} else {
		req.Header.Set(HeaderSignature, Sign(src.Secret, src.Name, now, body))
	}
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set(HeaderSource, src.Name)

	start := time.Now()
	resp, err := n.client.Do(req)
	if err != nil {
		n.deps.Requests.ObserveRequest(Name, "publish", bridge.OutcomeError, time.Since(start))
		// url.Error would repeat the reply URL, which may carry a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.Canceled) && !wrote.Load() {
			return receipt{}, &bridge.PublishError{Op: op, Retryable: true, Err: err}
		}
		n.noteDelivery(src.Name, "the receiver did not answer: "+err.Error())
		return receipt{}, &bridge.PublishError{
			Op: op, Retryable: true, MaybeSent: wrote.Load(),
			Reason: "the webhook receiver did not answer", Err: err,
		}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	d := time.Since(start)
	if problem, telling := deliveryProblem(resp.StatusCode); telling {
		n.noteDelivery(src.Name, problem)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		n.deps.Requests.ObserveRequest(Name, "publish", bridge.OutcomeOK, d)
		var rc receipt
		_ = json.Unmarshal(raw, &rc) // an empty or non-JSON 2xx is fine
		return rc, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		n.deps.Requests.ObserveRequest(Name, "publish", bridge.OutcomeRateLimited, d)
		return receipt{}, &bridge.PublishError{
			Op: op, Retryable: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), n.deps.Now()),
			Reason: "the webhook receiver is rate limiting us", Err: fmt.Errorf("HTTP %d", resp.StatusCode),
		}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusConflict:
		n.deps.Requests.ObserveRequest(Name, "publish", bridge.OutcomeError, d)
		return receipt{}, &bridge.PublishError{
			Op: op, Retryable: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), n.deps.Now()),
			Reason: fmt.Sprintf("the webhook receiver failed (HTTP %d)", resp.StatusCode), Err: fmt.Errorf("HTTP %d", resp.StatusCode),
		}
	default:
		n.deps.Requests.ObserveRequest(Name, "publish", bridge.OutcomeError, d)
		return receipt{}, &bridge.PublishError{
			Op: op, Reason: fmt.Sprintf("the webhook receiver refused the reply (HTTP %d)%s", resp.StatusCode, snippet(raw)),
			Err: fmt.Errorf("HTTP %d", resp.StatusCode),
		}
	}
}

// deliveryProblem says why every reply to a receiver answering status
// would fail ("" for a delivery); telling is false for an answer that
// concerns this reply only (a 400: the receiver refused its content).
func deliveryProblem(status int) (problem string, telling bool) {
	switch {
	case status >= 200 && status < 300:
		return "", true
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Sprintf("the receiver refuses our signature (HTTP %d): check the source's secret", status), true
	case status == http.StatusNotFound || status == http.StatusGone || status == http.StatusMethodNotAllowed:
		return fmt.Sprintf("the receiver has no such reply_url (HTTP %d)", status), true
	case status == http.StatusTooManyRequests:
		return "the receiver is rate limiting us (HTTP 429)", true
	case status >= 500:
		return fmt.Sprintf("the receiver fails (HTTP %d)", status), true
	}
	return "", false
}

// snippet is a short, printable excerpt of a receiver's error body.
func snippet(b []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	s := ""
	if json.Unmarshal(b, &e) == nil {
		s = e.Error
		if s == "" {
			s = e.Message
		}
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return ": " + s
}

// retryAfter reads a Retry-After header (seconds or HTTP date); 0 when absent.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
