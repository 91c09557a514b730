package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/earshot-dev/earshot/connectors"
)

// HTTP limits of the shared listener.
const (
	maxBodyBytes = 1 << 20 // 1 MiB: Slack, Discord and webhook payloads are far smaller
)

// listenerLimits bound what one connection may hold of the shared listener:
// a sender gets HeaderTimeout for its request line and headers, then
// BodyTimeout for the body, and an idle keep-alive connection is closed
// after IdleTimeout. Tests shorten them.
type listenerLimits struct {
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	IdleTimeout   time.Duration
	MaxHeader     int
}

// defaultLimits are the production bounds. A body of up to 1 MiB takes well
// under a second on any link Slack, Discord or a webhook sender use; ten
// seconds leaves room for a slow one and still cuts a sender that stalls.
var defaultLimits = listenerLimits{
	HeaderTimeout: 10 * time.Second,
	BodyTimeout:   10 * time.Second,
	IdleTimeout:   2 * time.Minute,
	MaxHeader:     64 << 10,
}

// newRegistry is a fresh Prometheus registry with the Go runtime and process
// collectors; bridge.NewMetrics registers the earshot_ metrics on it.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// newHandler is the shared listener's handler: /metrics from reg, /healthz
// (200 while the process serves), /readyz (200 when ready() says so, else
// 503; a JSON body says why, naming the connectors that are down) and every
// connector's routes. Bodies are bounded to maxBodyBytes. A route pattern
// that conflicts with another is an error naming both owners.
func newHandler(reg prometheus.Gatherer, ready func() readiness, mounts []connectors.Mount) (http.Handler, error) {
	mux := http.NewServeMux()
	owners := map[string]string{}
	handle := func(owner, pattern string, h http.Handler) (err error) {
		defer func() {
			// ServeMux panics on conflicting patterns; turn that into an error.
			if r := recover(); r != nil {
				err = fmt.Errorf("http: route %q from %s conflicts with another route: %v", pattern, owner, r)
			}
		}()
		if prev, ok := owners[pattern]; ok {
			return fmt.Errorf("http: route %q from %s is also mounted by %s", pattern, owner, prev)
		}
		owners[pattern] = owner
		mux.Handle(pattern, h)
		return nil
	}
	text := func(code int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			fmt.Fprintln(w, body)
		})
	}
	var errs []error
	errs = append(errs,
		handle("earshot", "GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})),
		handle("earshot", "GET /healthz", text(http.StatusOK, "ok")),
		handle("earshot", "GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			answer := ready()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			if answer.Ready {
				w.WriteHeader(http.StatusOK)
			} else {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(answer)
		})),
	)
	for _, m := range mounts {
		routes := m.Routes()
		patterns := make([]string, 0, len(routes))
		for p := range routes {
			patterns = append(patterns, p)
		}
		sort.Strings(patterns)
		for _, p := range patterns {
			if reserved(p) {
				errs = append(errs, fmt.Errorf("http: route %q from %s uses a path earshot serves itself", p, m.Name))
				continue
			}
			errs = append(errs, handle(m.Name, p, routes[p]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	bounded := http.MaxBytesHandler(mux, maxBodyBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A declared length over the bound is refused before a byte of
		// the body is read (a 50 MiB claim would otherwise just wait).
		if r.ContentLength > maxBodyBytes {
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", maxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		bounded.ServeHTTP(w, r)
	}), nil
}

// reserved reports whether a route pattern ("POST /metrics") names one of
// main's own paths.
func reserved(pattern string) bool {
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = strings.TrimSpace(pattern[i+1:])
	}
	switch strings.TrimSuffix(path, "/") {
	case "/metrics", "/healthz", "/readyz":
		return true
	}
	return false
}

// newServer wraps h with the listener's timeouts and limits (defaultLimits).
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return newServerWith(h, log, defaultLimits)
}

// newServerWith wraps h with the timeouts and limits of l. ReadTimeout
// bounds the whole request (headers and body); each request's body then
// gets its own deadline, BodyTimeout from when its handler starts, which
// the connectors' body reader (connectors/internal/httpbody) turns into a
// 408. Neither cuts what comes after the body: net/http lifts the read
// deadline once the body is read (at once for a request without one) and
// would otherwise cancel the request's context when it passed (a webhook
// post being journaled, the demo's live updates; TestDeadlinesSpareLongResponses).
// No WriteTimeout for the same reason; writers of long responses set
// their own write deadlines.
func newServerWith(h http.Handler, log *slog.Logger, l listenerLimits) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h, l.BodyTimeout),
		ReadHeaderTimeout: l.HeaderTimeout,
		ReadTimeout:       l.HeaderTimeout + l.BodyTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bodyDeadline gives each request's body d from now to arrive, by setting
// the read deadline of the connection the request came on, so it works per
// request, whatever the handler. (net/http lifts it when the body has been
// read to its end, as it starts watching the idle connection.)
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully: it
// stops taking connections and lets the requests in flight finish until
// the time stopBy gives (asked once ctx ended); those still running then
// are cut, which is not an error (the shutdown keeps to its budget). It
// blocks until the server stopped.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger, stopBy func() time.Time) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), stopBy())
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http: requests still in flight at the end of their share of the shutdown budget were cut")
		err = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}
