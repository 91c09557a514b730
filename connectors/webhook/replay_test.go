package webhook_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// The same signed request sent three times inside the replay window gets
// the first answer three times ("accepted", the same id) and the post is
// taken once; a request the first time answered "retry" (503: not
// listening yet) is welcome again.
func TestReplayedPostGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	ctx := context.Background()
	body := []byte(`{"id":"r-9","author":{"id":"a"},"text":"still waiting"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := webhookfake.Sign(secret, "reviews", ts, body)
	if res, _ := fx.site.SendSigned(ctx, "", body, ts, sig); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("before Listen: %d, want 503", res.Status)
	}
	in := listen(t, fx)
	for i := range 3 {
		res, _ := fx.site.SendSigned(ctx, "", body, ts, sig)
		if res.Status != http.StatusOK || !strings.Contains(res.Body, `"status":"accepted","id":"reviews/r-9"`) {
			t.Errorf("send %d: %d %s, want the first answer (accepted)", i+1, res.Status, res.Body)
		}
	}
	if n := len(in.Posts()); n != 1 {
		t.Errorf("%d posts taken, want 1", n)
	}
}
