package x

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// tokenFile is the OAuth 2.0 token chain as kept in Deps.DataDir/x-token.json.
type tokenFile struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Seed is the SHA-256 of the configured refresh_token this chain grew
	// from: when the operator configures a new one, the chain restarts from it.
	Seed string `json:"seed"`
}

// maxExpiresIn bounds the lifetime (seconds) taken from a token answer.
const maxExpiresIn = 366 * 24 * 3600

// oauth2Auth is an OAuth 2.0 user token that refreshes itself. X rotates the
// refresh token on every refresh and the old one dies at once, so the new
// one is written to disk (atomically, fsynced) before the new access token
// is used; if that write fails the chain stays in memory, the failure is
// logged, and the write is retried on the next request.
type oauth2Auth struct {
	cfg  Config
	deps bridge.Deps
	path string // "" keeps nothing
	http *http.Client

	mu    sync.Mutex
	tok   tokenFile
	dirty bool // tok is newer than the file
}

func seedOf(refresh string) string {
	if refresh == "" {
		return ""
	}
	h := sha256.Sum256([]byte(refresh))
	return hex.EncodeToString(h[:])
}

func newOAuth2(cfg Config, deps bridge.Deps) (*oauth2Auth, error) {
	a := &oauth2Auth{cfg: cfg, deps: deps, http: &http.Client{Timeout: cfg.RequestTimeout}}
	a.tok = tokenFile{AccessToken: cfg.AccessToken, RefreshToken: cfg.RefreshToken, Seed: seedOf(cfg.RefreshToken)}
	if deps.DataDir == "" {
		return a, nil
	}
	a.path = filepath.Join(deps.DataDir, "x-token.json")
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("x: read saved token: %w", err)
	}
	var saved tokenFile
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("x: saved token %s is not readable JSON; remove it and configure a fresh refresh_token", a.path)
	}
	if saved.RefreshToken != "" && (cfg.RefreshToken == "" || saved.Seed == seedOf(cfg.RefreshToken)) {
		a.tok = saved
	}
	return a, nil
}

func (a *oauth2Auth) wrap(base http.RoundTripper) http.RoundTripper { return base }

// errWouldRotate stops a refresh under Deps.ReadOnly: X rotates the
// refresh token on use, and the running Earshot holds the only copy.
var errWouldRotate = &bridge.Unverified{Reason: "no unexpired access token is saved, and refreshing would rotate X's refresh token " +
	"(the running earshot keeps it): run check where earshot runs, with its data dir (--data), to verify with the saved token"}

// authorize sets the bearer token, refreshing first when it is missing or
// about to expire. Concurrent callers wait for one refresh.
func (a *oauth2Auth) authorize(ctx context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dirty {
		a.saveLocked()
	}
	now := a.deps.Now()
	if a.tok.RefreshToken != "" && (a.tok.AccessToken == "" || (!a.tok.Expiry.IsZero() && now.Add(time.Minute).After(a.tok.Expiry))) {
		if a.deps.ReadOnly {
			return errWouldRotate
		}
		if err := a.refreshLocked(ctx); err != nil {
			return err
		}
	}
	if a.tok.AccessToken == "" {
		return &apiError{Op: "authorize", Status: 401, Title: "no usable access token (configure refresh_token)"}
	}
	req.Header.Set("Authorization", "Bearer "+a.tok.AccessToken)
	return nil
}

// rejected drops the access token X refused, so the next request refreshes.
func (a *oauth2Auth) rejected(req *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok.RefreshToken != "" && req.Header.Get("Authorization") == "Bearer "+a.tok.AccessToken {
		a.tok.AccessToken = ""
	}
}

// refreshLocked trades the refresh token for new tokens; it does I/O and
// blocks for up to the request timeout. It is not cut short when ctx ends:
// X rotates the refresh token as soon as it takes the request, so an
// answer abandoned half-way would lose the chain for good (the old token is
// dead, the new one never arrived). A caller whose ctx ends meanwhile waits
// for the answer, which is then saved; ctx's values are kept.
func (a *oauth2Auth) refreshLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.RequestTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.tok.RefreshToken}, "client_id": {a.cfg.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &apiError{Op: "refresh token", Err: errors.New("bad token_url")}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.cfg.ClientSecret != "" {
		req.SetBasicAuth(a.cfg.ClientID, a.cfg.ClientSecret)
	}
	secrets := []string{a.tok.RefreshToken, a.cfg.ClientSecret, a.tok.AccessToken}
	start := time.Now()
	resp, err := a.http.Do(req)
	if err != nil {
		a.deps.Requests.ObserveRequest(Name, "oauth2.token", bridge.OutcomeError, time.Since(start))
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &apiError{Op: "refresh token", Err: err, secrets: secrets}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if rerr != nil && resp.StatusCode == 200 {
		// X has rotated the token; we lost the answer that carried the new one.
		a.deps.Requests.ObserveRequest(Name, "oauth2.token", bridge.OutcomeError, time.Since(start))
		return &apiError{Op: "refresh token", Err: fmt.Errorf("read the answer: %w", rerr), secrets: secrets}
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != 200 || out.AccessToken == "" {
		outcome := bridge.OutcomeError
		if resp.StatusCode == 429 {
			outcome = bridge.OutcomeRateLimited
		}
		a.deps.Requests.ObserveRequest(Name, "oauth2.token", outcome, time.Since(start))
		status := resp.StatusCode
		if status == 400 {
			status = 401 // a dead refresh token: the credentials are wrong, not the request
		}
		return &apiError{Op: "refresh token", Status: status, Title: "X refused our refresh token; authorize Earshot again and configure the new refresh_token",
			Detail: out.Description, secrets: secrets}
	}
	a.deps.Requests.ObserveRequest(Name, "oauth2.token", bridge.OutcomeOK, time.Since(start))
	a.tok.AccessToken = out.AccessToken
	if out.RefreshToken != "" {
		a.tok.RefreshToken = out.RefreshToken
	}
	a.tok.Expiry = time.Time{}
	if out.ExpiresIn > 0 {
		// Bounded before multiplying: a huge expires_in wrapped negative,
		// an expiry in the past, and a refresh (rotating the chain) before
		// every request. X's tokens live two hours.
		a.tok.Expiry = a.deps.Now().Add(time.Duration(min(out.ExpiresIn, maxExpiresIn)) * time.Second)
	}
	a.dirty = true
	a.saveLocked()
	return nil
}

// saveLocked writes the token chain; on failure it stays dirty and logs.
func (a *oauth2Auth) saveLocked() {
	if a.path == "" || a.deps.ReadOnly {
		a.dirty = false
		return
	}
	b, _ := json.MarshalIndent(a.tok, "", "  ")
	if err := statefile.Write(a.path, b); err != nil {
		a.deps.Logger.Error("x: could not save the rotated refresh token; it lives only in memory until the data directory is writable again",
			"path", a.path, "err", err)
		return
	}
	a.dirty = false
}

// oauth1Auth signs requests with OAuth 1.0a user context (HMAC-SHA1).
type oauth1Auth struct {
	cfg *oauth1.Config
	tok *oauth1.Token
}

func newOAuth1(cfg Config) *oauth1Auth {
	return &oauth1Auth{cfg: oauth1.NewConfig(cfg.ConsumerKey, cfg.ConsumerSecret), tok: oauth1.NewToken(cfg.AccessToken, cfg.AccessTokenSecret)}
}

func (o *oauth1Auth) authorize(context.Context, *http.Request) error { return nil }
func (o *oauth1Auth) rejected(*http.Request)                         {}

func (o *oauth1Auth) wrap(base http.RoundTripper) http.RoundTripper {
	t := oauth1.NewClient(context.Background(), o.cfg, o.tok).Transport.(*oauth1.Transport)
	t.Base = base
	return t
}
