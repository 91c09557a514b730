// Package sandbox is the page `earshot demo` serves at /: a person posts
// as a customer on the fake networks ("Public") and works the cases as
// staff in the fake team chat ("Team chat"), with live updates.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary. Its
// JSON API only drives the demo world's fakes (demo.World), as people
// would through those platforms' own apps; Earshot sees nothing of the
// sandbox and reacts through its connectors. Every input is validated
// here and refused with a 4xx naming the problem; bodies are bounded;
// requests from other origins or host names are refused (the page has no
// login, so it listens on loopback only). Live updates are Server-Sent
// Events, bounded in number and lifetime, closed when the client leaves or
// the server shuts down (Shutdown).
package sandbox

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

//go:embed static
var static embed.FS

// Options tune a sandbox; zero values take the defaults.
type Options struct {
	// UndoWindow is Earshot's undo window, shown on pending replies.
	UndoWindow time.Duration
	// MaxStreams bounds concurrent live-update streams; default 32.
	MaxStreams int
	// StreamLife ends a live-update stream after this long (the browser
	// reconnects by itself); default 10m.
	StreamLife time.Duration
	// Heartbeat is the interval of keep-alive comments; default 15s.
	Heartbeat time.Duration
	// Coalesce is the least time between two change events of a stream;
	// default 150ms (a surge becomes a few refreshes a second, not hundreds).
	Coalesce time.Duration
	// AnyHost accepts any Host header (the demo exposed on purpose, in a
	// container); by default only loopback host names are, against DNS
	// rebinding. Requests from other origins are refused either way.
	AnyHost bool
	Logger  *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.UndoWindow <= 0 {
		o.UndoWindow = demo.DefaultUndoWindow
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 32
	}
	if o.StreamLife <= 0 {
		o.StreamLife = 10 * time.Minute
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Coalesce <= 0 {
		o.Coalesce = 150 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Sandbox serves the page and its API over a demo world.
type Sandbox struct {
	w    *demo.World
	opts Options

	ctx     context.Context // ends at Shutdown: live streams close
	stop    context.CancelFunc
	streams atomic.Int64
	active  sync.WaitGroup
}

// New makes a sandbox over w. Call Shutdown when the server stops.
func New(w *demo.World, o Options) *Sandbox {
	ctx, stop := context.WithCancel(context.Background())
	return &Sandbox{w: w, opts: o.withDefaults(), ctx: ctx, stop: stop}
}

// Shutdown ends every live-update stream and returns once they ended.
// It is safe to call more than once (http.Server.RegisterOnShutdown).
func (s *Sandbox) Shutdown() {
	s.stop()
	s.active.Wait()
}

// Request limits.
const (
	maxBody  = 16 << 10 // an action is a few short fields
	maxPosts = 100      // posts per timeline answer
	maxDMs   = 50
	maxCards = 60 // cards per channel answer
	maxNotes = 8  // private notices per answer
)

// Routes are the sandbox's routes, for the shared listener.
func (s *Sandbox) Routes() map[string]http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	r := map[string]http.Handler{
		"GET /{$}": http.HandlerFunc(s.index),
		"GET /static/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		}),

		"GET /api/cast":                                  http.HandlerFunc(s.cast),
		"GET /api/public/{network}":                      http.HandlerFunc(s.public),
		"GET /api/desk/{desk}/{channel}":                 http.HandlerFunc(s.channel),
		"GET /api/desk/{desk}/{channel}/thread/{thread}": http.HandlerFunc(s.thread),
		"GET /api/locate":                                http.HandlerFunc(s.locate),
		"GET /api/events":                                http.HandlerFunc(s.events),

		"POST /api/public/post": action(s.post),
		"POST /api/desk/say":    action(s.say),
		"POST /api/desk/edit":   action(s.edit),
		"POST /api/desk/delete": action(s.deleteMsg),
		"POST /api/desk/press":  action(s.press),
		"POST /api/desk/slash":  action(s.slash),
	}
	for p, h := range r {
		r[p] = guard(h, s.opts.AnyHost)
	}
	return r
}

// guard refuses requests that do not come from the page itself: a Host
// that is not loopback (DNS rebinding), a cross-site Origin or fetch (a
// page elsewhere posting to localhost), and sets the page's security headers.
func guard(h http.Handler, anyHost bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !anyHost && !loopbackHost(r.Host) {
			fail(w, http.StatusMisdirectedRequest, "the sandbox answers only on a loopback address (127.0.0.1 or localhost)")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			fail(w, http.StatusForbidden, "requests from other sites are refused")
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			fail(w, http.StatusForbidden, "requests from other sites are refused")
			return
		}
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Sandbox) index(w http.ResponseWriter, r *http.Request) {
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		fail(w, http.StatusInternalServerError, "the page is missing from this build")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

// status maps the world's errors to what the person did wrong.
func status(err error) int {
	switch {
	case errors.Is(err, demo.ErrNoSuchMessage), errors.Is(err, demo.ErrNoSuchPost):
		return http.StatusNotFound
	case errors.Is(err, demo.ErrNotYours):
		return http.StatusForbidden
	case errors.Is(err, demo.ErrNoSuchAction):
		return http.StatusConflict // the card changed since the page showed it
	case errors.Is(err, demo.ErrRefused), errors.Is(err, demo.ErrNotHere):
		return http.StatusUnprocessableEntity
	case errors.Is(err, demo.ErrUnreachable):
		return http.StatusBadGateway
	}
	return http.StatusBadRequest
}
