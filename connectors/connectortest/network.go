// Package connectortest holds conformance suites every connector must pass,
// and the small kit connector tests share (kit.go).
//
// network.go is the suite for bridge.Network: a connector package builds a
// fresh fake of its platform and the Network under test pointed at it (a
// NetworkHarness), and RunNetworkSuite checks listening, dedupe, follow-up
// threading, public replies, DMs, text limits, retry classification and that
// no secret leaks into errors. The suite acts as a customer through the
// harness and inspects what the fake now shows, so it needs no mocks.
package connectortest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// NetworkHarness makes a fresh Network under test, each against its own fake.
type NetworkHarness struct {
	// New starts a fresh fake (closed by t.Cleanup) and returns the network
	// under test pointed at it. Called once per subtest.
	New func(t *testing.T) *NetworkEnv
}

// NetworkEnv is one Network under test with its fake, as the suite sees it.
// Every func field may block on the fake; all are safe for concurrent use.
type NetworkEnv struct {
	Network bridge.Network

	// Secrets are the credentials the network was configured with (tokens,
	// passwords). None may appear in any error text.
	Secrets []string

	// Listening reports whether the network's stream is connected to the
	// fake, so the suite starts posting only once nothing can be missed by
	// design. Nil means "ready as soon as Listen runs".
	Listening func() bool

	// Mention posts, as a customer, a new public post that mentions our
	// account; it returns the id the network will report as Post.ID.
	Mention func(t testing.TB, text string) string
	// Reply posts, as the same customer, a public reply to post id (ours or
	// theirs) as a real client would (mentioning us where the network does).
	Reply func(t testing.TB, inReplyTo, text string) string

	// Published lists what our account published, oldest first.
	Published func(t testing.TB) []Published

	// Fail makes the next n publish attempts fail with HTTP status; for 429
	// the fake also says to wait `wait` (in the platform's own header).
	Fail func(t testing.TB, status, n int, wait time.Duration)

	// Drop closes every open stream connection on the fake; the network must
	// reconnect by itself and miss nothing. Nil skips the reconnect test.
	Drop func(t testing.TB)

	// DM is true when Publish with Reply.Private is supported.
	DM bool
	// Echo is true when our own published posts come back through Listen
	// (flagged FromUs).
	Echo bool
}

// Published is one post our account published, as the fake shows it.
type Published struct {
	ID        string
	InReplyTo string // the post it answers; "" for a DM or a new post
	Text      string // plain text as stored by the fake
	Direct    bool   // a direct message
	To        string // for DMs: the recipient's id or handle
}

// RecordingInbox is a bridge.Inbox that records what connectors deliver.
// Safe for concurrent use.
type RecordingInbox struct {
	mu      sync.Mutex
	changed chan struct{}
	posts   []bridge.Post
	staff   []bridge.StaffMessage
	invs    []bridge.Invocation
	// Respond answers commands; nil answers OK with empty text.
	Respond func(bridge.Invocation) bridge.Response
	// PostErr, when set, is returned by Post (the post is still recorded).
	PostErr error
}

// NewRecordingInbox returns an empty inbox.
func NewRecordingInbox() *RecordingInbox {
	return &RecordingInbox{changed: make(chan struct{})}
}

func (r *RecordingInbox) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Post records p.
func (r *RecordingInbox) Post(_ context.Context, p bridge.Post) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts = append(r.posts, p)
	r.notify()
	return r.PostErr
}

// StaffMessage records m.
func (r *RecordingInbox) StaffMessage(_ context.Context, m bridge.StaffMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.staff = append(r.staff, m)
	r.notify()
	return nil
}

// Command records inv and answers with Respond.
func (r *RecordingInbox) Command(_ context.Context, inv bridge.Invocation) bridge.Response {
	r.mu.Lock()
	r.invs = append(r.invs, inv)
	r.notify()
	f := r.Respond
	r.mu.Unlock()
	if f != nil {
		return f(inv)
	}
	return bridge.Response{OK: true}
}

// Posts returns a copy of every post delivered so far.
func (r *RecordingInbox) Posts() []bridge.Post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Post(nil), r.posts...)
}

// StaffMessages returns a copy of every staff message delivered so far.
func (r *RecordingInbox) StaffMessages() []bridge.StaffMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.StaffMessage(nil), r.staff...)
}

// Invocations returns a copy of every command delivered so far.
func (r *RecordingInbox) Invocations() []bridge.Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Invocation(nil), r.invs...)
}

// WaitPost blocks until a delivered post satisfies match, or fails the test
// after timeout.
func (r *RecordingInbox) WaitPost(t testing.TB, timeout time.Duration, match func(bridge.Post) bool) bridge.Post {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, p := range r.posts {
			if match(p) {
				r.mu.Unlock()
				return p
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no matching post delivered within %v; got %d posts: %+v", timeout, len(r.Posts()), r.Posts())
			return bridge.Post{}
		}
	}
}

// WaitFor polls cond every 10ms until it holds or fails the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTimeout bounds every wait of the suite; generous for -race on a busy machine.
const waitTimeout = 10 * time.Second

// listen starts env.Network.Listen into a fresh inbox, waits until it is
// connected, and stops it (checking it returned) at cleanup.
func listen(t *testing.T, env *NetworkEnv) *RecordingInbox {
	t.Helper()
	in := NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Network.Listen(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Listen returned %v after its context ended; want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Listen did not return within %v after its context ended", waitTimeout)
		}
	})
	if env.Listening != nil {
		WaitFor(t, waitTimeout, "the network to connect its stream", env.Listening)
	}
	return in
}

func byID(id string) func(bridge.Post) bool {
	return func(p bridge.Post) bool { return p.ID == id }
}

// publishCtx bounds one Publish call of the suite.
func publishCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// checkNoSecret fails when err's text contains one of env's secrets.
func checkNoSecret(t *testing.T, env *NetworkEnv, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range env.Secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text leaks a secret: %q", err.Error())
		}
	}
}

// RunNetworkSuite runs the Network conformance suite against h.
func RunNetworkSuite(t *testing.T, h NetworkHarness) {
	t.Run("ListenMention", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listen(t, env)
		id := env.Mention(t, "my train is late again")
		p := in.WaitPost(t, waitTimeout, byID(id))
		if p.Network != env.Network.Name() {
			t.Errorf("Post.Network = %q, want %q", p.Network, env.Network.Name())
		}
		if p.Author.ID == "" || p.Author.Handle == "" {
			t.Errorf("Post.Author lacks id or handle: %+v", p.Author)
		}
		if !strings.Contains(p.Text, "my train is late again") {
			t.Errorf("Post.Text = %q, want the customer's words", p.Text)
		}
		if strings.ContainsAny(p.Text, "<>") {
			t.Errorf("Post.Text = %q still carries markup", p.Text)
		}
		if !p.MentionsUs || p.FromUs || p.Direct {
			t.Errorf("flags MentionsUs=%v FromUs=%v Direct=%v, want true false false", p.MentionsUs, p.FromUs, p.Direct)
		}
		if p.CreatedAt.IsZero() {
			t.Error("Post.CreatedAt is zero")
		}
		if p.URL == "" {
			t.Error("Post.URL is empty")
		}
		if p.InReplyTo != "" || (p.Conversation != "" && p.Conversation != p.ID) {
			t.Errorf("a new post has InReplyTo=%q Conversation=%q; want a conversation root", p.InReplyTo, p.Conversation)
		}
	})

	t.Run("ReplyAndFollowUp", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listen(t, env)
		id := env.Mention(t, "the app crashes on login")
		first := in.WaitPost(t, waitTimeout, byID(id))

		ref, err := env.Network.Publish(publishCtx(t), bridge.Reply{
			Case: "E-1", Network: env.Network.Name(), InReplyTo: first.ID, InRef: first.Ref,
			To: first.Author, Text: "Sorry! Which phone do you use?", IdempotencyKey: "suite-reply-1",
		})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if ref.ID == "" || ref.Network != env.Network.Name() {
			t.Errorf("PostRef = %+v, want an id and network %q", ref, env.Network.Name())
		}
		pub := findPublished(t, env, ref.ID)
		if pub.InReplyTo != first.ID || pub.Direct {
			t.Errorf("published %+v; want a public reply to %q", pub, first.ID)
		}
		if !strings.Contains(pub.Text, "Sorry! Which phone do you use?") {
			t.Errorf("published text %q lacks the reply", pub.Text)
		}
		if env.Echo {
			echo := in.WaitPost(t, waitTimeout, byID(ref.ID))
			if !echo.FromUs {
				t.Errorf("our own reply came back without FromUs: %+v", echo)
			}
		}

		fid := env.Reply(t, ref.ID, "an iPhone 12, still broken")
		fu := in.WaitPost(t, waitTimeout, byID(fid))
		if fu.InReplyTo != ref.ID {
			t.Errorf("follow-up InReplyTo = %q, want our reply %q", fu.InReplyTo, ref.ID)
		}
		if fu.ConversationKey() != first.ConversationKey() {
			t.Errorf("follow-up conversation %q, want the case's %q", fu.ConversationKey(), first.ConversationKey())
		}
		if !fu.ReplyToUs || fu.FromUs {
			t.Errorf("follow-up ReplyToUs=%v FromUs=%v, want true false", fu.ReplyToUs, fu.FromUs)
		}
		if fu.Author.ID != first.Author.ID {
			t.Errorf("follow-up author %q, want %q", fu.Author.ID, first.Author.ID)
		}

		// A reply deeper in the thread still belongs to the same conversation.
		ref2, err := env.Network.Publish(publishCtx(t), bridge.Reply{
			Case: "E-1", Network: env.Network.Name(), InReplyTo: fu.ID, InRef: fu.Ref,
			To: fu.Author, Text: "Thanks, we are on it.", IdempotencyKey: "suite-reply-2",
		})
		if err != nil {
			t.Fatalf("second Publish: %v", err)
		}
		if got := findPublished(t, env, ref2.ID); got.InReplyTo != fu.ID {
			t.Errorf("second reply answers %q, want %q", got.InReplyTo, fu.ID)
		}
		deep := in.WaitPost(t, waitTimeout, byID(env.Reply(t, ref2.ID, "ok")))
		if deep.ConversationKey() != first.ConversationKey() {
			t.Errorf("deep follow-up conversation %q, want %q", deep.ConversationKey(), first.ConversationKey())
		}
		checkOnce(t, in)
	})

	t.Run("Dedupe", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listen(t, env)
		var ids []string
		for i := range 5 {
			ids = append(ids, env.Mention(t, "complaint number "+strconv.Itoa(i)))
		}
		for _, id := range ids {
			in.WaitPost(t, waitTimeout, byID(id))
		}
		checkOnce(t, in)
	})

	t.Run("Reconnect", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		if env.Drop == nil {
			t.Skip("the fake cannot drop connections")
		}
		in := listen(t, env)
		var ids []string
		ids = append(ids, env.Mention(t, "before the drop"))
		in.WaitPost(t, waitTimeout, byID(ids[0]))
		env.Drop(t)
		// Posted while the stream may be down: must arrive through resume or gap fill.
		ids = append(ids, env.Mention(t, "during the drop"))
		env.Drop(t)
		ids = append(ids, env.Mention(t, "after the drop"))
		for _, id := range ids {
			in.WaitPost(t, waitTimeout, byID(id))
		}
		checkOnce(t, in)
	})

	t.Run("DirectMessage", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		if !env.DM {
			t.Skip("network has no DMs")
		}
		in := listen(t, env)
		first := in.WaitPost(t, waitTimeout, byID(env.Mention(t, "please call me back")))
		ref, err := env.Network.Publish(publishCtx(t), bridge.Reply{
			Case: "E-2", Network: env.Network.Name(), To: first.Author, Private: true,
			Text: "Could you send us your booking number here?", IdempotencyKey: "suite-dm-1",
		})
		if err != nil {
			t.Fatalf("Publish DM: %v", err)
		}
		pub := findPublished(t, env, ref.ID)
		if !pub.Direct {
			t.Errorf("DM published as %+v, want a direct message", pub)
		}
		if pub.To != first.Author.ID && pub.To != first.Author.Handle {
			t.Errorf("DM went to %q, want %q or %q", pub.To, first.Author.ID, first.Author.Handle)
		}
		if !strings.Contains(pub.Text, "booking number") {
			t.Errorf("DM text %q lacks the message", pub.Text)
		}
	})

	t.Run("TextLimits", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		l := env.Network.Limits()
		if l.Max <= 0 || l.Unit == "" {
			t.Fatalf("Limits() = %+v, want a positive Max and a Unit", l)
		}
		if n, _, _ := l.Check("hello", false); n != 5 {
			t.Errorf("Limits counts %q as %d, want 5", "hello", n)
		}
		in := listen(t, env)
		first := in.WaitPost(t, waitTimeout, byID(env.Mention(t, "limits")))
		l = env.Network.Limits() // a network may learn its server's limit when it connects
		reply := func(text, key string) (bridge.PostRef, error) {
			return env.Network.Publish(publishCtx(t), bridge.Reply{
				Case: "E-3", Network: env.Network.Name(), InReplyTo: first.ID, InRef: first.Ref,
				To: first.Author, Text: text, IdempotencyKey: key,
			})
		}
		exact := strings.Repeat("a", l.Max)
		if n, _, ok := l.Check(exact, false); !ok || n != l.Max {
			t.Fatalf("Check(%d x 'a') = %d, %v", l.Max, n, ok)
		}
		if _, err := reply(exact, "suite-limit-exact"); err != nil {
			t.Errorf("a reply of exactly the limit (%d %s) was refused: %v", l.Max, l.Unit, err)
		}
		_, err := reply(exact+"a", "suite-limit-over")
		pe := publishError(t, err)
		if pe != nil {
			if pe.Retryable {
				t.Errorf("over-limit text is retryable: %v", err)
			}
			if !strings.Contains(pe.Reason, strconv.Itoa(l.Max)) {
				t.Errorf("over-limit reason %q does not tell the limit %d", pe.Reason, l.Max)
			}
		}
		checkNoSecret(t, env, err)
	})

	t.Run("IdempotentPublish", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		idem, ok := env.Network.(bridge.Idempotent)
		if !ok || !idem.Idempotent() {
			t.Skip("network does not claim idempotent publication")
		}
		in := listen(t, env)
		first := in.WaitPost(t, waitTimeout, byID(env.Mention(t, "twice?")))
		r := bridge.Reply{Case: "E-5", Network: env.Network.Name(), InReplyTo: first.ID, InRef: first.Ref,
			To: first.Author, Text: "Only once, please", IdempotencyKey: "suite-idem-1"}
		a, err := env.Network.Publish(publishCtx(t), r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := env.Network.Publish(publishCtx(t), r)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range env.Published(t) {
			if strings.Contains(p.Text, "Only once, please") {
				n++
			}
		}
		if a.ID != b.ID || n != 1 {
			t.Errorf("two attempts with one key: ids %q and %q, %d publications; want one", a.ID, b.ID, n)
		}
	})

	t.Run("RetryClassification", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listen(t, env)
		first := in.WaitPost(t, waitTimeout, byID(env.Mention(t, "retry rules")))
		try := func(key string) error {
			_, err := env.Network.Publish(publishCtx(t), bridge.Reply{
				Case: "E-4", Network: env.Network.Name(), InReplyTo: first.ID, InRef: first.Ref,
				To: first.Author, Text: "Looking into it", IdempotencyKey: key,
			})
			checkNoSecret(t, env, err)
			return err
		}

		env.Fail(t, 429, 1, 3*time.Second)
		if pe := publishError(t, try("suite-retry-429")); pe != nil {
			if !pe.Retryable {
				t.Errorf("429 is not retryable: %v", pe)
			}
			if pe.RetryAfter <= 0 || pe.RetryAfter > 5*time.Second {
				t.Errorf("429 RetryAfter = %v, want about 3s as the platform said", pe.RetryAfter)
			}
		}
		for _, status := range []int{500, 502, 503} {
			env.Fail(t, status, 1, 0)
			if pe := publishError(t, try("suite-retry-"+strconv.Itoa(status))); pe != nil && !pe.Retryable {
				t.Errorf("HTTP %d is not retryable: %v", status, pe)
			}
		}
		for _, status := range []int{400, 401, 403, 404, 422} {
			env.Fail(t, status, 1, 0)
			if pe := publishError(t, try("suite-perm-"+strconv.Itoa(status))); pe != nil {
				if pe.Retryable {
					t.Errorf("HTTP %d is retryable: %v", status, pe)
				}
				if strings.TrimSpace(pe.Reason) == "" {
					t.Errorf("HTTP %d gives no reason for staff: %v", status, pe)
				}
			}
		}
		// Failures used up: the next attempt goes through.
		if err := try("suite-retry-ok"); err != nil {
			t.Errorf("publish after the failures: %v", err)
		}
	})
}

// publishError requires err to be a *bridge.PublishError and returns it.
func publishError(t *testing.T, err error) *bridge.PublishError {
	t.Helper()
	if err == nil {
		t.Errorf("Publish succeeded; want an error")
		return nil
	}
	var pe *bridge.PublishError
	if !errors.As(err, &pe) {
		t.Errorf("Publish error %T %v is not a *bridge.PublishError", err, err)
		return nil
	}
	return pe
}

// findPublished returns what the fake shows for id, failing if absent.
func findPublished(t *testing.T, env *NetworkEnv, id string) Published {
	t.Helper()
	for _, p := range env.Published(t) {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("post %q is not among what the fake shows as published: %+v", id, env.Published(t))
	return Published{}
}

// checkOnce fails when a post id was delivered more than once.
func checkOnce(t *testing.T, in *RecordingInbox) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range in.Posts() {
		seen[p.ID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("post %q delivered %d times", id, n)
		}
	}
}

// RecordingDesk is a minimal bridge.Desk for end-to-end network tests with
// the real core: it records cards, thread messages and marks, and never
// delivers anything itself. Safe for concurrent use.
type RecordingDesk struct {
	mu      sync.Mutex
	order   []string                   // thread ids in opening order
	threads map[string]bridge.CaseView // thread id -> latest card
	posts   map[string][]bridge.DeskMessage
	marks   map[string]bridge.Delivery // message id -> latest mark
	n       int
}

var _ bridge.Desk = (*RecordingDesk)(nil)

// NewRecordingDesk returns an empty desk named "rec".
func NewRecordingDesk() *RecordingDesk {
	return &RecordingDesk{threads: map[string]bridge.CaseView{}, posts: map[string][]bridge.DeskMessage{}, marks: map[string]bridge.Delivery{}}
}

// Name returns "rec".
func (d *RecordingDesk) Name() string { return "rec" }

// Listen blocks until ctx ends.
func (d *RecordingDesk) Listen(ctx context.Context, _ bridge.Inbox) error { <-ctx.Done(); return nil }

// OpenThread records the card and returns thread "T<n>".
func (d *RecordingDesk) OpenThread(_ context.Context, ch string, c bridge.CaseView) (bridge.ThreadRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	id := "T" + strconv.Itoa(d.n)
	d.threads[id] = c
	d.order = append(d.order, id)
	return bridge.ThreadRef{Desk: "rec", Channel: ch, ID: id}, nil
}

// UpdateCard records the card.
func (d *RecordingDesk) UpdateCard(_ context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.threads[t.ID] = c
	return nil
}

// Post records m in the thread.
func (d *RecordingDesk) Post(_ context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	d.posts[t.ID] = append(d.posts[t.ID], m)
	return bridge.MessageRef{Desk: "rec", Channel: t.Channel, Thread: t.ID, ID: "M" + strconv.Itoa(d.n)}, nil
}

// Mark records the delivery of a staff message.
func (d *RecordingDesk) Mark(_ context.Context, m bridge.MessageRef, s bridge.Delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks[m.ID] = s
	return nil
}

// Threads returns the thread ids in opening order.
func (d *RecordingDesk) Threads() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.order...)
}

// Card returns the latest card of thread id.
func (d *RecordingDesk) Card(id string) (bridge.CaseView, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.threads[id]
	return c, ok
}

// Messages returns what the bridge posted in thread id.
func (d *RecordingDesk) Messages(id string) []bridge.DeskMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bridge.DeskMessage(nil), d.posts[id]...)
}

// MarkOf returns the latest mark of staff message id.
func (d *RecordingDesk) MarkOf(id string) bridge.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.marks[id]
}

// HasMessage reports whether thread id shows a message containing text.
func (d *RecordingDesk) HasMessage(id, text string) bool {
	for _, m := range d.Messages(id) {
		if strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}
