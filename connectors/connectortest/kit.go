package connectortest

// kit.go holds what connector tests share besides the suites: a stub
// network for end-to-end desk tests, a counting request observer, a log
// buffer for the logs a test reads while the connector writes them, and a
// test server for a connector's webhook routes.

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// StubNetwork is a minimal bridge.Network named "mastodon" for end-to-end
// desk tests with the real core: posts sent on Posts are delivered by
// Listen; replies are recorded and each answered as published at
// https://mastodon.social/@shop/r1 (post id "r1"). Safe for concurrent use.
type StubNetwork struct {
	// Posts carries the customers' posts for Listen to deliver.
	Posts chan bridge.Post

	mu   sync.Mutex
	sent []bridge.Reply
}

var _ bridge.Network = (*StubNetwork)(nil)

// NewStubNetwork returns a stub whose Posts has room for one post.
func NewStubNetwork() *StubNetwork { return &StubNetwork{Posts: make(chan bridge.Post, 1)} }

// Name returns "mastodon".
func (n *StubNetwork) Name() string { return "mastodon" }

// Listen delivers each post from Posts into in. It blocks until ctx ends
// (then returns nil) or in refuses a post (then returns its error).
func (n *StubNetwork) Listen(ctx context.Context, in bridge.Inbox) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-n.Posts:
			if err := in.Post(ctx, p); err != nil {
				return err
			}
		}
	}
}

// Publish records r and returns the fixed ref above.
func (n *StubNetwork) Publish(_ context.Context, r bridge.Reply) (bridge.PostRef, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, r)
	return bridge.PostRef{Network: "mastodon", ID: "r1", URL: "https://mastodon.social/@shop/r1"}, nil
}

// Limits allows 500 characters.
func (n *StubNetwork) Limits() bridge.TextLimits { return bridge.TextLimits{Max: 500} }

// Replies returns a copy of every reply published so far.
func (n *StubNetwork) Replies() []bridge.Reply {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]bridge.Reply(nil), n.sent...)
}

// RequestCounter is a bridge.RequestObserver that counts requests by
// "platform op outcome" ("slack chat.postMessage ok"). The zero value is
// ready. Safe for concurrent use.
type RequestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

var _ bridge.RequestObserver = (*RequestCounter)(nil)

// ObserveRequest counts one request.
func (c *RequestCounter) ObserveRequest(platform, op, outcome string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[platform+" "+op+" "+outcome]++
}

// Count returns how many requests were counted under key, "platform op outcome".
func (c *RequestCounter) Count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Total returns how many requests were counted under keys ending in suffix
// (" rate_limited": every rate-limited request of every op).
func (c *RequestCounter) Total(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.n {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// Counts returns a copy of every count, by key.
func (c *RequestCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// NopInbox takes every post and staff message and answers every command
// with nothing to show: an inbox for fuzz targets, which run a connector's
// whole path without recording (their memory stays flat).
type NopInbox struct{}

// Post takes p.
func (NopInbox) Post(context.Context, bridge.Post) error { return nil }

// StaffMessage takes m.
func (NopInbox) StaffMessage(context.Context, bridge.StaffMessage) error { return nil }

// Command answers with an empty response.
func (NopInbox) Command(context.Context, bridge.Invocation) bridge.Response { return bridge.Response{} }

// RunListen runs l.Listen(in) until tb ends (then waits for it to return)
// and waits, within 10 seconds, until ready reports true.
func RunListen(tb testing.TB, l interface {
	Listen(context.Context, bridge.Inbox) error
}, in bridge.Inbox, ready func() bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Listen(ctx, in) }()
	tb.Cleanup(func() { cancel(); <-done })
	WaitFor(tb, 10*time.Second, "the connector to listen", ready)
}

// LogBuffer keeps what is written to it (a logger's output) and can be read
// while writes go on, to check what was logged and that no secret was. The
// zero value is empty. Safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ServeRoutes serves m's routes (webhooks, interactions, events) on a
// loopback test server closed when the test ends.
func ServeRoutes(tb testing.TB, m bridge.RouteMounter) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	for pattern, h := range m.Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}
