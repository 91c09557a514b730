package slack

import (
	"context"
	"errors"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/earshot-dev/earshot/connectors/internal/pace"
)

// The pacer sits in front of chat.postMessage: a pace.Queue keyed by
// channel, at the channel's pace (about one message a second with a small
// burst), every attempt also waiting on the workspace-wide limiter. A surge
// queues by priority (higher first) then age; a 429 holds the channel for
// its Retry-After and the same message goes again, so nothing is lost while
// callers' contexts live. Its waits are told to onWait.
func newPacer(perSecond float64, burst int, workspacePerSecond float64, onWait func(time.Duration)) *pace.Queue {
	o := pace.Options{PerSecond: perSecond, Burst: burst, OnWait: onWait}
	if workspacePerSecond > 0 {
		o.Global = rate.NewLimiter(rate.Limit(workspacePerSecond), max(1, int(workspacePerSecond)))
	}
	return pace.New(o)
}

// maxServerErrors is how many 5xx answers one call survives.
const maxServerErrors = 3

// retrier is the retry policy of one call: after a *slack.RateLimitedError
// it goes again after the Retry-After (at least 100ms), for as long as the
// caller's context lives; after a 5xx, up to three attempts in all with a
// short backoff; never after anything else.
type retrier struct{ serverErrors int }

// next says whether the attempt that failed with err should go again, and
// after how long.
func (r *retrier) next(err error) (wait time.Duration, again bool) {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		return max(rl.RetryAfter, 100*time.Millisecond), true
	case errors.As(err, &sc) && sc.Code >= 500 && r.serverErrors+1 < maxServerErrors:
		r.serverErrors++
		return time.Duration(r.serverErrors) * 100 * time.Millisecond, true
	}
	return 0, false
}

// paced makes fn (one attempt of one API call) a job for the pacer, retried
// as retrier says: each attempt waits its turn under the limiters again.
func paced(fn func(ctx context.Context) error) func(ctx context.Context) error {
	var r retrier
	return func(ctx context.Context) error {
		err := fn(ctx)
		if wait, again := r.next(err); again {
			return pace.Again(wait)
		}
		return err
	}
}

// retry runs fn (one API call) again as retrier says, until ctx ends. It
// blocks, waiting on pause (when set) before each attempt. For calls that
// are not paced by channel (chat.update, reactions, ephemerals). Its waits
// in pause and for a Retry-After are told to onWait (nil: nobody).
func retry(ctx context.Context, pause func(context.Context) error, onWait func(time.Duration), fn func(ctx context.Context) error) error {
	var r retrier
	waited := func(start time.Time, limited bool) {
		if d := time.Since(start); onWait != nil && limited && d >= time.Millisecond {
			onWait(d)
		}
	}
	for {
		if pause != nil {
			start := time.Now()
			err := pause(ctx)
			waited(start, true)
			if err != nil {
				return err
			}
		}
		err := fn(ctx)
		wait, again := r.next(err)
		if !again {
			return err
		}
		start := time.Now()
		serr := pace.Sleep(ctx, wait)
		var rl *slack.RateLimitedError
		waited(start, errors.As(err, &rl))
		if serr != nil {
			return serr
		}
	}
}
