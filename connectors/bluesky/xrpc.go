package bluesky

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
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// xrpcError is an XRPC failure: {"error","message"} with its HTTP status.
// Wait is the server's rate-limit reset when it said one.
type xrpcError struct {
	Method  string
	Status  int
	Name    string // "ExpiredToken", "InvalidRequest", "MessagesDisabled", ...
	Message string
	Wait    time.Duration
}

func (e *xrpcError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Method, e.Status)
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Message != "" && e.Message != e.Name {
		s += ": " + e.Message
	}
	return s
}

// sendError is a call that got no answer: the connection failed or the
// deadline passed. Sent tells whether the whole request had been written
// by then, so whether the server may have acted on it.
type sendError struct {
	Method string
	Sent   bool
	Err    error
}

func (e *sendError) Error() string { return e.Method + ": " + e.Err.Error() }

func (e *sendError) Unwrap() error { return e.Err }

// answerError is a 2xx answer that could not be read: the server acted.
type answerError struct {
	Method string
	Err    error
}

func (e *answerError) Error() string { return e.Method + ": decode answer: " + e.Err.Error() }

func (e *answerError) Unwrap() error { return e.Err }

// session is the login state of our account.
type session struct {
	Access  string
	Refresh string
	DID     string
	Handle  string
}

// client is a small typed XRPC client: JSON in, JSON out, the session kept
// and renewed when the PDS rejects its token: refreshed on ExpiredToken,
// and on InvalidToken or BadJwtSignature too (a session kept from another
// PDS, or from before its key changed: the PDS answers 400 InvalidToken
// "Token could not be verified"), then re-created by logging in once when
// the refresh is rejected as well. Every call runs under the configured
// deadline. Safe for concurrent use.
type client struct {
	base     string // PDS base URL
	ident    string
	password string
	http     *http.Client
	obs      bridge.RequestObserver
	now      func() time.Time
	timeout  time.Duration

	// store, when set, is the file that keeps the session across restarts
	// (mode 0600): bsky.social allows few createSession calls a day.
	store string

	// onSession, when set, hears the outcome of every login and refresh
	// (nil: the account acts), for the connector's health.
	onSession func(error)

	mu     sync.Mutex // guards sess; held across login so only one happens at a time
	sess   *session
	loaded bool
}

// rejectedToken reports whether the PDS refused a call's token as one
// that a new session would replace: expired, or not verifiable by it.
func rejectedToken(xe *xrpcError) bool {
	if xe.Status != http.StatusBadRequest && xe.Status != http.StatusUnauthorized {
		return false
	}
	switch xe.Name {
	case "ExpiredToken", "InvalidToken", "BadJwtSignature", "BadJwt":
		return true
	}
	return false
}

func (c *client) noteSession(err error) {
	if c.onSession != nil {
		c.onSession(err)
	}
}

// savedSession is the stored form; Ident guards against a config change.
type savedSession struct {
	Ident string `json:"identifier"`
	session
}

// loadLocked reads the stored session once.
func (c *client) loadLocked() {
	if c.loaded || c.store == "" {
		return
	}
	c.loaded = true
	b, err := os.ReadFile(c.store)
	if err != nil {
		return
	}
	var s savedSession
	if json.Unmarshal(b, &s) == nil && s.Ident == c.ident && s.Refresh != "" {
		c.sess = &s.session
	}
}

// saveLocked writes the current session; failures only cost a login later.
func (c *client) saveLocked() {
	if c.store == "" || c.sess == nil {
		return
	}
	_ = statefile.WriteJSON(c.store, savedSession{Ident: c.ident, session: *c.sess})
}

// call does one XRPC request. op names it for the metrics. in (a value to
// send as JSON, POST) or q (GET query). hdr adds headers (atproto-proxy).
// auth=false for the session calls themselves.
func (c *client) call(ctx context.Context, op, method, nsid string, q url.Values, in, out any, hdr http.Header) error {
	sess, err := c.session(ctx)
	if err != nil {
		return err
	}
	err = c.do(ctx, op, method, nsid, q, in, out, hdr, sess.Access)
	var xe *xrpcError
	if !errors.As(err, &xe) || !rejectedToken(xe) {
		return err
	}
	if sess, err = c.renew(ctx, sess); err != nil {
		return err
	}
	return c.do(ctx, op, method, nsid, q, in, out, hdr, sess.Access)
}

// session returns the current session, logging in when there is none.
func (c *client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadLocked()
	if c.sess != nil {
		return c.sess, nil
	}
	return c.loginLocked(ctx)
}

func (c *client) loginLocked(ctx context.Context) (*session, error) {
	var out struct {
		AccessJwt, RefreshJwt, DID, Handle string
	}
	body := map[string]string{"identifier": c.ident, "password": c.password}
	if err := c.do(ctx, "createSession", http.MethodPost, "com.atproto.server.createSession", nil, body, &out, nil, ""); err != nil {
		err = fmt.Errorf("bluesky: log in: %w", err)
		c.noteSession(err)
		return nil, err
	}
	c.sess = &session{Access: out.AccessJwt, Refresh: out.RefreshJwt, DID: out.DID, Handle: out.Handle}
	c.saveLocked()
	c.noteSession(nil)
	return c.sess, nil
}

// renew refreshes old (unless another caller already did) or, when the PDS
// rejects the refresh too (revoked, expired, unverifiable), logs in again,
// once. A refresh that got no answer is returned as it is: logging in
// would fail the same way, and createSession is scarce.
func (c *client) renew(ctx context.Context, old *session) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != old && c.sess != nil {
		return c.sess, nil // someone else renewed it meanwhile
	}
	var out struct {
		AccessJwt, RefreshJwt, DID, Handle string
	}
	err := c.do(ctx, "refreshSession", http.MethodPost, "com.atproto.server.refreshSession", nil, nil, &out, nil, old.Refresh)
	if err == nil {
		c.sess = &session{Access: out.AccessJwt, Refresh: out.RefreshJwt, DID: out.DID, Handle: out.Handle}
		c.saveLocked()
		c.noteSession(nil)
		return c.sess, nil
	}
	var xe *xrpcError
	if !errors.As(err, &xe) || xe.Status >= 500 || xe.Status == http.StatusTooManyRequests {
		return nil, fmt.Errorf("bluesky: refresh the session: %w", err)
	}
	if _, ok := accountRefusal(xe); ok {
		// Taken down or deactivated: a login would be refused the same way.
		c.noteSession(xe)
		return nil, fmt.Errorf("bluesky: refresh the session: %w", err)
	}
	c.sess = nil
	return c.loginLocked(ctx)
}

// do sends one request with token (may be "") and decodes the answer.
func (c *client) do(ctx context.Context, op, method, nsid string, q url.Values, in, out any, hdr http.Header, token string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + "/xrpc/" + nsid
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode: %w", nsid, err)
		}
		body = bytes.NewReader(b)
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.obs.ObserveRequest(Name, op, bridge.OutcomeError, time.Since(start))
		return &sendError{Method: nsid, Sent: wrote.Load(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		outcome := bridge.OutcomeError
		if resp.StatusCode == http.StatusTooManyRequests {
			outcome = bridge.OutcomeRateLimited
		}
		c.obs.ObserveRequest(Name, op, outcome, time.Since(start))
		var e struct{ Error, Message string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return &xrpcError{Method: nsid, Status: resp.StatusCode, Name: e.Error, Message: e.Message, Wait: rateLimitWait(resp.Header, c.now())}
	}
	c.obs.ObserveRequest(Name, op, bridge.OutcomeOK, time.Since(start))
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return &answerError{Method: nsid, Err: err}
	}
	return nil
}

// rateLimitWait reads RateLimit-Reset (epoch seconds) or Retry-After (seconds).
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	if v, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); err == nil && v > 0 {
		wait = time.Unix(v, 0).Sub(now)
	}
	if wait <= 0 {
		if secs, err := strconv.Atoi(h.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
	}
	if wait <= 0 {
		return 0
	}
	return min(max(wait, time.Second), time.Hour)
}
