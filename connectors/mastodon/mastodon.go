// Package mastodon is Earshot's Network over an account on a server that
// speaks the Mastodon API: Mastodon itself, GoToSocial, and the others.
// What the server offers is read from it first (server.go): its software
// and version, streaming URL, character limit and way of counting, and
// whether it honours Idempotency-Key.
//
// Listening (listen.go): the user stream delivers mentions as
// notifications and our own statuses as updates (flagged FromUs); with
// stream: auto it is SSE on Mastodon and the WebSocket elsewhere, the other
// one when the first is refused as missing. A poller fills gaps: after
// every (re)connect, while the stream is down, and for good when no stream
// works (then the connector says so once, at WARN, and is degraded).
// Mention notifications are read since the last one handled (kept in
// Deps.DataDir, read again a minute back: GoToSocial makes notifications
// asynchronously, so they become visible out of order). Hashtags: each
// tag's starting point is noted when the watch starts, then its timeline
// is read from there on every gap fill and, where hashtag streams stay
// silent (anywhere but Mastodon), on every poll. Listening spends at most
// ListenShare of the account's rate limit (rate.go), so replies keep their
// share; every retry waits a jittered, capped, growing delay that honours
// X-RateLimit-Reset and starts again from its minimum only after a
// connection stayed up. Content HTML becomes plain text; the conversation
// root is found through the status context and cached.
//
// Publishing: a public reply (in_reply_to_id, starting with the customer's
// handle) or a `direct` status mentioning the customer, always with an
// Idempotency-Key. The network is Idempotent only where the server is
// known, or proven at start, to honour it (idempotent: auto), or where the
// config says so; elsewhere a reply that may have gone out is shown as
// uncertain. Text is counted by the server's own rules. go-mastodon does
// the REST calls where it has them; its endless 429 backoff is cut short by
// our transport, which turns a 429 into an error carrying the
// X-RateLimit-Reset wait. Every request runs under a context deadline.
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
	"sync/atomic"
	"time"

	gomastodon "github.com/mattn/go-mastodon"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/seen"
)

// Name is the network's name in config, metrics and ids.
const Name = "mastodon"

// Stream modes (Config.Stream).
const (
	streamAuto      = "auto"
	streamSSE       = "sse"
	streamWebSocket = "websocket"
	streamPoll      = "poll"
)

// Config is the `mastodon:` section of the config file.
type Config struct {
	// Server is the instance's base URL, "https://mastodon.social".
	Server string `yaml:"server"`
	// AccessToken is the account's OAuth token (scopes read, write).
	AccessToken string `yaml:"access_token"`
	// Hashtags are followed (without '#'); their posts reach the bridge,
	// whose watch rules decide.
	Hashtags []string `yaml:"hashtags"`
	// Stream is auto (default: what the server offers, see server.go),
	// sse, websocket, or poll (no stream: poll every PollInterval).
	Stream string `yaml:"stream"`
	// Idempotent says whether the server honours Idempotency-Key, so a
	// reply whose answer was lost may be sent again: auto (default: known
	// for Mastodon and GoToSocial, else proven by a probe at start), true,
	// or false.
	Idempotent string `yaml:"idempotent"`
	// ListenShare is the most of the account's rate limit listening may
	// spend (0 < share < 1); default 0.5, the rest is the replies'.
	ListenShare float64 `yaml:"listen_share"`
	// PollInterval is how often notifications and tag timelines are read
	// when no stream brings them; default 30s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RequestTimeout bounds every REST call; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// mentionReserve is what a reply's leading "@username " may take at most
// (Mastodon usernames are ≤30 characters and a mention counts only its
// @username part), kept out of the limit staff see. Where a mention counts
// as typed the whole reply is checked again with the handle (Publish).
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
	stream *http.Client       // streaming: no overall timeout, same transport
	idle   time.Duration      // a stream silent this long is dead (keep-alives come every ~15s)
	settle time.Duration      // how far back each mentions poll reads again (notifications made late)
	// backoff bounds every retry of listening.
	backoff backoff.Policy
	budget  *rateBudget
	health  *health

	detectMu sync.Mutex // one detection at a time
	idem     atomic.Bool

	mu         sync.Mutex
	me         *gomastodon.Account
	server     serverInfo
	isDetected bool
	roots      map[string]string // status id -> conversation root id
	seen       *seen.Set
	state      state
	notes      *noteWindow
	mode       string        // the stream transport in use or tried last
	why        string        // why it is that one (auto)
	modeCh     chan struct{} // closed when mode changes
}

var (
	_ bridge.Network       = (*Network)(nil)
	_ bridge.Idempotent    = (*Network)(nil)
	_ bridge.Checker       = (*Network)(nil)
	_ bridge.CheckDetailer = (*Network)(nil)
)

// New validates cfg and prepares the clients. It does no I/O but reading
// the saved state.
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
		cfg.Stream = streamAuto
	case streamAuto, streamSSE, streamWebSocket, streamPoll:
	default:
		return nil, fmt.Errorf("mastodon: stream %q: want auto, sse, websocket or poll", cfg.Stream)
	}
	switch cfg.Idempotent {
	case "":
		cfg.Idempotent = "auto"
	case "auto", "true", "false":
	default:
		return nil, fmt.Errorf("mastodon: idempotent %q: want auto, true or false", cfg.Idempotent)
	}
	switch {
	case cfg.ListenShare == 0:
		cfg.ListenShare = 0.5
	case cfg.ListenShare < 0 || cfg.ListenShare >= 1:
		return nil, fmt.Errorf("mastodon: listen_share %v: want more than 0 and less than 1", cfg.ListenShare)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("mastodon: poll_interval %v is negative", cfg.PollInterval)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 30 * time.Second
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
	n := &Network{cfg: cfg, deps: deps, log: deps.Logger, roots: map[string]string{}, seen: seen.New(8192),
		idle: time.Minute, settle: time.Minute, health: &health{rep: deps.Health},
		backoff: backoff.Policy{Min: time.Second, Max: 2 * time.Minute, Healthy: 30 * time.Second},
		budget:  &rateBudget{share: cfg.ListenShare, now: deps.Now}}
	rt := &transport{base: http.DefaultTransport, obs: deps.Requests, now: deps.Now, budget: n.budget,
		held: func(d time.Duration) {
			n.log.Info("mastodon: listening waits for the rate limit's reset, leaving the rest for replies", "in", d.Round(time.Second))
		}}
	n.api = gomastodon.NewClient(&gomastodon.Config{Server: cfg.Server, AccessToken: cfg.AccessToken})
	n.api.Client = http.Client{Transport: rt}
	n.api.UserAgent = "earshot"
	n.http = &http.Client{Transport: rt}
	n.stream = &http.Client{Transport: rt}
	if err := n.loadState(); err != nil {
		return nil, err
	}
	n.notes = newNoteWindow(n.state.LastNotification)
	n.idem.Store(cfg.Idempotent == "true" || cfg.Idempotent == "auto" && n.state.Server.Idempotent)
	return n, nil
}

// Name returns "mastodon".
func (n *Network) Name() string { return Name }

// Idempotent reports whether a publication may be repeated without a
// second status: the server honours Idempotency-Key for an hour, as the
// config says or as detection found (known software, or the probe at
// start; until then the verdict kept from the last run, else false).
func (n *Network) Idempotent() bool { return n.idem.Load() }

// Limits is the instance's character limit (read at connect; 500 until
// then) less room for the leading @mention, counted by the server's rules.
func (n *Network) Limits() bridge.TextLimits {
	n.mu.Lock()
	info, detected := n.server, n.isDetected
	n.mu.Unlock()
	if !detected {
		// Before the server is known: Mastodon's defaults.
		return bridge.TextLimits{Max: defaultMaxChars - mentionReserve, Unit: "characters", Count: CountChars}
	}
	count, _ := info.count()
	// Never 0 or less, which TextLimits reads as "no limit": an instance
	// allowing 32 characters or fewer would have taken any length.
	lim := info.MaxChars - mentionReserve
	if lim < 1 {
		lim = 1
	}
	return bridge.TextLimits{Max: lim, Unit: "characters", Count: count}
}

// Check proves the token works, reads what the server offers, and sees
// which stream it serves (a handshake, closed at once). It changes nothing
// on the server.
func (n *Network) Check(ctx context.Context) error {
	if _, err := n.ensureMe(ctx); err != nil {
		return err
	}
	if n.cfg.Stream == streamPoll {
		return nil
	}
	n.mu.Lock()
	info := n.server
	n.mu.Unlock()
	mode, why := n.pickStream(ctx, info)
	n.mu.Lock()
	n.mode, n.why = mode, why
	n.mu.Unlock()
	return nil
}

// CheckDetails says, after Check, what the server is and how Earshot will
// use it: software and version, the stream, idempotency and length rules.
func (n *Network) CheckDetails() []string {
	n.mu.Lock()
	info, mode, why := n.server, n.mode, n.why
	n.mu.Unlock()
	_, rules := info.count()
	lines := []string{
		fmt.Sprintf("server: %s at %s", info, info.Domain),
		"stream: " + describeStream(n.cfg.Stream, mode, why, n.cfg.PollInterval),
		"idempotency: " + n.describeIdempotency(info),
		fmt.Sprintf("length: at most %d characters; %s", info.MaxChars, rules),
	}
	return lines
}

func describeStream(cfg, mode, why string, poll time.Duration) string {
	switch {
	case cfg == streamPoll:
		return fmt.Sprintf("none, polling every %v (configured)", poll)
	case mode == streamPoll:
		return fmt.Sprintf("none works, polling every %v instead (%s)", poll, why)
	case why != "":
		return fmt.Sprintf("%s (%s: %s)", mode, cfg, why)
	}
	return fmt.Sprintf("%s (%s)", mode, cfg)
}

func (n *Network) describeIdempotency(info serverInfo) string {
	switch n.cfg.Idempotent {
	case "true":
		return "yes, as configured: a reply whose answer was lost is sent again"
	case "false":
		return "no, as configured: a reply that may have gone out is shown as uncertain"
	}
	honours, known := info.knownIdempotency()
	n.mu.Lock()
	kept := n.state.Server
	n.mu.Unlock()
	if !known && kept.Probed && kept.Software == info.Software && kept.Version == info.Version {
		honours, known = kept.Idempotent, true
	}
	if known {
		if honours {
			return fmt.Sprintf("yes: %s honours Idempotency-Key, so a reply whose answer was lost is sent again", info)
		}
		return fmt.Sprintf("no: %s ignores Idempotency-Key, so a reply that may have gone out is shown as uncertain", info)
	}
	return fmt.Sprintf("not known for %s: Earshot probes it when it starts (a direct status to itself, deleted at once); "+
		"until then a reply that may have gone out is shown as uncertain", info)
}

// ensureMe fetches our account and detects the server once.
func (n *Network) ensureMe(ctx context.Context) (*gomastodon.Account, error) {
	n.mu.Lock()
	me := n.me
	n.mu.Unlock()
	if me != nil {
		return me, nil
	}
	n.detectMu.Lock()
	defer n.detectMu.Unlock()
	n.mu.Lock()
	me = n.me
	n.mu.Unlock()
	if me != nil {
		return me, nil
	}
	cctx, cancel := n.reqCtx(ctx, "verify_credentials")
	acc, err := n.api.GetAccountCurrentUser(cctx)
	cancel()
	var ae *gomastodon.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
		n.health.setAccount("Mastodon: the account may not log in (HTTP 403); it may be suspended or disabled")
	}
	if err != nil {
		return nil, n.noteAccount(fmt.Errorf("mastodon: verify credentials: %w", err))
	}
	n.noteAccount(nil)
	info, err := n.detect(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.me, n.server, n.isDetected = acc, info, true
	if n.cfg.Idempotent == "auto" {
		kept := n.state.Server
		switch honours, known := info.knownIdempotency(); {
		case known:
			n.idem.Store(honours)
			if kept != (serverState{Software: info.Software, Version: info.Version, Idempotent: honours}) {
				// Kept, so the outbox knows it right after a restart,
				// before anything is detected.
				n.state.Server = serverState{Software: info.Software, Version: info.Version, Idempotent: honours}
				n.saveStateLocked()
			}
		case kept.Software == info.Software && kept.Version == info.Version && kept.Probed:
			n.idem.Store(kept.Idempotent)
		default:
			n.idem.Store(false) // until the probe says otherwise
		}
	}
	return acc, nil
}

// noteAccount shows a refused token (HTTP 401) as the connector's health;
// nil clears it. It returns err as it is.
func (n *Network) noteAccount(err error) error {
	var ae *gomastodon.APIError
	switch {
	case err == nil:
		n.health.setAccount("")
	case errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized:
		n.health.setAccount("Mastodon: the access token was refused (HTTP 401); check the token in the config")
	}
	return err
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
	n.mu.Lock()
	info := n.server
	n.mu.Unlock()
	count, rules := info.count()
	if cnt, max, ok := lim.Check(r.Text, r.Private); !ok {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: fmt.Sprintf(
			"Mastodon: the reply is %d characters; this server allows %d (%s)", cnt, max, rules)}
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
	if cnt := count(text); cnt > info.MaxChars {
		// Where a mention counts as typed a long handle can outgrow the
		// room kept for it.
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: fmt.Sprintf(
			"Mastodon: with the customer's handle first the reply is %d characters; this server allows %d (%s)", cnt, info.MaxChars, rules)}
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
		return bridge.PostRef{}, n.classify(op, n.noteAccount(err))
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
