// Package mastodon is Earshot's Network over a Mastodon account.
//
// Listening: the user stream (SSE, or WebSocket when configured) delivers
// mentions as notifications and our own statuses as updates (flagged
// FromUs); after every (re)connect a poll of mention notifications since the
// last seen id fills any gap, and that id is kept in Deps.DataDir so a
// restart misses nothing either. Hashtag streams deliver keyword posts;
// after every (re)connect the tag's timeline since the newest status seen
// from it (kept in Deps.DataDir too) fills the gap the same way.
// Content HTML becomes plain text; the conversation root is found through
// the status context and cached.
//
// Publishing: a public reply (in_reply_to_id, starting with the customer's
// handle) or a `direct` status mentioning the customer, always with an
// Idempotency-Key, so the outbox may retry after a crash (Idempotent).
// go-mastodon does the REST calls where it has them; its endless 429 backoff
// is cut short by our transport, which turns a 429 into an error carrying
// the X-RateLimit-Reset wait. Every request runs under a context deadline.
package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gomastodon "github.com/mattn/go-mastodon"

	"github.com/earshot-dev/earshot/bridge"
)

// Name is the network's name in config, metrics and ids.
const Name = "mastodon"

// Config is the `mastodon:` section of the config file.
type Config struct {
	// Server is the instance's base URL, "https://mastodon.social".
	Server string `yaml:"server"`
	// AccessToken is the account's OAuth token (scopes read, write).
	AccessToken string `yaml:"access_token"`
	// Hashtags are followed through hashtag streams (without '#'); their
	// posts reach the bridge, whose watch rules decide.
	Hashtags []string `yaml:"hashtags"`
	// Stream is "sse" (default) or "websocket".
	Stream string `yaml:"stream"`
	// RequestTimeout bounds every REST call; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// mentionReserve is what a reply's leading "@username " may take at most
// (Mastodon usernames are ≤30 characters and a mention counts only its
// @username part), kept out of the limit staff see.
const mentionReserve = 32

// defaultMaxChars is Mastodon's own default when the instance does not say.
const defaultMaxChars = 500

// Network is a Mastodon account seen as an Earshot network.
type Network struct {
	cfg    Config
	deps   bridge.Deps
	log    *slog.Logger
	api    *gomastodon.Client // REST through go-mastodon, with our transport
	http   *http.Client       // our own small requests, same transport
	stream *http.Client       // streaming: no overall timeout
	idle   time.Duration      // a stream silent this long is dead (keep-alives come every ~15s)

	mu        sync.Mutex
	me        *gomastodon.Account
	domain    string // the instance's domain, for full handles
	streamURL string // ws(s):// base of the streaming API
	maxChars  int
	roots     map[string]string // status id -> conversation root id
	seen      *seenSet
	state     state
}

var (
	_ bridge.Network    = (*Network)(nil)
	_ bridge.Idempotent = (*Network)(nil)
	_ bridge.Checker    = (*Network)(nil)
)

// New validates cfg and prepares the clients. It does no I/O.
func New(cfg Config, deps bridge.Deps) (*Network, error) {
	if cfg.Server == "" {
		return nil, errors.New("mastodon: server is required")
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mastodon: server %q is not an http(s) URL", cfg.Server)
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	if cfg.AccessToken == "" {
		return nil, errors.New("mastodon: access_token is required")
	}
	switch cfg.Stream {
	case "":
		cfg.Stream = "sse"
	case "sse", "websocket":
	default:
		return nil, fmt.Errorf("mastodon: stream %q: want sse or websocket", cfg.Stream)
	}
	for i, h := range cfg.Hashtags {
		cfg.Hashtags[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "#"))
		if cfg.Hashtags[i] == "" {
			return nil, fmt.Errorf("mastodon: hashtags[%d] is empty", i)
		}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	deps = deps.WithDefaults()
	n := &Network{cfg: cfg, deps: deps, log: deps.Logger, roots: map[string]string{}, seen: newSeenSet(8192), idle: time.Minute}
	rt := &transport{base: http.DefaultTransport, obs: deps.Requests, now: deps.Now}
	n.api = gomastodon.NewClient(&gomastodon.Config{Server: cfg.Server, AccessToken: cfg.AccessToken})
	n.api.Client = http.Client{Transport: rt}
	n.api.UserAgent = "earshot"
	n.http = &http.Client{Transport: rt}
	n.stream = &http.Client{Transport: rt}
	if err := n.loadState(); err != nil {
		return nil, err
	}
	return n, nil
}

// Name returns "mastodon".
func (n *Network) Name() string { return Name }

// Idempotent reports that publications carry an Idempotency-Key the
// instance honours for an hour: a retry after a crash cannot double-post.
func (n *Network) Idempotent() bool { return true }

// Limits is the instance's character limit (read at connect; 500 until
// then) less room for the leading @mention; URLs count 23.
func (n *Network) Limits() bridge.TextLimits {
	n.mu.Lock()
	max := n.maxChars
	n.mu.Unlock()
	if max <= 0 {
		max = defaultMaxChars
	}
	// Never 0 or less, which TextLimits reads as "no limit": an instance
	// allowing 32 characters or fewer would have taken any length.
	lim := max - mentionReserve
	if lim < 1 {
		lim = 1
	}
	return bridge.TextLimits{Max: lim, Unit: "characters", Count: CountChars}
}

// Check proves the token works and reads the instance's limits.
func (n *Network) Check(ctx context.Context) error {
	_, err := n.ensureMe(ctx)
	return err
}

// ensureMe fetches our account and the instance's facts once.
func (n *Network) ensureMe(ctx context.Context) (*gomastodon.Account, error) {
	n.mu.Lock()
	me := n.me
	n.mu.Unlock()
	if me != nil {
		return me, nil
	}
	cctx, cancel := n.reqCtx(ctx, "verify_credentials")
	acc, err := n.api.GetAccountCurrentUser(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("mastodon: verify credentials: %w", err)
	}
	var inst struct {
		Domain        string `json:"domain"`
		Configuration struct {
			URLs struct {
				Streaming string `json:"streaming"`
			} `json:"urls"`
			Statuses struct {
				MaxCharacters int `json:"max_characters"`
			} `json:"statuses"`
		} `json:"configuration"`
	}
	if err := n.getJSON(ctx, "instance", "/api/v2/instance", nil, &inst); err != nil {
		return nil, fmt.Errorf("mastodon: read instance: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.me = acc
	n.domain = inst.Domain
	if n.domain == "" {
		u, _ := url.Parse(n.cfg.Server)
		n.domain = u.Hostname()
	}
	n.streamURL = strings.TrimRight(inst.Configuration.URLs.Streaming, "/")
	if n.streamURL == "" {
		n.streamURL = "ws" + strings.TrimPrefix(n.cfg.Server, "http")
	}
	n.maxChars = inst.Configuration.Statuses.MaxCharacters
	if n.maxChars <= 0 {
		n.maxChars = defaultMaxChars
	}
	return acc, nil
}

// reqCtx bounds one REST call and names it for the request metrics.
func (n *Network) reqCtx(ctx context.Context, op string) (context.Context, context.CancelFunc) {
	return context.WithTimeout(withOp(ctx, op), n.cfg.RequestTimeout)
}

// getJSON is our own small GET for what go-mastodon lacks (v2 instance,
// notifications filtered by type with min_id).
func (n *Network) getJSON(ctx context.Context, op, path string, q url.Values, out any) error {
	ctx, cancel := n.reqCtx(ctx, op)
	defer cancel()
	u := n.cfg.Server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+n.cfg.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return err // a *url.Error: it names the method and URL (no token in it)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	return json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 8<<20)).Decode(out)
}

func apiError(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<10)).Decode(&e)
	return &gomastodon.APIError{StatusCode: resp.StatusCode, Message: e.Error}
}

// Publish posts r as a public reply, or as a direct status when r.Private.
func (n *Network) Publish(ctx context.Context, r bridge.Reply) (bridge.PostRef, error) {
	op := "publish reply"
	if r.Private {
		op = "send DM"
	}
	if _, err := n.ensureMe(ctx); err != nil {
		return bridge.PostRef{}, n.classify(op, err)
	}
	lim := n.Limits()
	if cnt, max, ok := lim.Check(r.Text, r.Private); !ok {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: fmt.Sprintf(
			"Mastodon: the reply is %d characters; this instance allows %d (links count 23)", cnt, max)}
	}
	if strings.TrimSpace(r.Text) == "" {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: "Mastodon: the reply is empty"}
	}
	if r.Private && strings.TrimPrefix(r.To.Handle, "@") == "" {
		// A direct status reaches only the accounts it mentions.
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: "Mastodon: the customer's handle is unknown, so a direct message would reach no one"}
	}
	text := r.Text
	if h := strings.TrimPrefix(r.To.Handle, "@"); h != "" && !strings.Contains(strings.ToLower(text), "@"+strings.ToLower(h)) {
		text = "@" + h + " " + text
	}
	toot := &gomastodon.Toot{Status: text, Visibility: gomastodon.VisibilityPublic}
	if r.Private {
		toot.Visibility = gomastodon.VisibilityDirectMessage
	} else {
		toot.InReplyToID = gomastodon.ID(r.InReplyTo)
	}
	ctx = withIdempotencyKey(ctx, r.IdempotencyKey)
	cctx, cancel := n.reqCtx(ctx, "publish")
	defer cancel()
	st, err := n.api.PostStatus(cctx, toot)
	if err != nil {
		return bridge.PostRef{}, n.classify(op, err)
	}
	if !r.Private && r.InReplyTo != "" {
		n.mu.Lock()
		root := n.roots[r.InReplyTo]
		if root == "" {
			root = r.InReplyTo
		}
		n.roots[string(st.ID)] = root
		n.mu.Unlock()
	}
	return bridge.PostRef{Network: Name, ID: string(st.ID), URL: st.URL}, nil
}

// classify turns a failed call into a *bridge.PublishError: 429 and 5xx are
// retryable (with the instance's wait), other 4xx permanent with a reason
// staff can read, transport failures retryable and possibly sent.
func (n *Network) classify(op string, err error) error {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return &bridge.PublishError{Op: op, Retryable: true, RetryAfter: rl.wait,
			Reason: "Mastodon: rate limited, trying again later", Err: rl}
	}
	var ae *gomastodon.APIError
	if errors.As(err, &ae) {
		msg := strings.TrimSpace(ae.Message)
		ae = &gomastodon.APIError{StatusCode: ae.StatusCode, Message: msg}
		switch {
		case ae.StatusCode >= 500:
			return &bridge.PublishError{Op: op, Retryable: true, Reason: fmt.Sprintf("Mastodon: the instance failed (HTTP %d)", ae.StatusCode), Err: ae}
		case ae.StatusCode == 401:
			return &bridge.PublishError{Op: op, Reason: "Mastodon: the access token was refused (HTTP 401); check the token in the config", Err: ae}
		case ae.StatusCode == 403:
			return &bridge.PublishError{Op: op, Reason: "Mastodon: not allowed (HTTP 403); the account may be suspended or the token lacks the write scope", Err: ae}
		case ae.StatusCode == 404:
			return &bridge.PublishError{Op: op, Reason: "Mastodon: the post being answered no longer exists (HTTP 404)", Err: ae}
		case ae.StatusCode == 422:
			return &bridge.PublishError{Op: op, Reason: "Mastodon refused the post: " + orDefault(msg, "validation failed") + " (HTTP 422)", Err: ae}
		default:
			return &bridge.PublishError{Op: op, Reason: fmt.Sprintf("Mastodon refused the post: %s (HTTP %d)", orDefault(msg, "bad request"), ae.StatusCode), Err: ae}
		}
	}
	if errors.Is(err, context.Canceled) {
		return &bridge.PublishError{Op: op, Retryable: true, Err: err}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: true, Reason: "Mastodon: no answer in time", Err: err}
	}
	return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: true, Reason: "Mastodon: could not reach the instance", Err: err}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
