package x

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/internal/fuzzkit"
	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

// FuzzDecodeLine: any stream line decodes to a tweet with an id, a
// keep-alive, or an error; never a panic.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		"", "\r", `{"data":{"id":"1","text":"refund &amp; more","author_id":"9"},"includes":{"users":[{"id":"9","username":"ana"}]},"matching_rules":[{"id":"5","tag":"earshot"}]}`,
		`{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect"}]}`,
		`{"data":{}}`, `[1,2]`, `{"data":null}`, "{\"data\":{\"id\":\"\xff\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		msg, ka, err := decodeLine(line)
		if ka && err != nil {
			t.Fatal("keep-alive with an error")
		}
		if !ka && err == nil && (msg.Data == nil || msg.Data.ID == "") {
			t.Fatalf("accepted a line without a tweet id: %q", line)
		}
	})
}

// FuzzStreamReader: whatever the body, lines come back without line endings
// and the reader ends.
func FuzzStreamReader(f *testing.F) {
	f.Add([]byte("\r\n{\"data\":{\"id\":\"1\"}}\r\n\r\n"))
	f.Add([]byte("no newline at all"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := newStreamReader(bytes.NewReader(body))
		for i := 0; ; i++ {
			line, err := r.next()
			if err != nil {
				return
			}
			if bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("line %q keeps its newline", line)
			}
			if i > len(body)+1 {
				t.Fatal("reader does not end")
			}
		}
	})
}

// restRoutes are the X API routes whose answers the connector reads, in
// the order of FuzzREST's route argument.
var restRoutes = []string{
	"POST /2/oauth2/token",
	"GET /2/users/me",
	"GET /2/users/{id}/mentions",
	"GET /2/dm_events",
	"POST /2/tweets",
	"POST /2/dm_conversations/with/{id}/messages",
}

const fuzzRefresh, fuzzSecret = "x-refresh-fuzz-0", "x-client-secret-fuzz"

// fuzzNetwork is a Network on OAuth 2.0 (it refreshes its token first) at
// base, keeping nothing on disk.
func fuzzNetwork(tb testing.TB, base, dir string) *Network {
	tb.Helper()
	n, err := New(Config{APIURL: base, ClientID: "earshot-client", ClientSecret: fuzzSecret, RefreshToken: fuzzRefresh,
		RequestTimeout: 5 * time.Second}, bridge.Deps{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// useREST drives every call whose answers FuzzREST fuzzes: the token
// refresh and users/me (Check), mentions and DM events (two polls each: the
// first primes), a public reply and a DM. It returns the first error of
// each step, for the caller to judge.
func useREST(ctx context.Context, n *Network) (check error, polls []error, reply, dm error, refs []bridge.PostRef) {
	if check = n.Check(ctx); check != nil {
		return check, nil, nil, nil, nil
	}
	me, _ := n.ensureMe(ctx)
	for range 2 {
		polls = append(polls, n.pollMentions(ctx, connectortest.NopInbox{}, me), n.pollDMs(ctx, connectortest.NopInbox{}, me))
	}
	ref, reply := n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: "1700000000000000001", Text: "Sorry, Ana!",
		To: bridge.Author{ID: "42", Handle: "ana_l"}, IdempotencyKey: "k-1"})
	refs = append(refs, ref)
	ref, dm = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, Private: true, Text: "Your booking, privately",
		To: bridge.Author{ID: "42", Handle: "ana_l"}, IdempotencyKey: "k-2"})
	refs = append(refs, ref)
	return check, polls, reply, dm, refs
}

// captureX runs the connector against xfake through a recorder: a token
// refresh, users/me, mentions and DMs polled before and after a customer
// wrote, a reply, a DM, and a reply X refused with a 429.
func captureX(tb testing.TB) fuzzkit.Run {
	tb.Helper()
	fake := xfake.New(xfake.Options{RefreshToken: fuzzRefresh})
	tb.Cleanup(fake.Close)
	ana := fake.AddUser("ana_l", "Ana Lima", 42)
	rec := fuzzkit.NewRecorder(tb, fake.URL())
	ctx := context.Background()
	dir := tb.TempDir()
	n := fuzzNetwork(tb, rec.URL(), dir)
	if err := n.Check(ctx); err != nil {
		tb.Fatal(err)
	}
	me, _ := n.ensureMe(ctx)
	_ = n.pollMentions(ctx, connectortest.NopInbox{}, me)
	_ = n.pollDMs(ctx, connectortest.NopInbox{}, me)
	tw, _ := fake.Tweet(ana.ID, "@"+me.Username+" my refund & my <booking>", xfake.TweetOptions{})
	fake.SendDM(ana.ID, me.ID, "booking ref 9F2K")
	_ = n.pollMentions(ctx, connectortest.NopInbox{}, me)
	_ = n.pollDMs(ctx, connectortest.NopInbox{}, me)
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: tw.ID, Text: "Sorry!", To: bridge.Author{ID: ana.ID}, IdempotencyKey: "k"})
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, Private: true, Text: "Privately", To: bridge.Author{ID: ana.ID}, IdempotencyKey: "k2"})
	fake.FailNext(429, 1, 3*time.Second)
	_, _ = n.Publish(ctx, bridge.Reply{Case: "E-1", Network: Name, InReplyTo: tw.ID, Text: "Again", IdempotencyKey: "k3"})

	return rec.Run(tb, restRoutes, dir)
}

// FuzzREST: whatever X answers on any route the connector reads (status,
// body, rate-limit headers), every call ends with a result or a clear
// error: no panic, a published reply always has an id, a failed one is a
// *bridge.PublishError, no secret in any error, and a refreshed token's
// expiry is never in the past. Seeded with xfake's answers to a real run.
func FuzzREST(f *testing.F) {
	c := captureX(f)
	for i, ex := range c.Exchanges {
		if c.Routes[i] >= 0 {
			f.Add(uint8(c.Routes[i]), uint16(ex.Status-200), ex.Body, ex.Header.Get("x-rate-limit-remaining"), ex.Header.Get("x-rate-limit-reset"))
		}
	}
	ctx := context.Background()
	defaults := c.Defaults
	// Found reading auth.go for this target: expires_in × 1s wrapped negative.
	replier := fuzzkit.NewReplier(f, defaults)
	f.Fuzz(func(t *testing.T, route uint8, status uint16, body []byte, remaining, reset string) {
		r := restRoutes[int(route)%len(restRoutes)]
		h := http.Header{}
		if remaining != "" {
			h.Set("x-rate-limit-remaining", remaining)
		}
		if reset != "" {
			h.Set("x-rate-limit-reset", reset)
		}
		replier.Set(r, fuzzkit.Reply{Status: fuzzkit.Status(status), Header: h, Body: body})
		defer replier.Set(r, defaults[r])
		n := fuzzNetwork(t, replier.URL(), "")
		check, polls, reply, dm, refs := useREST(ctx, n)
		for _, err := range append([]error{check, reply, dm}, polls...) {
			if err != nil && (strings.Contains(err.Error(), fuzzRefresh) || strings.Contains(err.Error(), fuzzSecret)) {
				t.Fatalf("an error carries a secret: %v", err)
			}
		}
		if check == nil {
			fuzzkit.CheckPublished(t, refs, []error{reply, dm})
		}
		if a, ok := n.api.auth.(*oauth2Auth); ok {
			a.mu.Lock()
			exp := a.tok.Expiry
			a.mu.Unlock()
			if !exp.IsZero() && exp.Before(time.Now()) {
				t.Fatalf("a refreshed token expires in the past (%v) after %s", exp, body)
			}
		}
	})
}

// FuzzStateFiles: whatever the data directory holds as x-token.json or
// x-state.json, New either refuses it with an error naming the file, or
// the connector works from it (Check, polls, replies) without a panic.
// Seeded with the files a real run wrote.
func FuzzStateFiles(f *testing.F) {
	c := captureX(f)
	files := []string{"x-token.json", "x-state.json"}
	for i, name := range files {
		b, err := os.ReadFile(filepath.Join(c.Dir, name))
		if err != nil {
			f.Fatalf("the real run wrote no %s: %v", name, err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(1), []byte(`{"since_id":"../../x?y","primed":true,"dm_since_id":"\u0000","dm_primed":true,"stream_from":"0001-01-01T00:00:00Z"}`))
	f.Add(uint8(0), []byte(`{"access_token":"a\nb","refresh_token":"r","seed":""}`))
	replier := fuzzkit.NewReplier(f, c.Defaults)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, content []byte) {
		dir := t.TempDir()
		name := files[int(which)%len(files)]
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := New(Config{APIURL: replier.URL(), ClientID: "earshot-client", ClientSecret: fuzzSecret, RefreshToken: fuzzRefresh,
			RequestTimeout: 5 * time.Second}, bridge.Deps{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("refusing %s, the error does not name it: %v", name, err)
			}
			return
		}
		useREST(ctx, n)
	})
}
