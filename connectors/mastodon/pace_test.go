package mastodon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// The instance's per-account limit (300 requests per 5 minutes) answered
// 429 is a retryable publication error that says how long to wait (its
// X-RateLimit-Reset), which holds the outbox's lane for Mastodon; the
// network declares that budget for the outbox to pace within.
func TestRateLimitSaysHowLongToWait(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if got := fx.net.PublishBudget(); got != (bridge.Budget{Requests: 300, Per: 5 * time.Minute}) {
		t.Errorf("budget %v", got)
	}
	in := listen(t, fx)
	id := fx.post(t, "@earshot hello", "")
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	fx.fake.SetRateLimit(1, time.Minute) // the next request is the window's one
	r := bridge.Reply{Network: Name, InReplyTo: p.ID, To: p.Author, Text: "Hi!", IdempotencyKey: "k1"}
	if _, err := fx.net.Publish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r.IdempotencyKey = "k2"
	_, err := fx.net.Publish(context.Background(), r)
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.MaybeSent || pe.RetryAfter < 50*time.Second || pe.RetryAfter > time.Minute+time.Second {
		t.Fatalf("over the limit: %v (%+v); want retryable, not sent, after about a minute", err, pe)
	}
	if fx.fake.RateLimited() == 0 {
		t.Error("the fake never refused")
	}
}

// An incident's public status thread on Mastodon: a public top-level
// status mentioning nobody, then replies to our own latest one.
func TestBroadcastStatusThread(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	ctx := context.Background()
	first, err := fx.net.Publish(ctx, bridge.Reply{Network: Name, Text: "Broadband is down around Braga.", Broadcast: true, IdempotencyKey: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.net.Publish(ctx, bridge.Reply{Network: Name, Text: "Engineers on site.", Broadcast: true, InReplyTo: first.ID, IdempotencyKey: "s2"}); err != nil {
		t.Fatal(err)
	}
	got := fx.fake.Published()
	if len(got) != 2 || got[0].InReplyTo != "" || got[0].Visibility != "public" || got[0].Text != "Broadband is down around Braga." || got[1].InReplyTo != first.ID {
		t.Errorf("published %+v", got)
	}
	if !fx.net.Broadcasts() {
		t.Error("Broadcasts() = false")
	}
}
