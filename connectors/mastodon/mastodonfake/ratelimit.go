package mastodonfake

import (
	"net/http"
	"strconv"
	"time"
)

// SetRateLimit makes every authenticated API request of an account count
// against n per window, as Mastodon's per-account limit does (300 per 5
// minutes), in fixed windows from the account's first request; every
// answer carries X-RateLimit-Limit, -Remaining and -Reset (ISO-8601), and
// a request over the limit is answered 429. 0 turns it off.
func (s *Server) SetRateLimit(n int, window time.Duration) { s.budget.Set(n, window) }

// RateLimited counts the requests SetRateLimit's limit refused.
func (s *Server) RateLimited() int { return s.budget.Refused() }

// spend spends one request of a's budget and writes the rate-limit
// headers; false when the request was refused (answered 429).
func (s *Server) spend(w http.ResponseWriter, a *Account) bool {
	ok, left, reset := s.budget.Spend(a.ID, 1)
	if reset.IsZero() {
		return true
	}
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.budget.Limit()))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(left, 0)))
	w.Header().Set("X-RateLimit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000Z"))
	if !ok {
		apiErr(w, http.StatusTooManyRequests, "Too many requests")
	}
	return ok
}
