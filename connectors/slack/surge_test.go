package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
)

// Surge limits, scaled up from Slack's ~1 message/s per channel so the test
// runs in seconds: the fake allows a surge rate per channel; the desk paces at
// 98% of it with a smaller burst.
const surgeBurst = 5

// surge opens n cases in one channel at once, the last `high` of them with a
// higher priority, and returns how long it took and the order the cards
// landed in.
func surge(tb testing.TB, n, high int, surgeRate float64) (time.Duration, []string, *env) {
	// A smaller burst than the platform's leaves room for jitter.
	e := newEnv(tb, envOpts{pacing: slack.Pacing{ChannelPerSecond: surgeRate * 0.98, ChannelBurst: 2,
		WorkspacePerSecond: 10 * surgeRate, UpdatesPerMinute: 60000}})
	e.fake.SetPostRate(surgeRate, surgeBurst, 4*surgeRate)
	elapsed := connectortest.Surge(tb, n, high, func(ctx context.Context, cv bridge.CaseView) error {
		_, err := e.desk.OpenThread(ctx, channel, cv)
		return err
	})
	var order []string
	for _, m := range e.fake.Messages(channel) {
		id, _, _ := strings.Cut(m.Visible(), " ·")
		order = append(order, id)
	}
	return elapsed, order, e
}

func TestSurgeLosesNothing(t *testing.T) {
	t.Parallel()
	const n, high = 500, 50
	const surgeRate = 250.0 // scaled up further to keep the test short
	elapsed, order, e := surge(t, n, high, surgeRate)
	connectortest.CheckSurgeOrder(t, order, n, high, "card")
	rate := float64(n) / elapsed.Seconds()
	t.Logf("surge: %d cards in %v = %.1f/s of %.0f/s allowed (%.0f%%); fake refused %d with 429, all retried",
		n, elapsed.Round(time.Millisecond), rate, surgeRate, 100*rate/surgeRate, e.fake.RateLimited())
}

// BenchmarkSurge reports the achieved posting rate against the fake's limit
// (go test -run XXX -bench Surge ./connectors/slack/).
func BenchmarkSurge(b *testing.B) {
	for range b.N {
		const n = 500
		const surgeRate = 100.0
		elapsed, order, e := surge(b, n, 50, surgeRate)
		if len(order) != n {
			b.Fatalf("%d cards, want %d", len(order), n)
		}
		rate := float64(n) / elapsed.Seconds()
		b.ReportMetric(rate, "msgs/s")
		b.ReportMetric(100*rate/surgeRate, "%_of_limit")
		b.ReportMetric(float64(e.fake.RateLimited()), "429s")
	}
}

func BenchmarkRenderCard(b *testing.B) {
	cv := connectortest.SuiteCase("E-42")
	cv.Status = bridge.StatusClaimed
	b.ReportAllocs()
	for range b.N {
		slack.RenderCard(cv)
	}
}

// A desk paced faster than the platform allows still delivers everything:
// each 429's Retry-After is waited out and the same message goes again.
func TestRateLimitedPostsAllLand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{pacing: slack.Pacing{ChannelPerSecond: 1000, ChannelBurst: 100, WorkspacePerSecond: 1000, UpdatesPerMinute: 60000}})
	// 10/s with a burst of 2: at 20/s with 5 a loaded machine's slow posts let the bucket
	// refill between them, and no 429 came.
	e.fake.SetPostRate(10, 2, 0)
	const n = 12
	connectortest.OpenAll(t, n, func(ctx context.Context, cv bridge.CaseView) error {
		_, err := e.desk.OpenThread(ctx, channel, cv)
		return err
	})
	if got := len(e.fake.Messages(channel)); got != n {
		t.Errorf("%d cards landed, want %d", got, n)
	}
	if e.fake.RateLimited() == 0 {
		t.Error("the fake never refused a call: the test did not exercise 429s")
	}
}
