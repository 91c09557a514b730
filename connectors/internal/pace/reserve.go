package pace

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Reserve is one token bucket shared by ordinary and urgent callers, its
// last Keep tokens kept for the urgent ones: an ordinary caller waits
// until more than Keep tokens are left, an urgent one takes any. Together
// they never go faster than the bucket, and an urgent call (what a staff
// member just did) finds a token even while ordinary work has used the
// rest. Safe for concurrent use.
type Reserve struct {
	lim  *rate.Limiter
	keep float64
}

// NewReserve returns a bucket of perSecond tokens a second holding burst,
// keep of them (fewer than burst) for urgent callers.
func NewReserve(perSecond float64, burst, keep int) *Reserve {
	burst = max(burst, 1)
	return &Reserve{lim: rate.NewLimiter(rate.Limit(perSecond), burst), keep: float64(min(max(keep, 0), burst-1))}
}

// Wait blocks until the caller may go (urgent: as the bucket allows;
// else as it allows with the reserve left) and takes a token, or returns
// ctx's error when ctx ends first.
func (r *Reserve) Wait(ctx context.Context, urgent bool) error {
	if urgent || r.keep == 0 {
		return r.lim.Wait(ctx)
	}
	for {
		now := time.Now()
		tokens := r.lim.TokensAt(now)
		if tokens >= 1+r.keep && r.lim.AllowN(now, 1) {
			return nil
		}
		need := 1 + r.keep - tokens
		wait := time.Duration(need / float64(r.lim.Limit()) * float64(time.Second))
		if err := Sleep(ctx, max(wait, time.Millisecond)); err != nil {
			return err
		}
	}
}
