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

// An incident's public status thread on Bluesky: a top-level post, then
// replies to our own latest post with the thread's first as root, whose
// cids the network reads back (the bridge keeps only uris).
func TestBroadcastStatusThread(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	ctx := context.Background()
	first, err := fx.net.Publish(ctx, bridge.Reply{Network: Name, Text: "Broadband is down around Braga.", Broadcast: true, IdempotencyKey: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := fx.net.Publish(ctx, bridge.Reply{Network: Name, Text: "Engineers on site.", Broadcast: true, InReplyTo: first.ID,
		InRef: map[string]string{"uri": first.ID, "root_uri": first.ID}, IdempotencyKey: "s2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.net.Publish(ctx, bridge.Reply{Network: Name, Text: "Fixed soon.", Broadcast: true, InReplyTo: second.ID,
		InRef: map[string]string{"uri": second.ID, "root_uri": first.ID}, IdempotencyKey: "s3"}); err != nil {
		t.Fatal(err)
	}
	got := fx.fake.Published()
	if len(got) != 3 || got[0].Record.Reply != nil {
		t.Fatalf("published %+v", got)
	}
	if r := got[2].Record.Reply; r == nil || r.Parent.URI != second.ID || r.Root.URI != first.ID || r.Root.CID != got[0].CID || r.Parent.CID != got[1].CID {
		t.Errorf("the third post's reply refs %+v", r)
	}
}
