package bluesky

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/internal/fuzzkit"
)

// fuzz_test.go fuzzes what the PDS and the chat service answer on every
// XRPC route the connector reads (session, posts, profiles, handles, DMs,
// the chat log), and the state files it keeps, each seeded with what
// blueskyfake answered (and the connector wrote) in a real run.

// xrpcRoutes are the XRPC routes whose answers the connector reads, in
// the order of FuzzXRPC's route argument.
var xrpcRoutes = []string{
	"POST /xrpc/com.atproto.server.createSession",
	"POST /xrpc/com.atproto.server.refreshSession",
	"POST /xrpc/com.atproto.repo.createRecord",
	"GET /xrpc/com.atproto.repo.getRecord",
	"GET /xrpc/com.atproto.identity.resolveHandle",
	"GET /xrpc/app.bsky.actor.getProfile",
	"GET /xrpc/chat.bsky.convo.getConvoForMembers",
	"POST /xrpc/chat.bsky.convo.sendMessage",
	"GET /xrpc/chat.bsky.convo.getLog",
}

// stateFiles are the files the connector keeps in its data directory.
var stateFiles = []string{"bluesky-cursor.json", "bluesky-session.json", "bluesky-chat-cursor.json", "bluesky-dm-attempts.json"}

func fuzzNetwork(tb testing.TB, service, dir string) (*Network, error) {
	tb.Helper()
	return New(Config{Service: service, Jetstream: "ws://127.0.0.1:1/subscribe", Identifier: blueskyfake.OurHandle,
		AppPassword: blueskyfake.OurPassword, RequestTimeout: 5 * time.Second}, bridge.Deps{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
}

// fuzzReply is a reply to a customer's post, mentioning her handle.
var fuzzReply = bridge.Reply{Case: "E-1", Network: Name, InReplyTo: "at://did:plc:ana/app.bsky.feed.post/3kx",
	InRef: map[string]string{"uri": "at://did:plc:ana/app.bsky.feed.post/3kx", "cid": "bafyreiana"},
	Text:  "@ana.fake.bsky sorry, a new parcel is on its way", To: bridge.Author{ID: "did:plc:ana"}, IdempotencyKey: "k-1"}

// useXRPC drives every call whose answers FuzzXRPC fuzzes: Check (the
// session), the chat log twice, a profile, a reply (with a mention to
// resolve, and a look for the record when the create fails), and a DM.
func useXRPC(ctx context.Context, n *Network) (check, reply, dm error, refs []bridge.PostRef) {
	if check = n.Check(ctx); check != nil {
		return check, nil, nil, nil
	}
	me, _ := n.me(ctx)
	cursor, _ := n.pollChat(ctx, connectortest.NopInbox{}, me, "", true)
	_, _ = n.pollChat(ctx, connectortest.NopInbox{}, me, cursor, false)
	_, _ = n.profile(ctx, "did:plc:ana")
	ref, reply := n.Publish(ctx, fuzzReply)
	refs = append(refs, ref)
	dmr := fuzzReply
	dmr.Private, dmr.IdempotencyKey = true, "k-2"
	ref, dm = n.Publish(ctx, dmr)
	return check, reply, dm, append(refs, ref)
}

func captureBluesky(tb testing.TB) fuzzkit.Run {
	tb.Helper()
	fake := blueskyfake.New()
	tb.Cleanup(fake.Close)
	ana := fake.AddAccount("ana", "Ana Lima", 42)
	fake.Follow(ana.DID, fake.Us().DID)
	rec := fuzzkit.NewRecorder(tb, fake.URL())
	ctx := context.Background()
	dir := tb.TempDir()
	n, err := fuzzNetwork(tb, rec.URL(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Check(ctx); err != nil {
		tb.Fatal(err)
	}
	me, _ := n.me(ctx)
	cursor, _ := n.pollChat(ctx, connectortest.NopInbox{}, me, "", true)
	post, _ := fake.Post(ana.DID, "@"+blueskyfake.OurHandle+" my parcel never came", "")
	_, _ = fake.SendDM(ana.DID, me, "order 4471, privately")
	cursor, _ = n.pollChat(ctx, connectortest.NopInbox{}, me, cursor, false)
	n.saveChatCursor(cursor)
	n.advance(post.TimeUS, true)
	n.profiles = &profileCache{ttl: time.Hour, now: time.Now, m: map[string]profileEntry{}} // resolve the mention afresh
	r := bridge.Reply{Case: "E-1", Network: Name, InReplyTo: post.URI, InRef: map[string]string{"uri": post.URI, "cid": post.CID},
		Text: "@ana.fake.bsky sorry!", To: bridge.Author{ID: ana.DID}, IdempotencyKey: "k-1"}
	_, _ = n.Publish(ctx, r)
	fake.LoseNext(http.StatusBadGateway, 1) // the post is made, its answer lost: the connector looks it up
	r.IdempotencyKey = "k-3"
	_, _ = n.Publish(ctx, r)
	r.Private, r.IdempotencyKey = true, "k-2"
	_, _ = n.Publish(ctx, r)
	fake.ExpireTokens() // the next call refreshes the session
	_, _ = n.profile(ctx, ana.DID)
	n.profiles = &profileCache{ttl: time.Hour, now: time.Now, m: map[string]profileEntry{}}
	_, _ = n.profile(ctx, ana.DID)

	return rec.Run(tb, xrpcRoutes, dir)
}

// FuzzXRPC: whatever the PDS or the chat service answers on any route the
// connector reads (status, body, rate-limit headers), every call ends with
// a result or a clear error: no panic, a published reply or DM always has
// an id, a failed one is a *bridge.PublishError, and no error carries the
// app password or a token.
func FuzzXRPC(f *testing.F) {
	c := captureBluesky(f)
	for i, ex := range c.Exchanges {
		if c.Routes[i] >= 0 {
			f.Add(uint8(c.Routes[i]), uint16(ex.Status-200), ex.Body, ex.Header.Get("RateLimit-Reset"))
		}
	}
	f.Add(uint8(2), uint16(229), []byte(`{"error":"RateLimitExceeded","message":"slow down"}`), "99999999999999")
	replier := fuzzkit.NewReplier(f, c.Defaults)
	ctx := context.Background()
	expired := fuzzkit.Reply{Status: http.StatusBadRequest, Body: []byte(`{"error":"ExpiredToken","message":"Token has expired"}`)}
	f.Fuzz(func(t *testing.T, route uint8, status uint16, body []byte, reset string) {
		r := xrpcRoutes[int(route)%len(xrpcRoutes)]
		h := http.Header{}
		if reset != "" {
			h.Set("RateLimit-Reset", reset)
		}
		replier.Set(r, fuzzkit.Reply{Status: fuzzkit.Status(status), Header: h, Body: body})
		defer replier.Set(r, c.Defaults[r])
		if strings.Contains(r, "refreshSession") {
			// Only an expired session makes the connector refresh.
			const p = "GET /xrpc/app.bsky.actor.getProfile"
			replier.Set(p, expired)
			defer replier.Set(p, c.Defaults[p])
		}
		n, err := fuzzNetwork(t, replier.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		check, reply, dm, refs := useXRPC(ctx, n)
		for _, err := range []error{check, reply, dm} {
			if err != nil && strings.Contains(err.Error(), blueskyfake.OurPassword) {
				t.Fatalf("an error carries the app password: %v", err)
			}
		}
		if check != nil {
			return
		}
		fuzzkit.CheckPublished(t, refs, []error{reply, dm})
	})
}

// FuzzStateFiles: whatever the data directory holds as the Jetstream
// cursor, the session, the chat cursor or the DM ledger, New refuses it
// with an error naming the file, or the connector works from it without a
// panic (a cursor of 0 or less reads as none: the stream starts live).
// Seeded with the files a real run wrote.
func FuzzStateFiles(f *testing.F) {
	c := captureBluesky(f)
	for i, name := range stateFiles {
		b, err := os.ReadFile(filepath.Join(c.Dir, name))
		if err != nil {
			f.Fatalf("the real run wrote no %s: %v", name, err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte(`{"time_us":-5}`))
	f.Add(uint8(3), []byte(`{"k-2":{"state":"sending"},"":{"state":"sent","id":""}}`))
	replier := fuzzkit.NewReplier(f, c.Defaults)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, content []byte) {
		dir := t.TempDir()
		name := stateFiles[int(which)%len(stateFiles)]
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := fuzzNetwork(t, replier.URL(), dir)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("refusing %s, the error does not name it: %v", name, err)
			}
			return
		}
		_, _ = n.loadChatCursor()
		useXRPC(ctx, n)
	})
}
