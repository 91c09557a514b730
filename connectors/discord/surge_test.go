package discord_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// Surge limits, scaled up from Discord's so the test runs in seconds: the
// fake allows `limit` forum posts per 100 ms (a fixed window, as Discord's
// buckets), the desk paces a little under it with a small burst.
const surgeWindow = 100 * time.Millisecond

// surgeInjected429s is how many 429s a surge meets whatever its speed.
const surgeInjected429s = 10

type surgeResult struct {
	elapsed time.Duration
	order   []string // case ids in the order their posts landed
	env     *env
	obs     *connectortest.RequestCounter
}

// surge opens n cases in the forum at once, the last `high` of them with a
// higher priority and arriving once the queue is full. global, when not
// 0, is the fake's global limit per second (which discordgo cannot see
// coming, so it answers 429s).
func surge(tb testing.TB, n, high, limit int, pace float64, global, inject429s int) surgeResult {
	obs := &connectortest.RequestCounter{}
	e := newEnv(tb, envOpts{obs: obs, pacing: discord.Pacing{ChannelPerSecond: pace, ChannelBurst: 2, GlobalPerSecond: 20 * pace}})
	e.fake.SetRateLimit("POST /channels/{id}/threads", limit, surgeWindow)
	e.fake.SetGlobalRate(global)
	// However fast the machine, inject429s posts meet a 429 (the limits
	// above are met only when the desk keeps up with them).
	e.fake.FailNext(429, inject429s, 20*time.Millisecond)
	elapsed := connectortest.Surge(tb, n, high, func(ctx context.Context, cv bridge.CaseView) error {
		_, err := e.desk.OpenThread(ctx, forumID, cv)
		return err
	})
	var order []string
	for _, th := range e.fake.Threads(forumID) {
		id, _, _ := strings.Cut(th.Name, " ·")
		order = append(order, id)
	}
	return surgeResult{elapsed: elapsed, order: order, env: e, obs: obs}
}

func TestSurgeLosesNothing(t *testing.T) {
	t.Parallel()
	const n, high = 300, 30
	const limit = 25 // per 100 ms: 250 posts a second
	r := surge(t, n, high, limit, 0.98*limit*float64(time.Second/surgeWindow), 120, surgeInjected429s)
	connectortest.CheckSurgeOrder(t, r.order, n, high, "post")
	if got := r.obs.Count("discord forum.post ok"); got != n {
		t.Errorf("%d forum.post requests counted ok, want %d", got, n)
	}
	if got, want := r.obs.Total(" rate_limited"), r.env.fake.RateLimited()+surgeInjected429s; got != want {
		t.Errorf("%d requests counted rate_limited, the fake refused %d", got, want)
	}
	rate := float64(n) / r.elapsed.Seconds()
	allowed := math.Min(float64(limit)*float64(time.Second/surgeWindow), 120)
	t.Logf("surge: %d posts in %v = %.0f/s of %.0f/s allowed (%.0f%%); %d answered 429 by the limits and %d injected, all waited out",
		n, r.elapsed.Round(time.Millisecond), rate, allowed, 100*rate/allowed, r.env.fake.RateLimited(), surgeInjected429s)
}

// A desk paced far faster than the platform allows still delivers
// everything: each 429 is waited out and the same request goes again, and
// every attempt is counted with its outcome.
func TestRateLimitedPostsAllLand(t *testing.T) {
	t.Parallel()
	obs := &connectortest.RequestCounter{}
	e := newEnv(t, envOpts{obs: obs})
	// discordgo reads the route buckets' headers and waits before it would
	// be refused; the global limit it cannot see coming; and a few 429s
	// come whatever the pace.
	e.fake.SetRateLimit("POST /channels/{id}/threads", 4, 100*time.Millisecond)
	e.fake.SetGlobalRate(15)
	e.fake.FailNext(429, 5, 30*time.Millisecond)
	const n = 30
	connectortest.OpenAll(t, n, func(ctx context.Context, cv bridge.CaseView) error {
		_, err := e.desk.OpenThread(ctx, forumID, cv)
		return err
	})
	if got := len(e.fake.Threads(forumID)); got != n {
		t.Errorf("%d posts landed, want %d", got, n)
	}
	if got, want := obs.Total(" rate_limited"), e.fake.RateLimited()+5; got != want {
		t.Errorf("%d requests counted rate_limited, the fake refused %d", got, want)
	}
}

// A 429 whose wait outlives the caller's context ends the call with an
// error instead of sleeping on (discordgo's own retry would never stop).
func TestRateLimitBoundedByContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	th, err := e.desk.OpenThread(context.Background(), forumID, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(429, 1, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = e.desk.Post(ctx, th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "later"})
	if err == nil || !strings.Contains(err.Error(), "rate limited") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Post through an hour-long 429 with a short context: %v, want a rate-limited error", err)
	}
}

// BenchmarkSurge reports the achieved posting rate against the fake's
// limit (go test -run XXX -bench Surge ./connectors/discord/).
func BenchmarkSurge(b *testing.B) {
	const n, limit = 300, 10 // per 100 ms: 100 posts a second
	for range b.N {
		r := surge(b, n, 30, limit, 0.98*limit*float64(time.Second/surgeWindow), 0, 0)
		if len(r.order) != n {
			b.Fatalf("%d posts, want %d", len(r.order), n)
		}
		rate := float64(n) / r.elapsed.Seconds()
		b.ReportMetric(rate, "posts/s")
		b.ReportMetric(100*rate/(limit*float64(time.Second/surgeWindow)), "%_of_limit")
		b.ReportMetric(float64(r.env.fake.RateLimited()), "429s")
	}
}
