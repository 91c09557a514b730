package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// A body signed for one source is refused on another, even when the two
// share the top-level secret (the default): the v1 signature binds the
// source name.
func TestSignatureBindsTheSource(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) {
		c.Sources = []webhook.SourceConfig{{Name: "reviews"}, {Name: "appstore"}} // both with the top-level secret
	})
	in := listen(t, fx)
	ctx := context.Background()
	body := []byte(`{"id":"r-1","author":{"id":"a"},"text":"refund please"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := webhookfake.Sign(secret, "reviews", ts, body)
	if res, _ := fx.site.SendTo(ctx, "", "appstore", body, ts, sig); res.Status != http.StatusUnauthorized ||
		!strings.Contains(res.Body, "signature does not match") {
		t.Errorf("signed for reviews, sent to appstore: %d %s, want 401", res.Status, res.Body)
	}
	if res, _ := fx.site.SendTo(ctx, "", "reviews", body, ts, sig); res.Status != http.StatusOK {
		t.Errorf("signed for reviews, sent to reviews: %d %s, want 200", res.Status, res.Body)
	}
	if posts := in.Posts(); len(posts) != 1 || posts[0].ID != "reviews/r-1" {
		t.Errorf("posts taken: %+v, want only reviews/r-1", posts)
	}
}

// The old scheme (sha256=, bound to no source) is refused with a clear
// answer unless the source has legacy_signatures; with it, both schemes
// are accepted, replies are signed the old way, and a warning is logged at
// start.
func TestLegacySignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	body := []byte(`{"id":"old-1","author":{"id":"a"},"text":"hi"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)

	fx := newFixture(t, nil)
	listen(t, fx)
	res, _ := fx.site.SendSigned(ctx, "", body, ts, webhookfake.SignLegacy(secret, ts, body))
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "old signature scheme") {
		t.Errorf("old scheme without the flag: %d %s, want 401 naming the old scheme", res.Status, res.Body)
	}

	logs := &connectortest.LogBuffer{}
	site := webhookfake.New(webhookfake.Options{Source: "legacy", Secret: secret, Legacy: true})
	t.Cleanup(site.Close)
	fx = newFixture(t, func(c *webhook.Config, d *bridge.Deps) {
		c.Sources = []webhook.SourceConfig{{Name: "reviews"}, {Name: "legacy", LegacySignatures: true, ReplyURL: site.ReplyURL()}}
		d.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if !strings.Contains(logs.String(), "legacy_signatures is on") || !strings.Contains(logs.String(), "sources=legacy") {
		t.Errorf("no warning at start naming the source: %s", logs)
	}
	in := listen(t, fx)
	site.SetTarget(fx.srv.URL)
	if _, res, _ := site.Post(ctx, ana, "old signer", webhookfake.PostOptions{}); res.Status != http.StatusOK {
		t.Errorf("old scheme from a legacy source: %d %s, want 200", res.Status, res.Body)
	}
	if res, _ := site.SendSigned(ctx, "", body, ts, webhookfake.Sign(secret, "legacy", ts, body)); res.Status != http.StatusOK {
		t.Errorf("v1 from a legacy source: %d %s, want 200", res.Status, res.Body)
	}
	// The source without the flag still refuses the old scheme.
	if res, _ := fx.site.SendSigned(ctx, "", body, ts, webhookfake.SignLegacy(secret, ts, body)); res.Status != http.StatusUnauthorized {
		t.Errorf("old scheme on a v1 source next to a legacy one: %d, want 401", res.Status)
	}
	// Replies to the legacy source are signed the way it verifies.
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.Text == "old signer" })
	if _, err := fx.net.Publish(ctx, bridge.Reply{Case: "E-1", Network: webhook.Name, InReplyTo: p.ID, InRef: p.Ref, To: p.Author,
		Text: "Sorry!", IdempotencyKey: "k-legacy"}); err != nil {
		t.Errorf("reply to a legacy source: %v", err)
	}
}

// Replies are signed v1 for their source: a receiver checking v1 for
// another source name refuses them.
func TestRepliesSignedForTheirSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	elsewhere := webhookfake.New(webhookfake.Options{Source: "appstore", Secret: secret})
	t.Cleanup(elsewhere.Close)
	fx := newFixture(t, func(c *webhook.Config, _ *bridge.Deps) {
		c.Sources = []webhook.SourceConfig{{Name: "reviews", ReplyURL: elsewhere.ReplyURL()}}
	})
	in := listen(t, fx)
	id := fx.post(t, "hello", webhookfake.PostOptions{})
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == id })
	_, err := fx.net.Publish(ctx, bridge.Reply{Case: "E-1", Network: webhook.Name, InReplyTo: p.ID, InRef: p.Ref, To: p.Author,
		Text: "Sorry!", IdempotencyKey: "k-1"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a reply for reviews checked as appstore's: %v, want refused (401)", err)
	}
	if n := len(elsewhere.Replies()); n != 0 {
		t.Errorf("%d replies recorded by the wrong source's receiver", n)
	}
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_795_429_800, 0)
	body := []byte(`{"id":"1"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	v := webhook.Verifier{Secret: "s", Source: "reviews", Window: 5 * time.Minute}
	good := webhook.Sign("s", "reviews", now, body)
	cases := []struct {
		name, ts, sig string
		legacy        bool
		want          error
	}{
		{"v1", ts, good, false, nil},
		{"v1 in upper case", ts, "v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1=")), false, nil},
		{"v1 for another source", ts, webhook.Sign("s", "appstore", now, body), false, webhook.ErrBadSignature},
		{"old scheme refused", ts, webhook.SignLegacy("s", now, body), false, webhook.ErrLegacy},
		{"old scheme allowed", ts, webhook.SignLegacy("s", now, body), true, nil},
		{"unknown scheme", ts, "v2=00", false, webhook.ErrScheme},
		{"bare hex", ts, strings.TrimPrefix(good, "v1="), false, webhook.ErrScheme},
		{"no timestamp", "", good, false, webhook.ErrNoSignature},
		{"bad timestamp", "soon", good, false, webhook.ErrBadTimestamp},
		{"stale", strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), webhook.Sign("s", "reviews", now.Add(-6*time.Minute), body), false, webhook.ErrStale},
	}
	for _, c := range cases {
		v := v
		v.Legacy = c.legacy
		_, err := v.Verify(c.ts, c.sig, body, now)
		if (c.want == nil) != (err == nil) || (c.want != nil && !strings.Contains(err.Error(), c.want.Error())) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
