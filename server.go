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
	maxBodyBytes      = 1 << 20 // 1 MiB: Slack, Discord and webhook payloads are far smaller
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

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
	return http.MaxBytesHandler(mux, maxBodyBytes), nil
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

// newServer wraps h with the listener's timeouts and limits.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		// No ReadTimeout or WriteTimeout: net/http cancels a request's
		// context when ReadTimeout passes, which would cut long-lived
		// responses (the demo's live updates). Bodies are bounded in size
		// instead, and connectors read them under their own deadlines.
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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
