package blueskyfake

import (
	"net/http"
	"strconv"
	"time"
)

// pointsPerCreate is what a createRecord costs of an account's write
// points (a PDS's write budget: 5,000 points an hour, 3 per create).
const pointsPerCreate = 3

// SetPointsBudget makes createRecord spend 3 of an account's points out of
// points per window (a PDS: 5,000 per hour), in fixed windows from the
// account's first write; every answer carries RateLimit-Limit, -Remaining,
// -Reset (epoch seconds) and -Policy, and a write over the budget is
// answered 429 RateLimitExceeded. 0 turns it off.
func (s *Server) SetPointsBudget(points int, window time.Duration) { s.points.Set(points, window) }

// PointsRefused counts the writes the points budget refused.
func (s *Server) PointsRefused() int { return s.points.Refused() }

// spendPoints spends cost of did's points and writes the rate-limit
// headers; false when the write was refused (answered 429).
func (s *Server) spendPoints(w http.ResponseWriter, did string, cost int) bool {
	ok, left, reset := s.points.Spend(did, cost)
	if reset.IsZero() {
		return true
	}
	limit := s.points.Limit()
	w.Header().Set("RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(max(left, 0)))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix()+boolInt(reset.Nanosecond() > 0), 10))
	w.Header().Set("RateLimit-Policy", strconv.Itoa(limit)+";w="+strconv.Itoa(int(s.points.Window().Seconds())))
	if !ok {
		xerr(w, http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
	}
	return ok
}
