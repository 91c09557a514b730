package mastodon

import (
	"context"
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

// rateLimitError is a 429 answer: wait is how long the instance asked us to
// wait (from X-RateLimit-Reset, ISO-8601, or Retry-After).
type rateLimitError struct {
	wait time.Duration
}

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limited (HTTP 429), reset in %v", e.wait.Round(time.Second))
}

// transport records every request in the metrics, adds the Idempotency-Key
// from the context, and turns a 429 into a *rateLimitError so go-mastodon
// does not back off on its own for up to an hour.
type transport struct {
	base http.RoundTripper
	obs  bridge.RequestObserver
	now  func() time.Time
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	op, _ := req.Context().Value(opKey).(string)
	if op == "" {
		op = "other"
	}
	if key, ok := req.Context().Value(idemKey).(string); ok {
		req = req.Clone(req.Context())
		req.Header.Set("Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	d := time.Since(start)
	switch {
	case err != nil:
		t.obs.ObserveRequest(Name, op, bridge.OutcomeError, d)
		return nil, err
	case resp.StatusCode == http.StatusTooManyRequests:
		t.obs.ObserveRequest(Name, op, bridge.OutcomeRateLimited, d)
		wait := resetWait(resp.Header, t.now())
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
