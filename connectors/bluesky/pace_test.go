package bluesky

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// The PDS's write points (5,000 an hour, 3 a post) used up answer 429
// RateLimitExceeded: a retryable publication error that says how long to
// wait (RateLimit-Reset), which holds the outbox's lane; the network
// declares the posts an hour those points allow.
func TestPointsBudgetSaysHowLongToWait(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if got := fx.net.PublishBudget(); got != (bridge.Budget{Requests: 1666, Per: time.Hour}) {
		t.Errorf("budget %v", got)
	}
	fx.fake.SetPointsBudget(5, time.Hour) // one post's worth
	if _, err := fx.net.Publish(context.Background(), replyTo(t, fx, "pts-1", "first")); err != nil {
		t.Fatal(err)
	}
	_, err := fx.net.Publish(context.Background(), replyTo(t, fx, "pts-2", "second"))
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.RetryAfter < 59*time.Minute || pe.RetryAfter > time.Hour+time.Second {
		t.Fatalf("over the points: %v (%+v); want retryable after about an hour", err, pe)
	}
	if fx.fake.PointsRefused() != 1 {
		t.Errorf("refused %d", fx.fake.PointsRefused())
	}
}
