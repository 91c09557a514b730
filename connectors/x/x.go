// Package x is Earshot's Network over an X (Twitter) account, through a
// small typed client of our own for API v2 (no usable client module is
// available from our proxy).
//
// Auth: an OAuth 2.0 user token with refresh (each refresh rotates the
// refresh token; the new one is written atomically to Deps.DataDir before it
// is used, so a crash cannot lose it), or OAuth 1.0a user context through
// github.com/dghubble/oauth1.
//
// Listening: the mentions timeline is polled with since_id (kept in
// Deps.DataDir across restarts; gaps are paged through oldest-first), and,
// when keywords are configured, the filtered stream delivers keyword posts
// (rules synced from config, NDJSON with keep-alive newlines, stall
// detection, reconnect with backoff; after a reconnect, recent search since
// the last streamed id fills the gap). Author and conversation_id come
// through expansions and tweet.fields.
//
// Publishing: public replies (reply.in_reply_to_tweet_id) and DMs, the
// weighted length (xtext) checked before sending. Every attempt is counted
// through Deps.Requests. X offers no idempotency key, so the Network is not
// Idempotent and a request that may have reached X (a timeout after sending)
// comes back as a PublishError with MaybeSent, as does a 500, 502 or 504
// answer to the post itself: the outbox never retries those by itself.
//
// Rate limits: X sends x-rate-limit-limit/remaining/reset (epoch seconds)
// and no Retry-After. A 429 says how long to wait in its error; an answer
// that spent a call's last request holds that call back until the reset,
// so a poll or a reply is not sent only to earn a 429 (held-back replies
// are retryable: nothing was posted).
package x

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/x/xtext"
)

// Name is the network's name in config, metrics and ids.
const Name = "x"

// Config is the `x:` section of the config file. Give either the OAuth 2.0
// fields (client_id with refresh_token and/or access_token) or the OAuth
// 1.0a ones (consumer_key, consumer_secret, access_token, access_token_secret).
type Config struct {
	// APIURL is the API base; default https://api.x.com.
	APIURL string `yaml:"api_url"`

	// OAuth 2.0 user context.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"` // confidential clients only
	AccessToken  string `yaml:"access_token"`
	RefreshToken string `yaml:"refresh_token"` // with offline.access; rotated tokens are kept in the data dir
	// TokenURL defaults to APIURL + "/2/oauth2/token".
	TokenURL string `yaml:"token_url"`

	// OAuth 1.0a user context (AccessToken is shared with OAuth 2.0).
	ConsumerKey       string `yaml:"consumer_key"`
	ConsumerSecret    string `yaml:"consumer_secret"`
	AccessTokenSecret string `yaml:"access_token_secret"`

	// Keywords are filtered stream rules (one per keyword or phrase);
	// empty means no stream, mentions only.
	Keywords []string `yaml:"keywords"`
	// DirectMessages polls our DM events (needs the dm.read scope) so a
	// customer's DMs reach their case after a move to DM; default false.
	DirectMessages bool `yaml:"direct_messages"`
	// PollInterval is the wait between mentions timeline polls; default 60s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Backfill delivers the mentions already on the timeline on the very
	// first start (no saved state); default false: start from now.
	Backfill bool `yaml:"backfill"`
	// RequestTimeout bounds every REST call; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// StallTimeout reconnects a stream silent for this long (X sends a
	// keep-alive every 20s); default 40s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// PostsPer15m is how many posts X lets the account make in 15 minutes
	// on its tier (POST /2/tweets, per user); the outbox paces replies
	// within it. Default 100 (Pro); Basic and Free count per 24 hours, so
	// give their 24-hour budget divided by 96.
	PostsPer15m int `yaml:"posts_per_15m"`
}

// ruleTag marks the stream rules Earshot owns; others are left alone.
const ruleTag = "earshot"

// Network is an X account seen as an Earshot network. Safe for concurrent use.
type Network struct {
	cfg  Config
	deps bridge.Deps
	log  *slog.Logger
	api  *client

	// backoff bounds for stream reconnects; tests shorten them.
	backoffMin, backoffMax time.Duration

	mu       sync.Mutex
	me       *user
	state    state
	seen     *seenSet
	inflight map[string]bool
	streams  int // connected filtered streams
	polled   bool
	health   listenHealth
}

var (
	_ bridge.Network = (*Network)(nil)
	_ bridge.Checker = (*Network)(nil)
)

// New validates cfg, loads saved state and prepares the client. No network I/O.
func New(cfg Config, deps bridge.Deps) (*Network, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.x.com"
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("x: api_url is not an http(s) URL")
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = cfg.APIURL + "/2/oauth2/token"
	}
	oauth1 := cfg.ConsumerKey != "" || cfg.ConsumerSecret != "" || cfg.AccessTokenSecret != ""
	switch {
	case oauth1:
		if cfg.ConsumerKey == "" || cfg.ConsumerSecret == "" || cfg.AccessToken == "" || cfg.AccessTokenSecret == "" {
			return nil, errors.New("x: OAuth 1.0a needs consumer_key, consumer_secret, access_token and access_token_secret")
		}
		if cfg.RefreshToken != "" || cfg.ClientID != "" {
			return nil, errors.New("x: give either OAuth 1.0a (consumer_key ...) or OAuth 2.0 (client_id, refresh_token), not both")
		}
	default:
		if cfg.AccessToken == "" && cfg.RefreshToken == "" {
			return nil, errors.New("x: access_token or refresh_token (OAuth 2.0), or consumer_key and friends (OAuth 1.0a), are required")
		}
		if cfg.RefreshToken != "" && cfg.ClientID == "" {
			return nil, errors.New("x: client_id is required to refresh OAuth 2.0 tokens")
		}
	}
	for i, k := range cfg.Keywords {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("x: keywords[%d] is empty", i)
		}
		if len(k) > 500 {
			return nil, fmt.Errorf("x: keywords[%d] is longer than a rule may be", i)
		}
		cfg.Keywords[i] = k
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 60 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 40 * time.Second
	}
	deps = deps.WithDefaults()
	n := &Network{cfg: cfg, deps: deps, log: deps.Logger, seen: newSeenSet(16384), inflight: map[string]bool{},
		backoffMin: time.Second, backoffMax: 2 * time.Minute}
	if err := n.loadState(); err != nil {
		return nil, err
	}
	var auth authorizer
	if oauth1 {
		auth = newOAuth1(cfg)
	} else {
		o2, err := newOAuth2(cfg, deps)
		if err != nil {
			return nil, err
		}
		auth = o2
	}
	n.api = &client{base: cfg.APIURL, http: &http.Client{Transport: auth.wrap(http.DefaultTransport.(*http.Transport).Clone())}, auth: auth, obs: deps.Requests, now: deps.Now, timeout: cfg.RequestTimeout,
		secrets: []string{cfg.AccessToken, cfg.RefreshToken, cfg.ClientSecret, cfg.ConsumerSecret, cfg.AccessTokenSecret}}
	return n, nil
}

// Name returns "x".
func (n *Network) Name() string { return Name }

// Limits is X's weighted length: 280, URLs 23, CJK and emoji 2, NFC first.
// DMs take 10000 characters.
func (n *Network) Limits() bridge.TextLimits {
	return bridge.TextLimits{Max: xtext.Max, PrivateMax: 10000, Unit: "weighted characters", Count: xtext.Count, Refuse: refusedInPost}
}

// refusedInPost explains a post X refuses whatever its length: one holding
// U+FFFE, U+FEFF or U+FFFF (twitter-text's invalid characters). Direct
// messages take them.
func refusedInPost(text string, private bool) string {
	if c := xtext.Parse(text).Refused; c != 0 && !private {
		return fmt.Sprintf("It holds the invisible character %U, which X refuses in a post. Nothing was sent; remove it and send it again.", c)
	}
	return ""
}

// Check proves the credentials work (GET /2/users/me; refreshes if
// needed). Under Deps.ReadOnly it never refreshes: with the access token
// saved in DataDir it asks X; without one, or when X refuses the saved
// one, it returns *bridge.Unverified, since only a refresh (which rotates
// the refresh token) could tell more.
func (n *Network) Check(ctx context.Context) error {
	_, err := n.ensureMe(ctx)
	var ae *apiError
	if n.deps.ReadOnly && n.cfg.RefreshToken != "" && errors.As(err, &ae) && ae.Status == 401 {
		return &bridge.Unverified{Reason: "X refused the saved access token; verifying the refresh token would rotate it (the running earshot refreshes it itself)"}
	}
	return err
}

// user is an X account as the API returns it.
type user struct {
	ID              string `json:"id"`
	Username        string `json:"username"`
	Name            string `json:"name"`
	ProfileImageURL string `json:"profile_image_url"`
	PublicMetrics   struct {
		Followers int `json:"followers_count"`
	} `json:"public_metrics"`
}

// ensureMe fetches our account once.
func (n *Network) ensureMe(ctx context.Context) (*user, error) {
	n.mu.Lock()
	me := n.me
	n.mu.Unlock()
	if me != nil {
		return me, nil
	}
	var resp struct {
		Data user `json:"data"`
	}
	if _, err := n.api.do(ctx, "users.me", http.MethodGet, "/2/users/me", nil, nil, &resp); err != nil {
		return nil, fmt.Errorf("x: who am I: %w", err)
	}
	if resp.Data.ID == "" {
		return nil, errors.New("x: who am I: no user id in the answer")
	}
	n.mu.Lock()
	n.me = &resp.Data
	n.mu.Unlock()
	return &resp.Data, nil
}
