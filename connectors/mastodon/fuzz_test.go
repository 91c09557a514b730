package mastodon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/internal/fuzzkit"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// fuzz_test.go fuzzes what an instance answers on every REST route the
// connector reads, and the state file it keeps, each seeded with what
// mastodonfake answered (and the connector wrote) in a real run.

// restRoutes are the REST routes whose answers the connector reads, in the
// order of FuzzREST's route argument.
var restRoutes = []string{
	"GET /api/v1/accounts/verify_credentials",
	"GET /api/v2/instance",
	"GET /api/v1/notifications",
	"GET /api/v1/timelines/tag/{tag}",
	"GET /api/v1/statuses/{id}/context",
	"POST /api/v1/statuses",
}

// fuzzToken is the brand account's token on mastodonfake.
const fuzzToken = "earshot-token"

func fuzzNetwork(tb testing.TB, server, dir string) *Network {
	tb.Helper()
	n, err := New(Config{Server: server, AccessToken: fuzzToken, Hashtags: []string{"trainfail"}, RequestTimeout: 5 * time.Second},
		bridge.Deps{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// useREST drives every call whose answers FuzzREST fuzzes: Check (the
// account and the instance), the notification and hashtag gap fills (the
// first notes a baseline, the second delivers, finding conversation roots),
// a public reply and a DM.
func useREST(ctx context.Context, n *Network) (check error, reply, dm error, refs []bridge.PostRef) {
	if check = n.Check(ctx); check != nil {
		return check, nil, nil, nil
	}
	for range 2 {
		_ = n.fillGap(ctx, connectortest.NopInbox{})
		_ = n.fillTagGap(ctx, connectortest.NopInbox{}, "trainfail")
	}
	ref, reply := n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: "109", Text: "Sorry, Ana!",
		To: bridge.Author{ID: "2", Handle: "ana@fake.social"}, IdempotencyKey: "k-1"})
	refs = append(refs, ref)
	ref, dm = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, Private: true, Text: "Privately",
		To: bridge.Author{ID: "2", Handle: "ana@fake.social"}, IdempotencyKey: "k-2"})
	return check, reply, dm, append(refs, ref)
}

func captureMastodon(tb testing.TB) fuzzkit.Run {
	tb.Helper()
	fake := mastodonfake.New(mastodonfake.Options{})
	tb.Cleanup(fake.Close)
	ana := fake.AddAccount("ana", "Ana Lima", 42)
	rec := fuzzkit.NewRecorder(tb, fake.URL())
	ctx := context.Background()
	dir := tb.TempDir()
	n := fuzzNetwork(tb, rec.URL(), dir)
	if err := n.Check(ctx); err != nil {
		tb.Fatal(err)
	}
	_ = n.start(ctx) // the first start: where mentions and tags begin
	_ = n.fillTagGap(ctx, connectortest.NopInbox{}, "trainfail")
	first, _ := fake.Post(ana.ID, "@earshot my train is late again #TrainFail", mastodonfake.PostOptions{})
	reply, _ := fake.Post(ana.ID, "@earshot still waiting <b>&amp;</b>", mastodonfake.PostOptions{InReplyTo: first.ID})
	_ = n.fillGap(ctx, connectortest.NopInbox{})
	_ = n.fillTagGap(ctx, connectortest.NopInbox{}, "trainfail")
	n.mu.Lock()
	clear(n.roots) // find the root from the instance, not the cache
	n.mu.Unlock()
	_, _ = n.rootOf(ctx, reply.ID, first.ID)
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: reply.ID, Text: "Sorry, Ana!",
		To: bridge.Author{ID: ana.ID, Handle: "ana"}, IdempotencyKey: "k-1"})
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, Private: true, Text: "Privately",
		To: bridge.Author{ID: ana.ID, Handle: "ana"}, IdempotencyKey: "k-2"})
	fake.FailNext(429, 1, 2*time.Second)
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: reply.ID, Text: "Again", IdempotencyKey: "k-3"})

	return rec.Run(tb, restRoutes, dir)
}

// FuzzREST: whatever the instance answers on any route the connector
// reads (status, body, a rate-limit reset), every call ends with a result
// or a clear error: no panic, a published reply always has an id, a failed
// one is a *bridge.PublishError that never carries the token, and the
// text limit stays positive.
func FuzzREST(f *testing.F) {
	c := captureMastodon(f)
	for i, ex := range c.Exchanges {
		if c.Routes[i] >= 0 {
			f.Add(uint8(c.Routes[i]), uint16(ex.Status-200), ex.Body, ex.Header.Get("X-RateLimit-Reset"))
		}
	}
	f.Add(uint8(1), uint16(0), []byte(`{"configuration":{"statuses":{"max_characters":5}}}`), "")
	f.Add(uint8(5), uint16(229), []byte(`{"error":"Too many requests"}`), "not a date")
	replier := fuzzkit.NewReplier(f, c.Defaults)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, route uint8, status uint16, body []byte, reset string) {
		r := restRoutes[int(route)%len(restRoutes)]
		h := http.Header{"Content-Type": {"application/json"}}
		if reset != "" {
			h.Set("X-RateLimit-Reset", reset)
		}
		replier.Set(r, fuzzkit.Reply{Status: fuzzkit.Status(status), Header: h, Body: body})
		defer replier.Set(r, c.Defaults[r])
		n := fuzzNetwork(t, replier.URL(), "")
		check, reply, dm, refs := useREST(ctx, n)
		if check != nil {
			if strings.Contains(check.Error(), fuzzToken) {
				t.Fatalf("an error carries the token: %v", check)
			}
			return
		}
		fuzzkit.CheckPublished(t, refs, []error{reply, dm})
		for _, err := range []error{reply, dm} {
			if err != nil && strings.Contains(err.Error(), fuzzToken) {
				t.Fatalf("an error carries the token: %v", err)
			}
		}
		if lim := n.Limits(); lim.Max <= 0 {
			t.Fatalf("text limit %d from %s", lim.Max, body)
		}
	})
}

// FuzzStateFile: whatever mastodon-state.json holds, New refuses it with
// an error naming the file, or the connector works from it (gap fills,
// replies) without a panic. Seeded with the file a real run wrote.
func FuzzStateFile(f *testing.F) {
	c := captureMastodon(f)
	b, err := os.ReadFile(filepath.Join(c.Dir, "mastodon-state.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"last_notification_id":"../x?y","hashtags":{"trainfail":"\u0000","":"9"}}`))
	replier := fuzzkit.NewReplier(f, c.Defaults)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "mastodon-state.json"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := New(Config{Server: replier.URL(), AccessToken: fuzzToken, Hashtags: []string{"trainfail"}, RequestTimeout: 5 * time.Second},
			bridge.Deps{DataDir: dir})
		if err != nil {
			if !strings.Contains(err.Error(), "mastodon-state.json") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		useREST(ctx, n)
	})
}
