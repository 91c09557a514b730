package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Network is a public social platform. Implementations live in connectors/.
type Network interface {
	// Name is the network's name in config, metrics and ids: "mastodon", "bluesky", "x", "webhook".
	Name() string
	// Listen delivers posts into in until ctx ends. It blocks, reconnects by
	// itself, and returns nil when ctx ends or an error it cannot recover from.
	Listen(ctx context.Context, in Inbox) error
	// Publish sends a public reply, or a direct message when r.Private. It does
	// network I/O and blocks until the network answered or ctx ended. Errors
	// should be *PublishError so the outbox knows whether to retry.
	Publish(ctx context.Context, r Reply) (PostRef, error)
	// Limits tells how this network counts text and its maximum.
	Limits() TextLimits
}

// Idempotent is implemented by networks that deduplicate publications by
// Reply.IdempotencyKey (Mastodon's Idempotency-Key header). After a crash the
// outbox retries an attempt without outcome only on such networks.
type Idempotent interface {
	Idempotent() bool
}

// Desk is a team chat where cases are worked, one thread per case.
// Every method may do network I/O and blocks until done or ctx ends.
type Desk interface {
	Name() string
	// Listen delivers staff messages and commands into in until ctx ends.
	Listen(ctx context.Context, in Inbox) error
	// OpenThread posts the case's card in channel and returns its thread.
	OpenThread(ctx context.Context, channel string, c CaseView) (ThreadRef, error)
	// UpdateCard re-renders the card (the thread's first message).
	UpdateCard(ctx context.Context, t ThreadRef, c CaseView) error
	// Post adds a message to the thread.
	Post(ctx context.Context, t ThreadRef, m DeskMessage) (MessageRef, error)
	// Mark shows a staff message's delivery: a reaction, a link line when
	// sent, a private explanation to its author when not sent, a Retry when failed.
	Mark(ctx context.Context, m MessageRef, d Delivery) error
}

// ThreadFinder is implemented by desks that can show a card so that it
// can be found again (Slack: message metadata; Discord: a nonce, and the
// case on the card). With it, opening a thread is idempotent like
// publishing: the bridge journals the key before it asks the desk, and
// when a try ended without the bridge learning the thread (a crash, a
// lost answer), the next one finds the card posted then and adopts it
// instead of posting a second card. Both methods do network I/O.
type ThreadFinder interface {
	// OpenThreadKeyed is OpenThread with the card marked by key (at most
	// 25 ASCII letters and digits). A desk that deduplicates by key may
	// answer with the thread it opened before.
	OpenThreadKeyed(ctx context.Context, channel string, c CaseView, key string) (ThreadRef, error)
	// FindThread looks in channel for the thread OpenThreadKeyed opened
	// for c with key, no earlier than since (when the key was journaled).
	// ok is false when no such card was posted.
	FindThread(ctx context.Context, channel string, c CaseView, key string, since time.Time) (t ThreadRef, ok bool, err error)
}

// Notifier is implemented by desks that can say something privately to one
// staff member in a channel (Slack chat.postEphemeral). Used for refusals
// that have no message to mark.
type Notifier interface {
	Notify(ctx context.Context, channel string, t ThreadRef, staffID, text string) error
}

// Inbox is what connectors deliver into; *Bridge implements it.
type Inbox interface {
	// Post hands over a post from a network. It journals before it returns.
	Post(ctx context.Context, p Post) error
	// StaffMessage hands over a new, edited or deleted thread message.
	StaffMessage(ctx context.Context, m StaffMessage) error
	// Command runs a staff command and returns what to answer.
	Command(ctx context.Context, inv Invocation) Response
}

// Commander runs staff commands; commands.Registry implements it.
type Commander interface {
	Run(ctx context.Context, inv Invocation) Response
}

// RouteMounter is implemented by connectors that receive webhooks on the
// shared HTTP listener (Slack Events API, Discord interactions, webhooks).
type RouteMounter interface {
	// Routes returns path patterns ("POST /slack/events") and their handlers.
	Routes() map[string]http.Handler
}

// PublishError tells the outbox what a failed publication means.
type PublishError struct {
	Op         string        // what was being done: "publish reply"
	Retryable  bool          // a later attempt may succeed (429, 5xx, timeouts before sending)
	RetryAfter time.Duration // the network asked us to wait this long
	// MaybeSent is set when the request may have reached the network (a
	// timeout after sending). The outbox never retries such an attempt on a
	// network that is not Idempotent, nor one the network marks not
	// Retryable: it shows it as uncertain.
	MaybeSent bool
	Reason    string // for staff, in plain words: "Bluesky: the customer does not accept DMs from accounts they don't follow"
	Err       error
}

func (e *PublishError) Error() string {
	msg := e.Reason
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	return msg
}

func (e *PublishError) Unwrap() error { return e.Err }

// Retryable wraps err as a publication error worth trying again after wait (0: use backoff).
func Retryable(err error, wait time.Duration) error {
	return &PublishError{Retryable: true, RetryAfter: wait, Err: err}
}

// Permanent wraps err as a publication error not worth retrying, with a
// reason staff can read.
func Permanent(err error, reason string) error {
	return &PublishError{Reason: reason, Err: err}
}

// AsPublishError finds a *PublishError in err's chain. Errors that carry none
// are treated as retryable and possibly sent (we do not know what happened).
func AsPublishError(err error) *PublishError {
	var pe *PublishError
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, context.Canceled) {
		return &PublishError{Retryable: true, Err: err}
	}
	return &PublishError{Retryable: true, MaybeSent: true, Err: err}
}

// UserError is an error meant for staff: its message reads well on its own
// and is shown privately to whoever caused it.
type UserError struct {
	Msg string
}

func (e *UserError) Error() string { return e.Msg }

// Userf returns a *UserError with a formatted message.
func Userf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// IsUserError reports whether err (or its chain) is meant for staff.
func IsUserError(err error) bool {
	var ue *UserError
	return errors.As(err, &ue)
}

// Request outcomes for RequestObserver, the values of the outcome label of
// earshot_platform_requests_total.
const (
	OutcomeOK          = "ok"
	OutcomeRateLimited = "rate_limited"
	OutcomeError       = "error"
)

// RequestObserver records one request a connector made to its platform:
// platform "slack", op a short fixed name ("chat.postMessage", "publish"),
// outcome one of the Outcome constants. *Metrics implements it. Never put
// ids, handles or text in op.
type RequestObserver interface {
	ObserveRequest(platform, op, outcome string, d time.Duration)
}

// WaitObserver is the optional side of a RequestObserver that counts time
// spent waiting on a platform's rate limit: a Retry-After or reset
// honoured, or our own pacing that keeps us under the platform's limit.
// *Metrics implements it. Connectors call ObserveWait.
type WaitObserver interface {
	ObserveWait(platform string, d time.Duration)
}

// ObserveWait tells obs that a connector of platform waited d for a rate
// limit, when obs counts such waits. Cheap; never blocks.
func ObserveWait(obs RequestObserver, platform string, d time.Duration) {
	if w, ok := obs.(WaitObserver); ok && d > 0 {
		w.ObserveWait(platform, d)
	}
}

// NopObserver records nothing; for tests and connectors built without metrics.
type NopObserver struct{}

// ObserveRequest does nothing.
func (NopObserver) ObserveRequest(string, string, string, time.Duration) {}

// Deps is what main hands every connector constructor: New(cfg Config, deps bridge.Deps).
type Deps struct {
	Logger   *slog.Logger     // never nil when built by main; connectors use slog.Default() when nil
	Requests RequestObserver  // never nil when built by main; use NopObserver{} when nil
	DataDir  string           // where a connector may keep small state files (cursors, rotated tokens); "" means keep nothing
	Now      func() time.Time // the clock; nil means time.Now
	// Health takes the connector's reports of its link (health.go); never
	// nil when built by main or connectors.Build; use NopHealth{} when nil.
	Health HealthReporter
	// ReadOnly is set by `earshot check`, which may run beside a live
	// Earshot: DataDir is that process's. A connector may read its state
	// there to verify the credentials, but writes nothing and changes no
	// credential (no refresh that rotates a token); what it cannot verify
	// that way, its Check returns as *Unverified.
	ReadOnly bool
}

// WithDefaults fills what main always gives, for callers (tests, tools)
// that did not: slog.Default, NopObserver, time.Now, NopHealth.
func (d Deps) WithDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Requests == nil {
		d.Requests = NopObserver{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Health == nil {
		d.Health = NopHealth{}
	}
	return d
}

// Checker is implemented by connectors that can reach their platform to
// prove the config works (`earshot check`: Slack auth.test, Discord /users/@me).
type Checker interface {
	Check(ctx context.Context) error
}

// Unverified is what Check returns (wrapped or not) when it could not
// prove the config works without changing something it must not (see
// Deps.ReadOnly): `earshot check` shows it as not verified, with Reason,
// rather than as a failure.
type Unverified struct {
	Reason string
}

func (e *Unverified) Error() string { return "not verified: " + e.Reason }

// ChannelChecker is implemented by desks that can tell whether the bot
// sees a channel, for `earshot check` to verify each queue's channel
// (Slack conversations.info, Discord GET /channels/{id}). CheckChannel does
// I/O; its error says what is wrong and what to do (invite the bot).
type ChannelChecker interface {
	CheckChannel(ctx context.Context, channel string) error
}

// CheckDetailer is implemented by Checkers that can say what a Check that
// passed found out, one plain line each (`earshot check` prints them under
// the connector's ok line): Mastodon's server software, stream and
// whether a lost answer may be sent again. No I/O; never a secret.
type CheckDetailer interface {
	CheckDetails() []string
}
