package bluesky

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/realpds"
	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// The tests in this file run against a real PDS (@atproto/pds with its
// PLC, no AppView; realpds), one per test binary, shared by the subtests
// and stopped by TestMain. They skip, saying why, only where it cannot be
// installed (npm or its registry unreachable, not linux/amd64) or with
// -short.

var shared struct {
	once sync.Once
	pds  *realpds.PDS
	err  error
	skip string
	seq  atomic.Int64
}

// realPDS returns the running PDS, starting it on first use.
func realPDS(t *testing.T) *realpds.PDS {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: the real-PDS tests do not run with -short")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		dir, err := realpds.Install(ctx, os.Stderr)
		if errors.Is(err, realpds.ErrUnavailable) {
			shared.skip = err.Error()
			return
		}
		if err != nil {
			shared.err = err
			return
		}
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer scancel()
		shared.pds, shared.err = realpds.Start(sctx, dir)
	})
	if shared.skip != "" {
		t.Skipf("SKIP (loud): no real PDS on this machine: %s", shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("real PDS: %v", shared.err)
	}
	return shared.pds
}

// stopRealPDS stops the shared PDS, if one started; called by TestMain.
func stopRealPDS() {
	if shared.pds != nil {
		shared.pds.Close()
	}
}

// realAccount makes a fresh account (handle prefix-N.test) with an app
// password, as a brand would set one up for Earshot.
func realAccount(t *testing.T, pds *realpds.PDS, prefix string) (realpds.Account, string) {
	t.Helper()
	ctx := context.Background()
	handle := fmt.Sprintf("%s-%d.test", prefix, shared.seq.Add(1))
	a, err := pds.CreateAccount(ctx, handle, "password-"+handle)
	if err != nil {
		t.Fatalf("create account %s: %v", handle, err)
	}
	app, err := pds.AppPassword(ctx, a, "earshot")
	if err != nil {
		t.Fatalf("app password: %v", err)
	}
	return a, app
}

// realFixture is our Network logged in as a fresh brand account, and a
// fresh customer account, on the real PDS (through proxy when not "").
type realFixture struct {
	pds    *realpds.PDS
	us     realpds.Account
	ana    realpds.Account
	net    *Network
	dir    string
	health *connectortest.HealthRecorder
	reqs   *connectortest.RequestCounter
	logs   *connectortest.LogBuffer
}

func newRealFixture(t *testing.T, service string) *realFixture {
	t.Helper()
	pds := realPDS(t)
	us, app := realAccount(t, pds, "brand")
	ana, _ := realAccount(t, pds, "ana")
	if service == "" {
		service = pds.URL
	}
	fx := &realFixture{pds: pds, us: us, ana: ana, dir: t.TempDir(), health: &connectortest.HealthRecorder{},
		reqs: &connectortest.RequestCounter{}, logs: &connectortest.LogBuffer{}}
	n, err := New(Config{Service: service, Jetstream: "ws://127.0.0.1:1/subscribe", Identifier: us.Handle, AppPassword: app,
		ChatPoll: -1, RequestTimeout: 10 * time.Second},
		bridge.Deps{DataDir: fx.dir, Health: fx.health, Requests: fx.reqs, Logger: slog.New(slog.NewTextHandler(fx.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	fx.net = n
	return fx
}

// customerPost makes ana post text (mentioning us when it names our
// handle) and returns the reply Earshot would be asked to publish for it.
func (fx *realFixture) customerPost(t *testing.T, text string) realpds.Ref {
	t.Helper()
	extra := map[string]any{}
	if i := strings.Index(text, "@"+fx.us.Handle); i >= 0 {
		extra["facets"] = []any{map[string]any{
			"index":    map[string]int{"byteStart": i, "byteEnd": i + 1 + len(fx.us.Handle)},
			"features": []any{map[string]string{"$type": "app.bsky.richtext.facet#mention", "did": fx.us.DID}},
		}}
	}
	ref, err := fx.pds.Post(context.Background(), fx.ana, text, extra)
	if err != nil {
		t.Fatalf("customer post: %v", err)
	}
	return ref
}

func (fx *realFixture) replyTo(ref realpds.Ref, key, text string) bridge.Reply {
	return bridge.Reply{Case: "E-1", Network: Name, InReplyTo: ref.URI, InRef: map[string]string{"uri": ref.URI, "cid": ref.CID},
		To: bridge.Author{ID: fx.ana.DID, Handle: fx.ana.Handle}, Text: text, IdempotencyKey: key}
}

// stored reads back what the PDS holds at uri, as a post record.
func (fx *realFixture) stored(t *testing.T, uri string) postRecord {
	t.Helper()
	rec, err := fx.pds.GetRecord(context.Background(), uri)
	if err != nil {
		t.Fatalf("getRecord %s: %v", uri, err)
	}
	var p postRecord
	if err := json.Unmarshal(rec.Value, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Login, a reply with a mention, a link and a hashtag (facets at the
// right UTF-8 bytes after multibyte text), and a refresh when the PDS says
// the access token expired.
func TestRealPDSLoginReplyFacetsRefresh(t *testing.T) {
	t.Parallel()
	fx := newRealFixture(t, "")
	ctx := context.Background()
	if err := fx.net.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	post := fx.customerPost(t, "@"+fx.us.Handle+" le Wi-Fi 📶 ne marche plus")
	text := "Désolé 📶 @" + fx.ana.Handle + ", voir https://status.example.com/incidents/42?lang=fr. #panne"
	ref, err := fx.net.Publish(ctx, fx.replyTo(post, "real-facets", text))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := fx.stored(t, ref.ID)
	if got.Text != text || got.Reply == nil || got.Reply.Parent.URI != post.URI || got.Reply.Root.CID != post.CID {
		t.Fatalf("stored %+v", got)
	}
	want := map[string]string{
		"app.bsky.richtext.facet#mention": "@" + fx.ana.Handle,
		"app.bsky.richtext.facet#link":    "https://status.example.com/incidents/42?lang=fr",
		"app.bsky.richtext.facet#tag":     "#panne",
	}
	for _, f := range got.Facets {
		if len(f.Features) != 1 {
			t.Errorf("facet %+v has %d features", f, len(f.Features))
			continue
		}
		feat := f.Features[0]
		cover := text[f.Index.ByteStart:f.Index.ByteEnd]
		if cover != want[feat.Type] {
			t.Errorf("%s covers %q, want %q", feat.Type, cover, want[feat.Type])
		}
		switch feat.Type {
		case "app.bsky.richtext.facet#mention":
			if feat.DID != fx.ana.DID {
				t.Errorf("mention of %s, want %s", feat.DID, fx.ana.DID)
			}
		case "app.bsky.richtext.facet#link":
			if feat.URI != "https://status.example.com/incidents/42?lang=fr" {
				t.Errorf("link to %q", feat.URI)
			}
		case "app.bsky.richtext.facet#tag":
			if feat.Tag != "panne" {
				t.Errorf("tag %q", feat.Tag)
			}
		}
		delete(want, feat.Type)
	}
	if len(want) > 0 {
		t.Errorf("missing facets %v in %+v", want, got.Facets)
	}

	// The PDS says the access token expired: refreshed, not logged in again.
	fx.net.xrpc.mu.Lock()
	fx.net.xrpc.sess.Access = expiredToken(t, fx.net.xrpc.sess.Access)
	fx.net.xrpc.mu.Unlock()
	before := fx.reqs.Count("bluesky createSession ok")
	if _, err := fx.net.Publish(ctx, fx.replyTo(post, "real-after-expiry", "Still on it.")); err != nil {
		t.Fatalf("Publish after expiry: %v", err)
	}
	if n := fx.reqs.Count("bluesky refreshSession ok"); n != 1 {
		t.Errorf("%d refreshes, want 1 (counts %v)", n, fx.reqs.Counts())
	}
	if fx.reqs.Count("bluesky createSession ok") != before {
		t.Errorf("logged in again instead of refreshing (counts %v)", fx.reqs.Counts())
	}
}

// expiredToken re-signs tok's claims with an expiry in the past, with the
// dev PDS's own JWT secret (dev-env's "jwt-secret"), so the PDS answers
// ExpiredToken as it does when a real token runs out.
func expiredToken(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	claims["iat"] = time.Now().Add(-3 * time.Hour).Unix()
	claims["exp"] = time.Now().Add(-time.Hour).Unix()
	return signHS256(t, parts[0], claims, "jwt-secret")
}

// A session file the PDS cannot verify (kept from another PDS, or from
// before a key rotation): the PDS answers 400 InvalidToken on every call
// and on the refresh; the connector logs in again and publishes.
func TestRealPDSInvalidSessionLogsInAgain(t *testing.T) {
	t.Parallel()
	fx := newRealFixture(t, "")
	ctx := context.Background()
	forged := func(scope string) string {
		return signHS256(t, base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"at+jwt","alg":"HS256"}`)), map[string]any{
			"scope": scope, "sub": fx.us.DID, "aud": "did:web:localhost",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}, "the-secret-of-another-pds")
	}
	sess := savedSession{Ident: fx.us.Handle, session: session{Access: forged("com.atproto.appPass"),
		Refresh: forged("com.atproto.refresh"), DID: fx.us.DID, Handle: fx.us.Handle}}
	b, _ := json.Marshal(sess)
	if err := os.WriteFile(filepath.Join(fx.dir, "bluesky-session.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	post := fx.customerPost(t, "@"+fx.us.Handle+" hello?")
	ref, err := fx.net.Publish(ctx, fx.replyTo(post, "real-invalid-session", "Hello, we are here."))
	if err != nil {
		t.Fatalf("Publish with an unverifiable stored session: %v", err)
	}
	if got := fx.stored(t, ref.ID); got.Text != "Hello, we are here." {
		t.Errorf("stored %+v", got)
	}
	if n := fx.reqs.Count("bluesky createSession ok"); n != 1 {
		t.Errorf("%d logins, want 1 (counts %v)", n, fx.reqs.Counts())
	}
	// The new session is kept: a restart uses it.
	b, _ = os.ReadFile(filepath.Join(fx.dir, "bluesky-session.json"))
	if strings.Contains(string(b), sess.Access) {
		t.Error("the unverifiable session is still in the session file")
	}
}

// When logging in again fails too (the app password was revoked), the
// connector is down with a reason that says so.
func TestRealPDSRevokedAppPasswordIsDown(t *testing.T) {
	t.Parallel()
	fx := newRealFixture(t, "")
	ctx := context.Background()
	if err := fx.net.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fx.pds.Call(ctx, "com.atproto.server.revokeAppPassword", nil, map[string]string{"name": "earshot"}, nil, fx.us.Access); err != nil {
		t.Fatal(err)
	}
	// Access tokens live on until they expire; when this one does, the
	// refresh is refused (revoked) and so is the login.
	fx.net.xrpc.mu.Lock()
	fx.net.xrpc.sess.Access = expiredToken(t, fx.net.xrpc.sess.Access)
	fx.net.xrpc.mu.Unlock()
	post := fx.customerPost(t, "@"+fx.us.Handle+" hi")
	_, err := fx.net.Publish(ctx, fx.replyTo(post, "real-revoked", "Hi!"))
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "app password") {
		t.Fatalf("Publish with a revoked app password = %v; want a permanent error about the app password", err)
	}
	fx.health.WaitFor(t, Name, bridge.HealthDown, "app password")
}

// A taken-down or deactivated account is not reported as a wrong password:
// staff and the operator read what happened, and the connector is down.
func TestRealPDSTakedownAndDeactivation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("takedown", func(t *testing.T) {
		t.Parallel()
		fx := newRealFixture(t, "")
		if err := fx.net.Check(ctx); err != nil {
			t.Fatal(err)
		}
		post := fx.customerPost(t, "@"+fx.us.Handle+" hi")
		if err := fx.pds.Takedown(ctx, fx.us.DID, true); err != nil {
			t.Fatal(err)
		}
		_, err := fx.net.Publish(ctx, fx.replyTo(post, "real-takedown", "Hi!"))
		checkAccountRefusal(t, fx, err, "taken down")
		// A new process logs in and is refused the same way.
		fresh := newRealNetwork(t, fx, fx.pds.URL)
		err = fresh.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "taken down") || strings.Contains(err.Error(), "check the identifier") {
			t.Errorf("Check of a taken-down account = %v", err)
		}
	})
	t.Run("deactivated", func(t *testing.T) {
		t.Parallel()
		fx := newRealFixture(t, "")
		if err := fx.net.Check(ctx); err != nil {
			t.Fatal(err)
		}
		post := fx.customerPost(t, "@"+fx.us.Handle+" hi")
		if err := fx.pds.Deactivate(ctx, fx.us); err != nil {
			t.Fatal(err)
		}
		_, err := fx.net.Publish(ctx, fx.replyTo(post, "real-deactivated", "Hi!"))
		checkAccountRefusal(t, fx, err, "deactivated")
	})
}

func checkAccountRefusal(t *testing.T, fx *realFixture, err error, want string) {
	t.Helper()
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, want) || strings.Contains(pe.Reason, "app password") {
		t.Errorf("Publish = %v; want a permanent error saying the account is %s (not a password problem)", err, want)
	}
	fx.health.WaitFor(t, Name, bridge.HealthDown, want)
}

// newRealNetwork is another Network for fx's brand account (a restart),
// with a fresh app password and data dir.
func newRealNetwork(t *testing.T, fx *realFixture, service string) *Network {
	t.Helper()
	n, err := New(Config{Service: service, Jetstream: "ws://127.0.0.1:1/subscribe", Identifier: fx.us.Handle,
		AppPassword: fx.us.Password, ChatPoll: -1, RequestTimeout: 10 * time.Second},
		bridge.Deps{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The PDS stores the reply, and the answer is lost on the way back (a
// proxy in front of the PDS answers 502 instead): the retry finds the
// record under its derived key (the real PDS refuses the taken rkey with
// a bare 500) and publishes nothing more; both attempts give one uri.
func TestRealPDSLostAnswerRetriedOnce(t *testing.T) {
	t.Parallel()
	pds := realPDS(t)
	target, _ := url.Parse(pds.URL)
	var lose atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.repo.createRecord" && lose.Add(-1) >= 0 {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r) // the PDS does the work ...
			if rec.Code/100 == 2 {
				http.Error(w, `{"error":"UpstreamFailure","message":"the answer was lost"}`, http.StatusBadGateway)
				return
			}
			w.WriteHeader(rec.Code) // ... unless it refused: then say so
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	fx := newRealFixture(t, proxy.URL)
	ctx := context.Background()
	post := fx.customerPost(t, "@"+fx.us.Handle+" my router is dead")
	r := fx.replyTo(post, "real-lost-answer", "We see the outage in your area; engineers are on it.")
	lose.Store(1)
	first, ferr := fx.net.Publish(ctx, r)
	var pe *bridge.PublishError
	if ferr != nil && (!errors.As(ferr, &pe) || !pe.Retryable) {
		t.Fatalf("lost answer: %v; want success or a retryable error", ferr)
	}
	second, err := fx.net.Publish(ctx, r)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ferr == nil && first.ID != second.ID {
		t.Errorf("attempts gave %s and %s", first.ID, second.ID)
	}
	posts, err := pds.ListPosts(ctx, fx.us.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 1 || posts[0].URI != second.ID {
		t.Errorf("the repo holds %d posts (%+v), want exactly the one reply %s", len(posts), posts, second.ID)
	}
}

// Without an AppView getProfile fails: the customer's handle comes from
// the repo's description instead of showing the raw DID, and the failure
// is remembered, so the next post asks no AppView again.
func TestRealPDSHandleWithoutAppView(t *testing.T) {
	t.Parallel()
	fx := newRealFixture(t, "")
	ctx := context.Background()
	for range 3 {
		a := fx.net.author(ctx, fx.ana.DID)
		if a.Handle != fx.ana.Handle || a.ID != fx.ana.DID || !strings.Contains(a.URL, fx.ana.Handle) {
			t.Fatalf("author = %+v; want handle %s", a, fx.ana.Handle)
		}
	}
	if n := fx.reqs.Total("getProfile error"); n != 1 {
		t.Errorf("getProfile tried %d times for one DID, want once (counts %v)", n, fx.reqs.Counts())
	}
	other, _ := realAccount(t, fx.pds, "bob")
	if a := fx.net.author(ctx, other.DID); a.Handle != other.Handle {
		t.Errorf("second customer = %+v", a)
	}
	if n := fx.reqs.Total("getProfile error"); n != 1 {
		t.Errorf("a missing AppView is not remembered: getProfile tried %d times (counts %v)", n, fx.reqs.Counts())
	}
}

// Without an AppView, and for an account the PDS does not host (here:
// describeRepo answers nothing), the handle comes from the DID document
// in the PLC directory.
func TestRealPDSHandleFromDIDDocument(t *testing.T) {
	t.Parallel()
	pds := realPDS(t)
	target, _ := url.Parse(pds.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.repo.describeRepo" {
			http.Error(w, `{"error":"RepoNotFound","message":"Could not find repo"}`, http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	fx := newRealFixture(t, proxy.URL)
	fx.net.cfg.PLCDirectory = pds.PLC
	if a := fx.net.author(context.Background(), fx.ana.DID); a.Handle != fx.ana.Handle {
		t.Errorf("author = %+v; want handle %s from the DID document", a, fx.ana.Handle)
	}
	if n := fx.reqs.Count("bluesky didDocument ok"); n != 1 {
		t.Errorf("DID document read %d times (counts %v)", n, fx.reqs.Counts())
	}
}

// A reply to a post the customer deleted meanwhile: the PDS accepts it,
// and staff are told on the sent mark.
func TestRealPDSReplyToDeletedPostWarns(t *testing.T) {
	t.Parallel()
	fx := newRealFixture(t, "")
	ctx := context.Background()
	post := fx.customerPost(t, "@"+fx.us.Handle+" never mind")
	if err := fx.pds.Delete(ctx, fx.ana, post.URI); err != nil {
		t.Fatal(err)
	}
	ref, err := fx.net.Publish(ctx, fx.replyTo(post, "real-deleted-parent", "Glad it works now!"))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if !strings.Contains(ref.Warning, "deleted") {
		t.Errorf("PostRef.Warning = %q; want a word to staff that the post answered was deleted", ref.Warning)
	}
	live := fx.customerPost(t, "@"+fx.us.Handle+" still broken")
	ref, err = fx.net.Publish(ctx, fx.replyTo(live, "real-live-parent", "Looking into it."))
	if err != nil || ref.Warning != "" {
		t.Errorf("reply to a live post: %+v, %v; want no warning", ref, err)
	}
}

// signHS256 makes a JWT of header (already encoded) and claims, signed
// with secret.
func signHS256(t *testing.T, header string, claims map[string]any, secret string) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	msg := header + "." + base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
