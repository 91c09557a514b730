// Package bluesky is Earshot's Network over a Bluesky account.
//
// Listening reads a Jetstream-compatible WebSocket (app.bsky.feed.post
// commits) and keeps posts that mention us (a mention facet with our DID),
// reply to our posts, match a keyword, or are our own (flagged FromUs). The
// last event time (time_us) is the cursor: reconnects resume from it, and it
// is kept in Deps.DataDir so a restart resumes too; posts are deduplicated
// by uri. Authors' profiles are fetched and cached; without an AppView the
// handle comes from the repo or the DID document (profiles.go). The
// session (access and refresh tokens) is kept in Deps.DataDir (0600) so
// restarts refresh it instead of logging in again (createSession is scarce
// on bsky.social); a token the PDS rejects, expired or unverifiable, is
// renewed (xrpc.go). An account its server took down, deactivated or
// suspended, or a refused login, is said in plain words to staff and as
// the connector's health (health.go).
//
// Publishing creates an app.bsky.feed.post record with root/parent reply
// refs (from Post.Ref, handed back as Reply.InRef) and mention, link and
// hashtag facets at UTF-8 byte offsets (facets.go). When the post answered
// was deleted meanwhile the reply still goes out (the PDS takes it) and
// staff are told on the sent mark.
//
// Publication is idempotent (the Network is bridge.Idempotent): the record
// key is a TID derived from Reply.IdempotencyKey (tid.go), so every attempt
// of one reply writes the same rkey and the repo can hold only one post for
// it. We use createRecord with that rkey, not putRecord: putRecord is an
// upsert, so a retry would rewrite a post customers may already have seen,
// liked or answered (a new createdAt gives a new CID, and their replies'
// strong refs point at the old one), and it would as silently overwrite any
// other record that held the key. createRecord never changes what is
// published; it refuses a taken rkey (the reference PDS with a bare HTTP
// 500, newer ones with an explicit error), and then we read the record
// back with getRecord: if it is ours (same text and reply refs) the reply
// was published by an earlier attempt and we return its uri; if it is
// another post, the next derived key is tried. A retry therefore never
// makes a second post and returns the PostRef of the first.
//
// DMs go through the chat service via the PDS (atproto-proxy), and its
// refusals (MessagesDisabled, NotFollowedBySender) reach staff in plain
// words. The chat service has no idempotency key, and bridge.Idempotent
// speaks for the whole network, so the DM path guards itself: a DM that
// may have been delivered (no answer after the request was written, a 500,
// 502 or 504, an unreadable answer) is MaybeSent and never Retryable, so
// the outbox shows it as uncertain, with that reason and a send-again button, instead of
// retrying; and each DM attempt is noted in Deps.DataDir (dmledger.go), so
// the outbox's retry after a crash reports it as maybe sent instead of
// sending it twice. Without a data dir the network is not Idempotent.
// Text is counted in graphemes (uniseg).
//
// The XRPC client is a small one of our own (xrpc.go) rather than indigo:
// we call nine methods with JSON bodies, and indigo would bring its large
// dependency tree (CBOR, CAR, IPLD, OpenTelemetry ...) and its own session
// handling for what is a hundred lines here, where we also need exact
// control of ExpiredToken refresh, rate-limit headers and error names.
package bluesky

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/seen"
)

// Name is the network's name in config, metrics and ids.
const Name = "bluesky"

// Limits of the network, in graphemes.
const (
	MaxPostGraphemes = 300
	MaxPostBytes     = 3000
	MaxDMGraphemes   = 1000
)

// Config is the `bluesky:` section of the config file.
type Config struct {
	// Service is the account's PDS; default https://bsky.social.
	Service string `yaml:"service"`
	// Identifier is the account's handle (or DID) and AppPassword an app
	// password (with DM access, for the DM handoff).
	Identifier  string `yaml:"identifier"`
	AppPassword string `yaml:"app_password"`
	// Jetstream is the subscribe URL; default wss://jetstream2.us-east.bsky.network/subscribe.
	Jetstream string `yaml:"jetstream"`
	// Keywords (case-insensitive) make posts that do not mention us reach
	// the bridge too; its watch rules decide what becomes a case.
	Keywords []string `yaml:"keywords"`
	// ChatProxy is the atproto-proxy value for chat; default did:web:api.bsky.chat#bsky_chat.
	ChatProxy string `yaml:"chat_proxy"`
	// PLCDirectory is where did:plc documents are read when a customer's
	// profile cannot be (a PDS without an AppView); default https://plc.directory.
	PLCDirectory string `yaml:"plc_directory"`
	// ChatPoll is how often customers' DMs are fetched from the chat log;
	// default 10s, negative to not read DMs.
	ChatPoll time.Duration `yaml:"chat_poll"`
	// RequestTimeout bounds every XRPC call; default 15s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Network is a Bluesky account seen as an Earshot network.
type Network struct {
	cfg  Config
	deps bridge.Deps
	log  *slog.Logger
	xrpc *client

	profiles *profileCache
	seen     *seen.Set
	health   *health
	dms      *dmLedger // DM attempts by idempotency key: the chat service has no key of its own

	idle time.Duration // a stream that does not answer a ping within idle/3 is dead
	// backoff bounds Listen's retries (login, Jetstream).
	backoff backoff.Policy

	mu     sync.Mutex
	cursor int64 // last handled time_us
	saved  time.Time
}

var (
	_ bridge.Network    = (*Network)(nil)
	_ bridge.Checker    = (*Network)(nil)
	_ bridge.Idempotent = (*Network)(nil)
)

// New validates cfg and prepares the client. It does no I/O but reading the
// saved cursor.
func New(cfg Config, deps bridge.Deps) (*Network, error) {
	if cfg.Service == "" {
		cfg.Service = "https://bsky.social"
	}
	if u, err := url.Parse(cfg.Service); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bluesky: service %q is not an http(s) URL", cfg.Service)
	}
	cfg.Service = strings.TrimRight(cfg.Service, "/")
	if cfg.Jetstream == "" {
		cfg.Jetstream = "wss://jetstream2.us-east.bsky.network/subscribe"
	}
	if u, err := url.Parse(cfg.Jetstream); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("bluesky: jetstream %q is not a ws(s) URL", cfg.Jetstream)
	}
	if cfg.Identifier == "" || cfg.AppPassword == "" {
		return nil, errors.New("bluesky: identifier and app_password are required")
	}
	cfg.Identifier = strings.TrimPrefix(cfg.Identifier, "@")
	if cfg.PLCDirectory == "" {
		cfg.PLCDirectory = "https://plc.directory"
	}
	if u, err := url.Parse(cfg.PLCDirectory); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bluesky: plc_directory %q is not an http(s) URL", cfg.PLCDirectory)
	}
	cfg.PLCDirectory = strings.TrimRight(cfg.PLCDirectory, "/")
	if cfg.ChatProxy == "" {
		cfg.ChatProxy = "did:web:api.bsky.chat#bsky_chat"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.ChatPoll == 0 {
		cfg.ChatPoll = 10 * time.Second
	}
	for i, k := range cfg.Keywords {
		cfg.Keywords[i] = strings.ToLower(strings.TrimSpace(k))
		if cfg.Keywords[i] == "" {
			return nil, fmt.Errorf("bluesky: keywords[%d] is empty", i)
		}
	}
	deps = deps.WithDefaults()
	n := &Network{cfg: cfg, deps: deps, log: deps.Logger, seen: seen.New(16384), idle: time.Minute,
		health: &health{rep: deps.Health}, backoff: backoff.Policy{Min: time.Second, Max: 2 * time.Minute, Healthy: 30 * time.Second}}
	n.xrpc = &client{base: cfg.Service, ident: cfg.Identifier, password: cfg.AppPassword,
		http: &http.Client{}, obs: deps.Requests, now: deps.Now, timeout: cfg.RequestTimeout,
		onSession: func(err error) {
			if err == nil {
				n.noteAccountOK()
			} else {
				n.noteAccount(err)
			}
		}}
	n.dms = &dmLedger{now: deps.Now}
	if deps.DataDir != "" {
		n.xrpc.store = filepath.Join(deps.DataDir, "bluesky-session.json")
		n.dms.path = filepath.Join(deps.DataDir, "bluesky-dm-attempts.json")
	}
	n.profiles = &profileCache{ttl: time.Hour, now: deps.Now, m: map[string]profileEntry{}}
	if err := n.loadCursor(); err != nil {
		return nil, err
	}
	return n, nil
}

// Name returns "bluesky".
func (n *Network) Name() string { return Name }

// Limits: 300 graphemes for posts, 1000 for DMs.
func (n *Network) Limits() bridge.TextLimits {
	return bridge.TextLimits{Max: MaxPostGraphemes, PrivateMax: MaxDMGraphemes, Unit: "graphemes", Count: CountGraphemes}
}

// CountGraphemes counts user-perceived characters, as Bluesky does.
func CountGraphemes(s string) int { return uniseg.GraphemeClusterCount(s) }

// Idempotent reports that an attempt may be repeated without a second
// publication, so the outbox retries one that a crash or a lost answer
// left without outcome: posts by their derived record key, DMs through the
// DM ledger, which turns a repeat of an attempt that may have been
// delivered into a maybe-sent error for staff rather than a second
// message. The ledger outlives a crash only in Deps.DataDir; without one
// the network does not claim idempotency (nothing would survive a crash).
func (n *Network) Idempotent() bool { return n.dms.durable() }

// Check logs in.
func (n *Network) Check(ctx context.Context) error {
	_, err := n.xrpc.session(ctx)
	return err
}

// me returns our DID (logging in if needed).
func (n *Network) me(ctx context.Context) (string, error) {
	s, err := n.xrpc.session(ctx)
	if err != nil {
		return "", err
	}
	return s.DID, nil
}

// Publish creates a reply post, or sends a DM when r.Private.
func (n *Network) Publish(ctx context.Context, r bridge.Reply) (bridge.PostRef, error) {
	op := "publish reply"
	if r.Private {
		op = "send DM"
	}
	if cnt, limit, ok := n.Limits().Check(r.Text, r.Private); !ok {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: fmt.Sprintf(
			"Bluesky: the reply is %d graphemes; the limit is %d", cnt, limit)}
	}
	if !r.Private && len(r.Text) > MaxPostBytes {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: fmt.Sprintf(
			"Bluesky: the reply is %d bytes; the limit is %d", len(r.Text), MaxPostBytes)}
	}
	if strings.TrimSpace(r.Text) == "" {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: "Bluesky: the reply is empty"}
	}
	if r.Private {
		return n.sendDM(ctx, op, r)
	}
	me, err := n.me(ctx)
	if err != nil {
		return bridge.PostRef{}, n.noteAccount(classify(op, err))
	}
	rec := postRecord{Type: "app.bsky.feed.post", Text: r.Text, CreatedAt: n.deps.Now().UTC().Format(time.RFC3339Nano)}
	if r.InReplyTo != "" {
		parent := strongRef{URI: r.InRef["uri"], CID: r.InRef["cid"]}
		if parent.URI == "" {
			parent.URI = r.InReplyTo
		}
		root := strongRef{URI: r.InRef["root_uri"], CID: r.InRef["root_cid"]}
		if root.URI == "" {
			root = parent
		}
		if r.Broadcast {
			// A status thread answers our own posts, whose cids we read back.
			if err := n.ownCIDs(ctx, me, &parent, &root); err != nil {
				return bridge.PostRef{}, classify(op, err)
			}
		}
		if parent.CID == "" || root.CID == "" {
			return bridge.PostRef{}, &bridge.PublishError{Op: op,
				Reason: "Bluesky: cannot reply, the customer's post reference (cid) is missing"}
		}
		rec.Reply = &replyRef{Root: root, Parent: parent}
	}
	rec.Facets = n.facets(ctx, r.Text)
	var warning string
	if rec.Reply != nil && n.deleted(ctx, rec.Reply.Parent.URI) {
		// The PDS takes a reply to a deleted post; it shows as answering
		// nothing. Staff should know; the customer may have moved on.
		warning = "the customer deleted the post this answers before the reply went out, so it shows as a reply to a deleted post"
	}
	out, err := n.createPost(ctx, op, me, rec, r.IdempotencyKey)
	if err != nil {
		return bridge.PostRef{}, n.noteAccount(err)
	}
	n.noteAccountOK()
	return bridge.PostRef{Network: Name, ID: out.URI, URL: n.postURL(ctx, out.URI), Warning: warning}, nil
}

// sendDM opens (or finds) the conversation with the customer and sends
// r.Text, at most once per r.IdempotencyKey (see dmLedger): an attempt that
// may have reached the chat service is never retryable, since sending
// again would show the message twice. It does network and file I/O and
// blocks until the chat service answered or ctx ended.
func (n *Network) sendDM(ctx context.Context, op string, r bridge.Reply) (bridge.PostRef, error) {
	to := r.To.ID
	if to == "" {
		return bridge.PostRef{}, &bridge.PublishError{Op: op, Reason: "Bluesky: the customer's account id is unknown"}
	}
	key := r.IdempotencyKey
	if key != "" {
		switch e := n.dms.get(key); e.State {
		case dmSent:
			return bridge.PostRef{Network: Name, ID: e.ID, URL: e.URL}, nil
		case dmSending:
			// Earshot stopped during an earlier attempt. Say so once; a
			// "send again" after that finds the entry uncertain and sends.
			if err := n.dms.set(key, dmEntry{State: dmUncertain}); err != nil {
				n.log.Warn("bluesky: note an uncertain DM", "err", err)
			}
			return bridge.PostRef{}, &bridge.PublishError{Op: op, MaybeSent: true,
				Reason: "Bluesky: Earshot stopped while sending this direct message, so it may have been delivered; check the conversation before sending it again",
				Err:    errors.New("an earlier attempt has no outcome")}
		}
	}
	hdr := http.Header{"Atproto-Proxy": {n.cfg.ChatProxy}}
	var convo struct {
		Convo struct {
			ID string `json:"id"`
		} `json:"convo"`
	}
	if err := n.xrpc.call(ctx, "getConvoForMembers", http.MethodGet, "chat.bsky.convo.getConvoForMembers",
		url.Values{"members": {to}}, nil, &convo, hdr); err != nil {
		return bridge.PostRef{}, n.noteAccount(classify(op, err))
	}
	if key != "" {
		if err := n.dms.set(key, dmEntry{State: dmSending}); err != nil {
			// Without the note a crash during the send could repeat it.
			return bridge.PostRef{}, &bridge.PublishError{Op: op, Retryable: true,
				Reason: "Bluesky: could not note the attempt before sending the direct message", Err: err}
		}
	}
	var msg struct {
		ID string `json:"id"`
	}
	err := n.xrpc.call(ctx, "sendMessage", http.MethodPost, "chat.bsky.convo.sendMessage", nil,
		map[string]any{"convoId": convo.Convo.ID, "message": map[string]string{"text": r.Text}}, &msg, hdr)
	if err != nil {
		pe := classifyDM(op, err)
		if key != "" {
			e := dmEntry{} // surely not sent: forget the attempt
			if pe.MaybeSent {
				e.State = dmUncertain
			}
			if serr := n.dms.set(key, e); serr != nil {
				n.log.Warn("bluesky: note a DM's outcome", "err", serr)
			}
		}
		return bridge.PostRef{}, pe
	}
	ref := bridge.PostRef{Network: Name, ID: msg.ID, URL: "https://bsky.app/messages/" + convo.Convo.ID}
	if key != "" {
		if err := n.dms.set(key, dmEntry{State: dmSent, ID: ref.ID, URL: ref.URL}); err != nil {
			n.log.Warn("bluesky: note a sent DM", "err", err)
		}
	}
	return ref, nil
}

// postURL is the bsky.app link of an at:// post uri.
func (n *Network) postURL(ctx context.Context, uri string) string {
	did, rkey, ok := splitPostURI(uri)
	if !ok {
		return ""
	}
	handle := did
	if p, err := n.profile(ctx, did); err == nil && p.Handle != "" {
		handle = p.Handle
	}
	return "https://bsky.app/profile/" + handle + "/post/" + rkey
}

// splitPostURI splits at://did/app.bsky.feed.post/rkey.
func splitPostURI(uri string) (did, rkey string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "at://")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] != "app.bsky.feed.post" {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// classify turns a failed call into a *bridge.PublishError.
func classify(op string, err error) *bridge.PublishError {
	var xe *xrpcError
	if errors.As(err, &xe) {
		switch {
		case xe.Status == http.StatusTooManyRequests:
			return &bridge.PublishError{Op: op, Retryable: true, RetryAfter: xe.Wait, Reason: "Bluesky: rate limited, trying again later", Err: xe}
		case xe.Status >= 500:
			return &bridge.PublishError{Op: op, Retryable: true, Reason: fmt.Sprintf("Bluesky: the server failed (HTTP %d)", xe.Status), Err: xe}
		case xe.Name == "MessagesDisabled":
			return &bridge.PublishError{Op: op, Reason: "Bluesky: the customer does not accept direct messages", Err: xe}
		case xe.Name == "NotFollowedBySender":
			return &bridge.PublishError{Op: op, Reason: "Bluesky: the customer only accepts direct messages from accounts they follow", Err: xe}
		}
		if reason, ok := accountRefusal(xe); ok {
			return &bridge.PublishError{Op: op, Reason: reason, Err: xe}
		}
		switch {
		case xe.Status == http.StatusUnauthorized || xe.Name == "AuthenticationRequired":
			return &bridge.PublishError{Op: op, Reason: "Bluesky: the login was refused; check the identifier and app password (DMs need an app password with DM access)", Err: xe}
		case xe.Status == http.StatusForbidden:
			return &bridge.PublishError{Op: op, Reason: "Bluesky: not allowed (HTTP 403); the app password may lack DM access", Err: xe}
		case xe.Status == http.StatusNotFound:
			return &bridge.PublishError{Op: op, Reason: "Bluesky: not found (HTTP 404)", Err: xe}
		default:
			msg := xe.Message
			if msg == "" {
				msg = orDefault(xe.Name, http.StatusText(xe.Status))
			}
			return &bridge.PublishError{Op: op, Reason: fmt.Sprintf("Bluesky refused the post: %s (HTTP %d)", msg, xe.Status), Err: xe}
		}
	}
	// No answer: the server may have acted only if the request was written.
	var se *sendError
	sent := !errors.As(err, &se) || se.Sent
	if errors.Is(err, context.Canceled) {
		return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: se != nil && se.Sent, Err: err}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: sent, Reason: "Bluesky: no answer in time", Err: err}
	}
	return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: sent, Reason: "Bluesky: could not reach the server", Err: err}
}

// classifyDM is classify for chat.bsky.convo.sendMessage. The chat service
// has no idempotency key, so a message that may have been delivered (the
// request was written and then no answer came, or a 500, 502 or 504 came
// back, or an answer we could not read) is MaybeSent and not Retryable:
// the Network is Idempotent for posts, so the outbox would otherwise send
// it again. Staff see why, and check before sending again.
func classifyDM(op string, err error) *bridge.PublishError {
	const send = "chat.bsky.convo.sendMessage" // not the session calls that may come before it
	pe := classify(op, err)
	var xe *xrpcError
	var se *sendError
	var ae *answerError
	switch {
	case errors.As(err, &xe):
		if xe.Method != send || xe.Status != http.StatusInternalServerError && xe.Status != http.StatusBadGateway && xe.Status != http.StatusGatewayTimeout {
			return pe
		}
		pe.Reason = fmt.Sprintf("Bluesky: the chat service failed (HTTP %d) while taking the direct message", xe.Status)
	case errors.As(err, &se):
		if se.Method != send || !se.Sent {
			return pe
		}
		pe.Reason = "Bluesky: the chat service did not answer after the direct message was sent"
	case errors.As(err, &ae):
		if ae.Method != send {
			return pe
		}
		pe.Reason = "Bluesky: the chat service's answer could not be read"
	default:
		return pe
	}
	pe.Retryable, pe.RetryAfter, pe.MaybeSent = false, 0, true
	pe.Reason += ", so it may have been delivered; check the conversation before sending it again"
	return pe
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
