// Package webhook is Earshot's generic Network for sources that can send and
// receive signed HTTP posts: review sites, app stores, automation tools.
//
// Inbound: the connector mounts `POST /webhook/{source}` on the shared
// listener (RouteMounter). A source POSTs one JSON post, signed with
// HMAC-SHA256 over "v1:" + source + ":" + timestamp + ":" + body (the
// source is bound, so a body signed for one source is refused on another
// even when they share a secret; the old unbound scheme only behind
// legacy_signatures); the handler bounds the body in size and time, checks
// the signature and the replay window on the raw bytes before parsing,
// checks the ids on the raw bytes too (JSON decoding would turn invalid
// UTF-8 into U+FFFD and make different ids equal), validates the post
// (naming the bad field), and hands it to the Inbox. The same signed
// request sent again within the window gets the first answer again
// (connectors/internal/replay); another request for a post already taken
// is answered "duplicate" (200), and the bridge drops duplicates durably.
//
// Outbound: replies and DMs are POSTed as JSON to the source's reply URL,
// signed the same way for that source, with an Idempotency-Key header that stays the same
// across attempts; the network is Idempotent (receivers must honour the key).
// Errors are classified for the outbox: 429/5xx/timeouts retry, other 4xx
// are permanent.
//
// Ids are namespaced by source ("reviews/123") so two sources never collide.
// The wire format and a curl example are in README.md.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// Name is the network's name in config, metrics and ids.
const Name = "webhook"

// Config is the `webhook:` section of the config file.
type Config struct {
	// Secret signs inbound posts and outbound replies of every source that
	// has no secret of its own.
	Secret string `yaml:"secret"`
	// ReplyURL receives replies of every source that has no reply_url of its
	// own. Empty: replies to such sources are refused (not retried).
	ReplyURL string `yaml:"reply_url"`
	// Sources restricts and configures the accepted {source} names. Empty
	// accepts any source name signed with Secret.
	Sources []SourceConfig `yaml:"sources"`
	// ReplayWindow is how far a signature's timestamp may be from now; default 5m.
	ReplayWindow time.Duration `yaml:"replay_window"`
	// MaxBody bounds an inbound request body in bytes; default 64 KiB.
	MaxBody int64 `yaml:"max_body"`
	// MaxLength is the longest reply text in characters (runes); default 2000.
	MaxLength int `yaml:"max_length"`
	// RequestTimeout bounds one outbound reply request; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// LegacySignatures accepts the old signature scheme (sha256=, not
	// bound to the source) from every source, and signs replies to them
	// that way; a warning is logged at start. Only while senders move to v1.
	LegacySignatures bool `yaml:"legacy_signatures"`
}

// SourceConfig is one named source.
type SourceConfig struct {
	Name     string `yaml:"name"`      // the {source} path segment: [a-z0-9_-], at most 64
	Secret   string `yaml:"secret"`    // default: the top-level secret
	ReplyURL string `yaml:"reply_url"` // default: the top-level reply_url
	// LegacySignatures is Config.LegacySignatures for this source alone.
	LegacySignatures bool `yaml:"legacy_signatures"`
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Network is the generic webhook network. Safe for concurrent use.
type Network struct {
	cfg     Config
	sources map[string]SourceConfig // by name; nil map = any source
	deps    bridge.Deps
	log     *slog.Logger
	client  *http.Client

	replays *replay.Guard // signed requests already answered, within the replay window

	mu     sync.Mutex
	inbox  bridge.Inbox // set while Listen runs
	seen   *seenSet     // source/id of posts delivered (idempotency)
	flight map[string]bool
	convs  *convMap // post id (ours and theirs) -> conversation key
	ours   *seenSet // ids of what we published, for ReplyToUs
	// failing says why replies to a reply URL last failed in a way every
	// reply would ("" once one went through); it makes the network degraded.
	failing string
}

var (
	_ bridge.Network      = (*Network)(nil)
	_ bridge.Idempotent   = (*Network)(nil)
	_ bridge.RouteMounter = (*Network)(nil)
)

// New validates cfg. It does no I/O.
func New(cfg Config, deps bridge.Deps) (*Network, error) {
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 5 * time.Minute
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.MaxLength <= 0 {
		cfg.MaxLength = 2000
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if err := checkURL("reply_url", cfg.ReplyURL); err != nil {
		return nil, err
	}
	n := &Network{cfg: cfg, deps: deps, flight: map[string]bool{}, seen: newSeenSet(16384), ours: newSeenSet(16384), convs: newConvMap(65536)}
	if len(cfg.Sources) == 0 && cfg.Secret == "" {
		return nil, errors.New("webhook: secret is required (or a secret per source)")
	}
	if len(cfg.Sources) > 0 {
		n.sources = map[string]SourceConfig{}
		for i, s := range cfg.Sources {
			if !sourceName.MatchString(s.Name) {
				return nil, fmt.Errorf("webhook: sources[%d].name %q: want 1-64 of a-z 0-9 _ - (starting with a letter or digit)", i, s.Name)
			}
			if _, dup := n.sources[s.Name]; dup {
				return nil, fmt.Errorf("webhook: sources[%d].name %q is used twice", i, s.Name)
			}
			if s.Secret == "" {
				s.Secret = cfg.Secret
			}
			if s.Secret == "" {
				return nil, fmt.Errorf("webhook: sources[%d].secret is required (no top-level secret either)", i)
			}
			if s.ReplyURL == "" {
				s.ReplyURL = cfg.ReplyURL
			}
			s.LegacySignatures = s.LegacySignatures || cfg.LegacySignatures
			if err := checkURL(fmt.Sprintf("sources[%d].reply_url", i), s.ReplyURL); err != nil {
				return nil, err
			}
			n.sources[s.Name] = s
		}
	}
	deps = deps.WithDefaults()
	n.deps = deps
	n.log = deps.Logger
	n.client = &http.Client{Timeout: cfg.RequestTimeout}
	n.replays = replay.New(cfg.ReplayWindow)
	if legacy := n.legacySources(); len(legacy) > 0 {
		n.log.Warn("webhook: legacy_signatures is on: the old signature scheme, which does not bind the source, "+
			"is accepted (and replies are signed with it), so a post signed for one of these sources is accepted by "+
			"any other of them sharing its secret; move the senders to v1 (see the webhook README) and turn it off",
			"sources", strings.Join(legacy, ","))
	}
	return n, nil
}

// legacySources names the sources allowed the old signature scheme ("*"
// for any source when no sources are listed).
func (n *Network) legacySources() []string {
	if n.sources == nil {
		if n.cfg.LegacySignatures {
			return []string{"*"}
		}
		return nil
	}
	var out []string
	for name, s := range n.sources {
		if s.LegacySignatures {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func checkURL(field, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook: %s is not an http(s) URL", field)
	}
	return nil
}

// source returns the config of a source name, and whether it is accepted.
func (n *Network) source(name string) (SourceConfig, bool) {
	if n.sources == nil {
		if !sourceName.MatchString(name) {
			return SourceConfig{}, false
		}
		return SourceConfig{Name: name, Secret: n.cfg.Secret, ReplyURL: n.cfg.ReplyURL, LegacySignatures: n.cfg.LegacySignatures}, true
	}
	s, ok := n.sources[name]
	return s, ok
}

// Name returns "webhook".
func (n *Network) Name() string { return Name }

// Idempotent reports that every reply carries an Idempotency-Key the
// receiver is required to honour (README.md), so the outbox may retry an
// attempt whose outcome is unknown.
func (n *Network) Idempotent() bool { return true }

// Limits counts characters (runes); the maximum is max_length.
func (n *Network) Limits() bridge.TextLimits {
	return bridge.TextLimits{Max: n.cfg.MaxLength, Unit: "characters", Count: utf8.RuneCountInString}
}

// Listen makes the webhook route deliver into in until ctx ends. The route
// answers 503 while no Listen runs. It blocks and returns nil when ctx ends.
// Health: up while it runs; degraded while replies cannot be delivered to
// a reply URL (see Publish), since posts still come in.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	n.mu.Lock()
	n.inbox = in
	failing := n.failing
	n.mu.Unlock()
	if failing == "" {
		n.deps.Health.Report(Name, bridge.HealthUp, "")
	} else {
		n.deps.Health.Report(Name, bridge.HealthDegraded, failing)
	}
	<-ctx.Done()
	n.mu.Lock()
	if n.inbox == in {
		n.inbox = nil
	}
	n.mu.Unlock()
	return nil
}

// noteDelivery records how a reply's delivery went for health: reason ""
// after a delivery, else why deliveries to src fail (a receiver that is
// down, refuses our signature or has moved). A report goes out on change.
func (n *Network) noteDelivery(src string, reason string) {
	if reason != "" {
		reason = fmt.Sprintf("replies to source %q cannot be delivered: %s", src, reason)
	}
	n.mu.Lock()
	changed := n.failing != reason
	n.failing = reason
	n.mu.Unlock()
	switch {
	case !changed:
	case reason == "":
		n.deps.Health.Report(Name, bridge.HealthUp, "")
	default:
		n.deps.Health.Report(Name, bridge.HealthDegraded, reason)
	}
}

// Listening reports whether a Listen is running (the route accepts posts).
func (n *Network) Listening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inbox != nil
}

// Routes mounts the inbound endpoint.
func (n *Network) Routes() map[string]http.Handler {
	return map[string]http.Handler{"POST /webhook/{source}": http.HandlerFunc(n.serveInbound)}
}

// joinID namespaces a source's id: "reviews/123".
func joinID(source, id string) string { return source + "/" + id }

// splitID undoes joinID; ok is false for an id without a source.
func splitID(id string) (source, raw string, ok bool) {
	source, raw, ok = strings.Cut(id, "/")
	if !ok || source == "" {
		return "", id, false
	}
	return source, raw, true
}

// seenSet remembers up to max keys, forgetting the oldest first.
type seenSet struct {
	ids   map[string]bool
	order []string
	max   int
}

func newSeenSet(max int) *seenSet { return &seenSet{ids: map[string]bool{}, max: max} }

func (s *seenSet) has(id string) bool { return s.ids[id] }

func (s *seenSet) add(id string) {
	if s.ids[id] {
		return
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}

// convMap remembers which conversation a post belongs to, bounded.
type convMap struct {
	m     map[string]string
	order []string
	max   int
}

func newConvMap(max int) *convMap { return &convMap{m: map[string]string{}, max: max} }

func (c *convMap) get(id string) (string, bool) { v, ok := c.m[id]; return v, ok }

func (c *convMap) put(id, conv string) {
	if _, ok := c.m[id]; !ok {
		c.order = append(c.order, id)
	}
	c.m[id] = conv
	if len(c.order) > c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}
