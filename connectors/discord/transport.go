package discord

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// rewriteHost sends requests for discord.com to another base URL (a fake),
// keeping their path: discordgo builds every endpoint from package-level
// variables, which must not be reassigned (a data race between sessions).
type rewriteHost struct {
	to   *url.URL
	base http.RoundTripper
}

// RoundTrip rewrites r's scheme and host (and prefixes the base path) when
// r is for discord.com; other requests pass unchanged.
func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "discord.com" {
		return t.base.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = t.to.Scheme, t.to.Host
	if p := strings.TrimSuffix(t.to.Path, "/"); p != "" {
		u.Path = p + u.Path
		u.RawPath = ""
	}
	r2.URL, r2.Host = &u, u.Host
	return t.base.RoundTrip(r2)
}

// dialWatch is the gateway dialer's NetDialContext: it remembers the
// connections dialed so that an Open stuck reading HELLO or READY can be
// cut short (discordgo's Open takes no context).
type dialWatch struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (w *dialWatch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	return c, nil
}

// take returns the connections dialed since the last take and forgets them.
func (w *dialWatch) take() []net.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := w.conns
	w.conns = nil
	return cs
}

// cut closes the connections dialed since the last take.
func (w *dialWatch) cut() {
	for _, c := range w.take() {
		_ = c.Close()
	}
}
