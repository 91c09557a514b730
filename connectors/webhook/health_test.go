package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// Finding 5: the webhook network is up while it listens, degraded (posts
// still come in) while every reply to a receiver would fail — it is down,
// refuses our signature, or has no such URL — and up again once a reply
// goes through. A refusal of one reply (a 400) says nothing about health.
func TestUndeliverableRepliesAreDegraded(t *testing.T) {
	t.Parallel()
	h := &connectortest.HealthRecorder{}
	fx := newFixture(t, func(_ *webhook.Config, d *bridge.Deps) { d.Health = h })
	in := listen(t, fx)
	h.WaitFor(t, "webhook", bridge.HealthUp, "")
	id := fx.post(t, "my parcel is lost", webhookfake.PostOptions{})
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	r := bridge.Reply{Case: "E-9", Network: "webhook", InReplyTo: p.ID, InRef: p.Ref, To: p.Author, Text: "Found it", IdempotencyKey: "k-1"}

	fx.site.FailNext(503, 1, 0)
	if _, err := fx.net.Publish(context.Background(), r); err == nil {
		t.Fatal("a 503 published")
	}
	rep := h.WaitFor(t, "webhook", bridge.HealthDegraded, "HTTP 503")
	if want := fx.site.Source(); !strings.Contains(rep.Reason, want) {
		t.Errorf("the reason %q does not name the source %q", rep.Reason, want)
	}
	fx.site.FailNext(400, 1, 0)
	_, _ = fx.net.Publish(context.Background(), r)
	if last, _ := h.Last("webhook"); last.State != bridge.HealthDegraded {
		t.Errorf("a 400 for one reply changed health to %+v", last)
	}
	if _, err := fx.net.Publish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h.WaitFor(t, "webhook", bridge.HealthUp, "")

	// A receiver that refuses our signature (secrets out of step).
	h2 := &connectortest.HealthRecorder{}
	wrong := newFixture(t, func(c *webhook.Config, d *bridge.Deps) { c.Secret = "not-the-sites-secret"; d.Health = h2 })
	_, _ = wrong.net.Publish(context.Background(), bridge.Reply{Case: "E-1", Network: "webhook", InReplyTo: wrong.site.Source() + "/1",
		To: bridge.Author{ID: wrong.site.Source() + "/a"}, Text: "hi", IdempotencyKey: "k-2"})
	h2.WaitFor(t, "webhook", bridge.HealthDegraded, "signature")
}
