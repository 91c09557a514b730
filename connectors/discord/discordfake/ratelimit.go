package discordfake

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// limit is a configured per-route limit: n requests per window, per major
// parameter (the channel or webhook id in the path), as Discord's buckets.
type limit struct {
	n      int
	window time.Duration
}

// bucket is one fixed-window bucket.
type bucket struct {
	name   string
	n      int
	window time.Duration
	used   int
	reset  time.Time
}

// take counts one request at now; ok=false says how long until the bucket resets.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	if !now.Before(b.reset) {
		b.used, b.reset = 0, now.Add(b.window)
	}
	if b.used < b.n {
		b.used++
		return true, 0
	}
	return false, b.reset.Sub(now)
}

// headers writes Discord's X-RateLimit-* headers for b at now.
func (b *bucket) headers(h http.Header, now time.Time) {
	after := max(b.reset.Sub(now), 0).Seconds()
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.n))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(b.n-b.used, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(b.reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(after, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", b.name)
}

// SetRateLimit limits route, a pattern as the fake serves it ("POST
// /channels/{id}/messages", "POST /channels/{id}/threads", "POST
// /webhooks/{id}/{token}", "PATCH /channels/{id}/messages/{mid}"), to n
// requests per window for each value of its first path parameter, as
// Discord's per-route buckets. Answers carry X-RateLimit-Limit, -Remaining,
// -Reset, -Reset-After and -Bucket; a request over the limit gets 429 with
// {"message","retry_after","global":false}. n <= 0 removes the limit.
func (f *Fake) SetRateLimit(route string, n int, window time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		delete(f.limits, route)
	} else {
		f.limits[route] = &limit{n: n, window: window}
	}
	for k, b := range f.buckets {
		if b.name == bucketName(route) {
			delete(f.buckets, k)
		}
	}
}

// SetGlobalRate limits every authorized REST request of the bot (not
// interaction callbacks) to perSecond, as Discord's global 50 a second; over
// it the answer is 429 with "global": true and X-RateLimit-Global. 0 removes it.
func (f *Fake) SetGlobalRate(perSecond int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if perSecond <= 0 {
		f.global = nil
		return
	}
	f.global = &bucket{name: "global", n: perSecond, window: time.Second}
}

func bucketName(route string) string { return fmt.Sprintf("%x", fnv32(route)) }

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// rateLimit decides whether the request for route (with major parameter
// major) may go; it sets the bucket headers. f.mu held. A refusal returns
// the wait and whether it was the global limit.
func (f *Fake) rateLimit(h http.Header, route, major string, authorized bool) (ok bool, wait time.Duration, global bool) {
	now := f.opts.Now()
	if authorized && f.global != nil {
		if ok, wait := f.global.take(now); !ok {
			return false, wait, true
		}
	}
	l := f.limits[route]
	if l == nil {
		return true, 0, false
	}
	key := route + " " + major
	b := f.buckets[key]
	if b == nil {
		b = &bucket{name: bucketName(route), n: l.n, window: l.window}
		f.buckets[key] = b
	}
	ok, wait = b.take(now)
	b.headers(h, now)
	return ok, wait, false
}

// writeRateLimited answers 429 the way Discord does.
func writeRateLimited(w http.ResponseWriter, wait time.Duration, global bool) {
	secs := math.Max(wait.Seconds(), 0.001)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	scope := "user"
	if global {
		scope = "global"
		w.Header().Set("X-RateLimit-Global", "true")
	}
	w.Header().Set("X-RateLimit-Scope", scope)
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": math.Round(secs*1000) / 1000, "global": global})
}
