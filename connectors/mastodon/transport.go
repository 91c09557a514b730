package mastodon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

type ctxKey int

const (
	opKey ctxKey = iota
	idemKey
	listenKey
)

// withOp names the request for the metrics (a fixed short name).
func withOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey, op)
}

// withIdempotencyKey makes the transport send an Idempotency-Key header.
func withIdempotencyKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return context.WithValue(ctx, idemKey, key)
}

// listening marks ctx's requests as listening's, which spend at most the
// listening share of the rate limit (rate.go).
func listening(ctx context.Context) context.Context {
	return context.WithValue(ctx, listenKey, true)
}

// rateLimitError is a 429 answer: wait is how long the instance asked us to
// wait (from X-RateLimit-Reset, ISO-8601, or Retry-After).
type rateLimitError struct {
	wait time.Duration
}

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limited (HTTP 429), reset in %v", e.wait.Round(time.Second))
}

// rateLimitWait is how long err says to wait for the rate limit (0: err is
// not a 429).
func rateLimitWait(err error) time.Duration {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return max(rl.wait, time.Second)
	}
	return 0
}

// transport records every request in the metrics, adds the Idempotency-Key
// from the context, keeps the account's rate-limit budget up to date, holds
// listening requests back while only the replies' share of it is left, and
// turns a 429 into a *rateLimitError, so go-mastodon does not back off on
// its own for up to an hour and a WebSocket dial's 429 is seen as one.
type transport struct {
	base   http.RoundTripper
	obs    bridge.RequestObserver
	now    func() time.Time
	budget *rateBudget
	held   func(time.Duration) // told when listening starts waiting for a window's reset
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	op, _ := ctx.Value(opKey).(string)
	if op == "" {
		op = "other"
	}
	if on, _ := ctx.Value(listenKey).(bool); on {
		if err := t.budget.waitListen(ctx, t.held); err != nil {
			return nil, err
		}
	}
	if key, ok := ctx.Value(idemKey).(string); ok {
		req = req.Clone(ctx)
		req.Header.Set("Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	d := time.Since(start)
	if err != nil {
		t.obs.ObserveRequest(Name, op, bridge.OutcomeError, d)
		return nil, err
	}
	t.budget.observe(resp.Header)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.obs.ObserveRequest(Name, op, bridge.OutcomeRateLimited, d)
		wait := resetWait(resp.Header, t.now())
		t.budget.spent(t.now().Add(wait))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &rateLimitError{wait: wait}
	case resp.StatusCode >= 400:
		t.obs.ObserveRequest(Name, op, bridge.OutcomeError, d)
	default:
		t.obs.ObserveRequest(Name, op, bridge.OutcomeOK, d)
	}
	return resp, nil
}

// resetWait reads how long to wait from X-RateLimit-Reset (an ISO-8601
// time) or Retry-After (seconds); at least a second, at most 5 minutes
// (Mastodon's window), 0 when neither header is usable.
func resetWait(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			wait = t.Sub(now)
		}
	}
	if wait <= 0 {
		if secs, err := strconv.Atoi(h.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
	}
	if wait <= 0 {
		return 0
	}
	if wait < time.Second {
		wait = time.Second
	}
	return min(wait, 5*time.Minute)
}
