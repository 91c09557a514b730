package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/webhook"
)

// readyWhen is a /readyz answer that follows ready alone.
func readyWhen(ready func() bool) func() readiness {
	return func() readiness { return readiness{Ready: ready(), Connectors: []bridge.HealthReport{}} }
}

// routes is a RouteMounter with fixed routes.
type routes map[string]http.Handler

func (r routes) Routes() map[string]http.Handler { return r }

func get(t *testing.T, h http.Handler, method, path string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, body))
	return rec
}

func TestHandlerEndpoints(t *testing.T) {
	reg := newRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "earshot_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	var ready atomic.Bool
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(b)
	})
	h, err := newHandler(reg, readyWhen(ready.Load), []connectors.Mount{{Name: "slack", RouteMounter: routes{"POST /slack/events": echo}}})
	if err != nil {
		t.Fatal(err)
	}

	if rec := get(t, h, "GET", "/healthz", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "ok") {
		t.Errorf("/healthz = %d %q", rec.Code, rec.Body)
	}
	if rec := get(t, h, "GET", "/readyz", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready = %d", rec.Code)
	}
	ready.Store(true)
	if rec := get(t, h, "GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("/readyz when ready = %d", rec.Code)
	}
	rec := get(t, h, "GET", "/metrics", nil)
	for _, want := range []string{"earshot_test_total 1", "go_goroutines", "process_"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if rec := get(t, h, "POST", "/slack/events", strings.NewReader("hello")); rec.Code != 200 || rec.Body.String() != "hello" {
		t.Errorf("connector route = %d %q", rec.Code, rec.Body)
	}
	big := strings.NewReader(strings.Repeat("x", maxBodyBytes+1))
	if rec := get(t, h, "POST", "/slack/events", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", rec.Code)
	}
	if rec := get(t, h, "GET", "/nothing", nil); rec.Code != 404 {
		t.Errorf("unknown path = %d", rec.Code)
	}
	if rec := get(t, h, "POST", "/healthz", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d", rec.Code)
	}
}

func TestHandlerRouteConflicts(t *testing.T) {
	ok := http.NotFoundHandler()
	_, err := newHandler(prometheus.NewRegistry(), readyWhen(func() bool { return true }), []connectors.Mount{
		{Name: "slack", RouteMounter: routes{"POST /hooks": ok}},
		{Name: "webhook", RouteMounter: routes{"POST /hooks": ok}},
	})
	if err == nil || !strings.Contains(err.Error(), `"POST /hooks" from webhook is also mounted by slack`) {
		t.Errorf("duplicate route: %v", err)
	}
	_, err = newHandler(prometheus.NewRegistry(), readyWhen(func() bool { return true }), []connectors.Mount{
		{Name: "slack", RouteMounter: routes{"GET /slack/{x}": ok}},
		{Name: "webhook", RouteMounter: routes{"GET /{y}/events": ok}},
	})
	if err == nil || !strings.Contains(err.Error(), `"GET /{y}/events" from webhook conflicts with another route`) {
		t.Errorf("conflicting route: %v", err)
	}
	_, err = newHandler(prometheus.NewRegistry(), readyWhen(func() bool { return true }), []connectors.Mount{
		{Name: "webhook", RouteMounter: routes{"POST /metrics": ok}},
	})
	if err == nil || !strings.Contains(err.Error(), `"POST /metrics" from webhook uses a path earshot serves itself`) {
		t.Errorf("reserved route: %v", err)
	}
}

// serve finishes in-flight requests on shutdown and then returns.
func TestServeGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv := newServer(h, log)
	if srv.ReadHeaderTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Errorf("server without header limits: %+v", srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, log, func() time.Time { return time.Now().Add(30 * time.Second) }) }()

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{string(b), err}
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("serve returned before the in-flight request finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if r := <-resc; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Errorf("listener still accepting after shutdown")
	}
}

// Every POST route the real connectors mount on the shared listener answers
// a body over the listener's limit with 413 (the listener bounds every
// body, TestHandlerEndpoints; the connectors bound theirs too, so this
// holds for each route as mounted).
func TestEveryConnectorRouteBoundsBodies(t *testing.T) {
	set, err := connectors.Build(connectors.Config{
		Slack:   &slack.Config{BotToken: "xoxb-1", SigningSecret: "sign-secret", Mode: "http", APIURL: "http://127.0.0.1:1/api/"},
		Discord: &discord.Config{Token: "tok", GuildID: "1", ApplicationID: "2", PublicKey: strings.Repeat("ab", 32), APIURL: "http://127.0.0.1:1"},
		Webhook: &webhook.Config{Secret: "webhook-secret", ReplyURL: "http://127.0.0.1:1/r"},
	}, bridge.Deps{Logger: slog.New(slog.DiscardHandler), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(newRegistry(), readyWhen(func() bool { return true }), set.Mounts)
	if err != nil {
		t.Fatal(err)
	}
	var tried []string
	for _, m := range set.Mounts {
		for p := range m.Routes() {
			method, path, _ := strings.Cut(p, " ")
			if method != http.MethodPost {
				continue
			}
			path = strings.ReplaceAll(path, "{source}", "reviews")
			rec := get(t, h, method, path, strings.NewReader(strings.Repeat("x", maxBodyBytes+1)))
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s with %d bytes = %d %q, want 413", m.Name, p, maxBodyBytes+1, rec.Code, rec.Body)
			}
			tried = append(tried, m.Name+" "+p)
		}
	}
	sort.Strings(tried)
	want := []string{"discord POST /discord/interactions", "slack POST /slack/commands", "slack POST /slack/events",
		"slack POST /slack/interactive", "webhook POST /webhook/{source}"}
	if !slices.Equal(tried, want) {
		t.Errorf("routes tried %q, want %q", tried, want)
	}
}
