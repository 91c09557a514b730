package x

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// client is a small typed client for X API v2: JSON in and out, auth,
// error and rate-limit decoding, one observed request per call.
type client struct {
	base    string
	http    *http.Client
	auth    authorizer
	obs     bridge.RequestObserver
	now     func() time.Time
	timeout time.Duration
	secrets []string

	mu   sync.Mutex
	held map[string]time.Time // op -> when its rate-limit window resets, once X said none is left
}

// authorizer puts credentials on requests.
type authorizer interface {
	// authorize sets the Authorization header; it may refresh a token (I/O).
	authorize(ctx context.Context, req *http.Request) error
	// rejected tells the authorizer X answered 401 to req's credentials.
	rejected(req *http.Request)
	// wrap returns the transport to send through (OAuth 1.0a signs there).
	wrap(base http.RoundTripper) http.RoundTripper
}

// apiError is a failed X request, decoded from an RFC 7807 problem or the
// legacy errors array. It never carries credentials.
type apiError struct {
	Op      string
	Status  int           // HTTP status; 0 for a transport failure
	Title   string        // problem title, or the legacy message
	Detail  string        // problem detail
	Type    string        // problem type URI
	Code    int           // legacy error code (88: rate limit)
	Wait    time.Duration // until x-rate-limit-reset, for rate limits
	Sent    bool          // the request was fully written: X may have acted on it
	Err     error         // transport error
	secrets []string
}

func (e *apiError) Error() string {
	var b strings.Builder
	b.WriteString("x: " + e.Op + ": ")
	if e.Status == 0 {
		b.WriteString(redact(fmt.Sprint(e.Err), e.secrets))
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": " + e.Detail)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Wait > 0 {
		fmt.Fprintf(&b, " (rate limited for %s)", e.Wait.Round(time.Second))
	}
	return redact(b.String(), e.secrets)
}

func (e *apiError) Unwrap() error { return e.Err }

// rateLimited reports a 429 or the legacy code 88.
func (e *apiError) rateLimited() bool { return e.Status == 429 || e.Code == 88 }

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// errItem is one entry of an "errors" array: legacy ({code, message}) or v2
// partial errors ({title, detail, type, resource_id, ...}).
type errItem struct {
	Code       int    `json:"code"`
	Message    string `json:"message"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	Type       string `json:"type"`
	ResourceID string `json:"resource_id"`
}

// envelope holds the parts of any answer the client itself looks at.
type envelope struct {
	Data   json.RawMessage `json:"data"`
	Meta   json.RawMessage `json:"meta"`
	Errors []errItem       `json:"errors"`
	Title  string          `json:"title"`
	Detail string          `json:"detail"`
	Type   string          `json:"type"`
}

// do sends one request and decodes a 2xx answer into out. It blocks until
// X answered or the request timeout or ctx ended. A 2xx with partial
// errors succeeds (the errors are returned in partial); a 2xx carrying only
// errors fails.
func (c *client) do(ctx context.Context, op, method, path string, q url.Values, body, out any) (partial []errItem, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, sent, err := c.send(ctx, op, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if rerr != nil {
		return nil, &apiError{Op: op, Err: rerr, Sent: sent, secrets: c.secrets}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.failure(op, resp, raw)
	}
	var env envelope
	_ = json.Unmarshal(raw, &env)
	if len(env.Errors) > 0 && (len(env.Data) == 0 || string(env.Data) == "null") && len(env.Meta) == 0 && out != nil {
		// Only errors, not even an empty page: a failure (e.g. a legacy code in a 200).
		e := &apiError{Op: op, Status: resp.StatusCode, secrets: c.secrets}
		fillFromItem(e, env.Errors[0])
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &apiError{Op: op, Status: resp.StatusCode, Title: "undecodable answer", Err: err, secrets: c.secrets}
		}
	}
	return env.Errors, nil
}

// send authorizes and sends one request, observing it. The caller closes
// the body. sent reports whether the request was fully written.
func (c *client) send(ctx context.Context, op, method, path string, q url.Values, body any) (*http.Response, bool, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, false, &apiError{Op: op, Err: err}
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, false, &apiError{Op: op, Err: errors.New("bad request URL"), secrets: c.secrets}
	}
	req.Header.Set("User-Agent", "earshot")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if wait := c.heldFor(op); wait > 0 {
		// X said this call's window is used up: asking now would only
		// earn a 429 (and repeated 429s can get an app suspended).
		return nil, false, &apiError{Op: op, Code: 88, Wait: wait, secrets: c.secrets,
			Err: fmt.Errorf("not sent: X's rate limit for this call is used up for %s (x-rate-limit-remaining: 0)", wait.Round(time.Second))}
	}
	// Authorize (maybe a token refresh, a request of its own) before the
	// trace is attached: only this request's own write may count as sent.
	if err := c.auth.authorize(ctx, req); err != nil {
		return nil, false, err
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}))
	start := time.Now()
	resp, err := c.http.Do(req)
	d := time.Since(start)
	if err != nil {
		c.obs.ObserveRequest(Name, op, bridge.OutcomeError, d)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL adds nothing and may grow query secrets one day
		}
		return nil, wrote.Load(), &apiError{Op: op, Err: err, Sent: wrote.Load(), secrets: c.secrets}
	}
	if resp.StatusCode < 300 {
		// A 429 tells its caller how long to wait (apiError.Wait); an
		// answer that went through but spent the last request holds op back.
		c.noteWindow(op, resp.Header)
	}
	switch {
	case resp.StatusCode == 429:
		c.obs.ObserveRequest(Name, op, bridge.OutcomeRateLimited, d)
	case resp.StatusCode >= 400:
		c.obs.ObserveRequest(Name, op, bridge.OutcomeError, d)
	default:
		c.obs.ObserveRequest(Name, op, bridge.OutcomeOK, d)
	}
	if resp.StatusCode == 401 {
		c.auth.rejected(req)
	}
	return resp, true, nil
}

// failure decodes a non-2xx answer.
func (c *client) failure(op string, resp *http.Response, raw []byte) *apiError {
	e := &apiError{Op: op, Status: resp.StatusCode, Sent: true, secrets: c.secrets}
	var env envelope
	if json.Unmarshal(raw, &env) == nil {
		e.Title, e.Detail, e.Type = env.Title, env.Detail, env.Type
		if e.Title == "" && len(env.Errors) > 0 {
			fillFromItem(e, env.Errors[0])
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	if e.rateLimited() {
		e.Wait = c.resetWait(resp.Header)
	}
	return e
}

func fillFromItem(e *apiError, it errItem) {
	e.Code = it.Code
	e.Title = it.Title
	if e.Title == "" {
		e.Title = it.Message
	}
	e.Detail, e.Type = it.Detail, it.Type
	if e.Code == 88 && e.Status == 200 {
		e.Status = 429
	}
}

// noteWindow remembers, from an answer's headers, whether op's rate-limit
// window has requests left; none left holds op back until the reset.
func (c *client) noteWindow(op string, h http.Header) {
	left := strings.TrimSpace(h.Get("x-rate-limit-remaining"))
	if left == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if wait := c.resetWait(h); left == "0" && wait > 0 {
		if c.held == nil {
			c.held = map[string]time.Time{}
		}
		c.held[op] = c.now().Add(wait)
		return
	}
	delete(c.held, op)
}

// heldFor is how long op must still wait for its window to reset (0: go).
func (c *client) heldFor(op string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.held[op]
	if !ok {
		return 0
	}
	if wait := until.Sub(c.now()); wait > 0 {
		return wait
	}
	delete(c.held, op)
	return 0
}

// resetWait reads x-rate-limit-reset (epoch seconds); X sends no Retry-After.
// At least one second; zero when the header is absent or unreadable.
func (c *client) resetWait(h http.Header) time.Duration {
	v := h.Get("x-rate-limit-reset")
	if v == "" {
		return 0
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0
	}
	w := time.Unix(sec, 0).Sub(c.now())
	if w < time.Second {
		w = time.Second
	}
	return w
}
