package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Who a customer is, for the card: their profile from the AppView
// (app.bsky.actor.getProfile through our PDS). A PDS without an AppView
// answers 502 UpstreamFailure; then the handle comes from the repo's
// description (com.atproto.repo.describeRepo on our PDS: accounts it
// hosts) or from the DID document (the PLC directory for did:plc, the
// host's /.well-known/did.json for did:web), so the card shows
// @ana.example rather than a DID. Failures are remembered for a while
// (failTTL): a missing AppView is asked again only after that, whoever
// posts, and an account that cannot be found at all is not looked up
// on every post.

type profile struct {
	DID            string `json:"did"`
	Handle         string `json:"handle"`
	DisplayName    string `json:"displayName"`
	Avatar         string `json:"avatar"`
	FollowersCount int    `json:"followersCount"`
}

type profileEntry struct {
	p   profile
	at  time.Time
	ttl time.Duration // 0: the cache's
}

// failTTL is how long a failed profile or handle lookup is remembered.
const failTTL = 10 * time.Minute

// profileCache keeps profiles by DID for ttl; bounded by a simple reset.
type profileCache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]profileEntry // by DID
	// handles maps a lower-cased handle to its DID (in the entry's profile).
	handles map[string]profileEntry
	// noAppView is until when getProfile is not asked (it failed as a PDS
	// without an AppView does).
	noAppView time.Time
}

func (c *profileCache) fresh(e profileEntry) bool {
	ttl := e.ttl
	if ttl == 0 {
		ttl = c.ttl
	}
	return c.now().Sub(e.at) <= ttl
}

func (c *profileCache) get(did string) (profile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[did]
	if !ok || !c.fresh(e) {
		return profile{}, false
	}
	return e.p, true
}

// didOf finds a handle's DID among cached profiles and resolutions.
func (c *profileCache) didOf(h string) (string, bool) {
	h = strings.ToLower(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.handles[h]; ok && c.fresh(e) {
		return e.p.DID, true
	}
	return "", false
}

// putHandle caches a handle resolution.
func (c *profileCache) putHandle(h, did string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handles == nil || len(c.handles) > 10000 {
		c.handles = map[string]profileEntry{}
	}
	c.handles[strings.ToLower(h)] = profileEntry{p: profile{DID: did, Handle: h}, at: c.now()}
}

// put caches p for ttl (0: the cache's own).
func (c *profileCache) put(p profile, ttl time.Duration) {
	c.mu.Lock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[p.DID] = profileEntry{p: p, at: c.now(), ttl: ttl}
	c.mu.Unlock()
	if p.Handle != "" && p.Handle != p.DID {
		c.putHandle(p.Handle, p.DID)
	}
}

// appViewDown reports whether getProfile is to be skipped now; set marks
// it failed for failTTL.
func (c *profileCache) appViewDown(set bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set {
		c.noAppView = c.now().Add(failTTL)
	}
	return c.now().Before(c.noAppView)
}

// author is the customer did as a card shows them: their profile, or at
// least their handle (see above); the DID itself only when nothing says
// more. It may do network I/O and never fails.
func (n *Network) author(ctx context.Context, did string) bridge.Author {
	prof, err := n.profile(ctx, did)
	if err != nil {
		n.log.Debug("bluesky: profile unavailable", "did", did, "err", err)
		prof = profile{DID: did, Handle: did}
	}
	return bridge.Author{ID: did, Handle: prof.Handle, Name: prof.DisplayName,
		URL: "https://bsky.app/profile/" + prof.Handle, Avatar: prof.Avatar, Followers: prof.FollowersCount}
}

// profile returns did's profile, from the cache, getProfile, or with the
// handle alone from the fallbacks. An error means not even a handle was
// found (remembered for failTTL like the rest).
func (n *Network) profile(ctx context.Context, did string) (profile, error) {
	if p, ok := n.profiles.get(did); ok {
		if p.Handle == "" {
			return profile{}, fmt.Errorf("bluesky: no handle for %s (remembered)", did)
		}
		return p, nil
	}
	var perr error
	if !n.profiles.appViewDown(false) {
		var p profile
		perr = n.xrpc.call(ctx, "getProfile", http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {did}}, nil, &p, nil)
		if perr == nil {
			if p.DID == "" {
				p.DID = did
			}
			n.profiles.put(p, 0)
			return p, nil
		}
		if ctx.Err() != nil {
			return profile{}, perr
		}
		if noAppView(perr) {
			n.profiles.appViewDown(true)
		}
	}
	handle, err := n.handleOf(ctx, did)
	if err != nil {
		n.profiles.put(profile{DID: did}, failTTL)
		return profile{}, errors.Join(perr, err)
	}
	// Only the handle: ask for the whole profile again after failTTL.
	p := profile{DID: did, Handle: handle}
	n.profiles.put(p, failTTL)
	return p, nil
}

// noAppView reports whether a getProfile failure is the PDS's own (no
// AppView behind it, or one that is down) rather than about this account.
func noAppView(err error) bool {
	var xe *xrpcError
	if !errors.As(err, &xe) {
		return false
	}
	return xe.Status >= 500 || xe.Name == "UpstreamFailure" || xe.Name == "MethodNotImplemented" || xe.Status == http.StatusNotImplemented
}

// handleOf finds did's handle without an AppView: describeRepo on our PDS,
// else the DID document. It does network I/O.
func (n *Network) handleOf(ctx context.Context, did string) (string, error) {
	var repo struct {
		Handle string `json:"handle"`
	}
	derr := n.xrpc.do(ctx, "describeRepo", http.MethodGet, "com.atproto.repo.describeRepo", url.Values{"repo": {did}}, nil, &repo, nil, "")
	if derr == nil && validHandle(repo.Handle) {
		return strings.ToLower(repo.Handle), nil
	}
	h, err := n.handleFromDIDDoc(ctx, did)
	if err != nil {
		return "", errors.Join(derr, err)
	}
	return h, nil
}

// handleFromDIDDoc reads did's document and returns the handle it
// claims (alsoKnownAs at://handle).
func (n *Network) handleFromDIDDoc(ctx context.Context, did string) (string, error) {
	var u string
	switch {
	case strings.HasPrefix(did, "did:plc:"):
		u = n.cfg.PLCDirectory + "/" + url.PathEscape(did)
	case strings.HasPrefix(did, "did:web:"):
		host := strings.TrimPrefix(did, "did:web:")
		if strings.ContainsAny(host, "/:%") || host == "" {
			return "", fmt.Errorf("bluesky: did:web with a port or path is not supported: %s", did)
		}
		u = "https://" + host + "/.well-known/did.json"
	default:
		return "", fmt.Errorf("bluesky: unknown DID method: %s", did)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("bluesky: DID document of %s: %w", did, err)
	}
	start := time.Now()
	resp, err := n.xrpc.http.Do(req)
	if err != nil {
		n.deps.Requests.ObserveRequest(Name, "didDocument", bridge.OutcomeError, time.Since(start))
		return "", fmt.Errorf("bluesky: DID document of %s: %w", did, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n.deps.Requests.ObserveRequest(Name, "didDocument", bridge.OutcomeError, time.Since(start))
		return "", fmt.Errorf("bluesky: DID document of %s: HTTP %d", did, resp.StatusCode)
	}
	n.deps.Requests.ObserveRequest(Name, "didDocument", bridge.OutcomeOK, time.Since(start))
	var doc struct {
		ID          string   `json:"id"`
		AlsoKnownAs []string `json:"alsoKnownAs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("bluesky: DID document of %s: %w", did, err)
	}
	if doc.ID != did {
		return "", fmt.Errorf("bluesky: DID document of %s names %q", did, doc.ID)
	}
	for _, aka := range doc.AlsoKnownAs {
		if h, ok := strings.CutPrefix(aka, "at://"); ok && validHandle(h) {
			return strings.ToLower(h), nil
		}
	}
	return "", fmt.Errorf("bluesky: DID document of %s names no handle", did)
}

// validHandle reports whether h looks like a handle (a domain name).
func validHandle(h string) bool {
	return h != "" && h != "handle.invalid" && len(h) <= 253 && handleRe.MatchString("@"+h) && !strings.ContainsAny(h, " /@")
}

// resolveHandle finds a handle's DID, from the cache (profiles seen, handles
// resolved before) or com.atproto.identity.resolveHandle.
func (n *Network) resolveHandle(ctx context.Context, handle string) (string, error) {
	if did, ok := n.profiles.didOf(handle); ok {
		return did, nil
	}
	var out struct {
		DID string `json:"did"`
	}
	if err := n.xrpc.do(ctx, "resolveHandle", http.MethodGet, "com.atproto.identity.resolveHandle",
		url.Values{"handle": {handle}}, nil, &out, nil, ""); err != nil {
		return "", err
	}
	n.profiles.putHandle(handle, out.DID)
	return out.DID, nil
}

// deleted reports whether the post at uri is known to be gone (the PDS,
// or the AppView behind it, says RecordNotFound). Any other answer, or
// none, is "not known to be gone". It does network I/O.
func (n *Network) deleted(ctx context.Context, uri string) bool {
	did, rkey, ok := splitPostURI(uri)
	if !ok {
		return false
	}
	_, found, err := n.getPost(ctx, did, rkey)
	return err == nil && !found
}
