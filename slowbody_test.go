package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/webhook"
)

// testLimits are short enough for a test to wait them out many times.
var testLimits = listenerLimits{
	HeaderTimeout: 400 * time.Millisecond,
	BodyTimeout:   300 * time.Millisecond,
	IdleTimeout:   time.Second,
	MaxHeader:     64 << 10,
}

// startListener serves the real connectors' routes (Slack in http mode,
// Discord's interactions endpoint, the generic webhook), plus extra, on
// 127.0.0.1 with limits l, until the test ends.
func startListener(t *testing.T, l listenerLimits, extra map[string]http.Handler) string {
	t.Helper()
	set, err := connectors.Build(connectors.Config{
		Slack:   &slack.Config{BotToken: "xoxb-1", SigningSecret: "sign-secret", Mode: "http", APIURL: "http://127.0.0.1:1/api/"},
		Discord: &discord.Config{Token: "tok", GuildID: "1", ApplicationID: "2", PublicKey: strings.Repeat("ab", 32), APIURL: "http://127.0.0.1:1"},
		Webhook: &webhook.Config{Secret: "webhook-secret", ReplyURL: "http://127.0.0.1:1/r"},
	}, bridge.Deps{Logger: slog.New(slog.DiscardHandler), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mounts := set.Mounts
	if extra != nil {
		mounts = append(mounts, connectors.Mount{Name: "test", RouteMounter: routes(extra)})
	}
	h, err := newHandler(newRegistry(), readyWhen(func() bool { return true }), mounts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv := newServerWith(h, log, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, log, func() time.Time { return time.Now().Add(15 * time.Second) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// settle waits (bounded) until f() <= want, and returns the last value.
func settle(f func() int, want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		got := f()
		if got <= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Hundreds of senders that declare a body and then stall (or stall in
// their headers) are all cut, on every inbound route, with 408 for a body
// that did not arrive; the goroutines, open files and memory they held are
// given back. Before the body deadline every one of them was held until the
// sender gave up.
func TestSlowSendersAreCut(t *testing.T) {
	addr := startListener(t, testLimits, nil)
	// Warm up: one full request, so lazily started runtime pieces are in the baseline.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	baseG := settle(runtime.NumGoroutine, 0, 0)
	baseF := openFiles(t)
	baseM := liveHeap()

	paths := []string{"/slack/events", "/slack/commands", "/slack/interactive", discord.InteractionsPath, "/webhook/reviews"}
	const slowBodies, slowHeaders = 300, 30
	type outcome struct {
		status string // the status line, or "closed" when the server hung up without one
		took   time.Duration
		err    error
	}
	results := make([]outcome, slowBodies+slowHeaders)
	conns := make([]net.Conn, 0, slowBodies+slowHeaders)
	for i := range slowBodies + slowHeaders {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		var req string
		if i < slowBodies {
			req = fmt.Sprintf("POST %s HTTP/1.1\r\nHost: earshot\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":\"0123", paths[i%len(paths)])
		} else {
			req = "POST /webhook/reviews HTTP/1.1\r\nHost: earshot\r\nContent-Len"
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	peakG, peakF, peakM := runtime.NumGoroutine(), openFiles(t), liveHeap()
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		wg.Go(func() {
			// Generous: the deadline is 300 ms; a held connection would sit here until this passes.
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			took := time.Since(start)
			switch {
			case err == nil:
				results[i] = outcome{status: strings.TrimSpace(line), took: took}
			case err == io.EOF || isReset(err):
				results[i] = outcome{status: "closed", took: took}
			default:
				results[i] = outcome{err: err, took: took}
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("connection %d: not cut: %v after %v", i, r.err, r.took.Round(time.Millisecond))
		case i < slowBodies && r.status != "HTTP/1.1 408 Request Timeout":
			t.Errorf("slow body %d on %s: %q, want 408", i, paths[i%len(paths)], r.status)
		case i >= slowBodies && r.status != "closed" && !strings.HasPrefix(r.status, "HTTP/1.1 4"):
			t.Errorf("slow headers %d: %q, want the connection closed or a 4xx", i, r.status)
		}
	}
	endG := settle(runtime.NumGoroutine, baseG+5, 10*time.Second)
	endF := settle(func() int { return openFiles(t) }, baseF+5, 10*time.Second)
	endM := liveHeap()
	t.Logf("%d slow bodies and %d slow headers: goroutines %d → %d → %d, open files %d → %d → %d, live heap %d → %d → %d KiB",
		slowBodies, slowHeaders, baseG, peakG, endG, baseF, peakF, endF, baseM>>10, peakM>>10, endM>>10)
	if endM > baseM+2<<20 {
		t.Errorf("the live heap did not return to baseline: %d KiB, baseline %d KiB", endM>>10, baseM>>10)
	}
	if endG > baseG+5 {
		t.Errorf("goroutines did not return to baseline: %d, baseline %d", endG, baseG)
	}
	if endF > baseF+5 {
		t.Errorf("open files did not return to baseline: %d, baseline %d", endF, baseF)
	}
}

// liveHeap is the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // a second time: sync.Pool keeps what the first one spares
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// A declared Content-Length over the route's limit is refused at once,
// before any of the body is sent: over the listener's 1 MiB on every
// route, and over the webhook's own max_body on its route.
func TestDeclaredLengthOverLimitRefusedUpFront(t *testing.T) {
	t.Parallel()
	addr := startListener(t, defaultLimits, nil)
	cases := []struct {
		path   string
		length int
	}{
		{"/slack/events", 50 << 20},
		{"/slack/commands", 50 << 20},
		{"/slack/interactive", 50 << 20},
		{discord.InteractionsPath, 50 << 20},
		{"/webhook/reviews", 50 << 20},
		{"/webhook/reviews", 100_000}, // under 1 MiB, over the webhook's 64 KiB
		{"/nowhere", 50 << 20},
	}
	for _, tc := range cases {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: earshot\r\nContent-Length: %d\r\n\r\n", tc.path, tc.length)
		// The default body deadline is 10 s: an answer well before it was not waiting for the body.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 413") {
			t.Errorf("%s with Content-Length %d: %q %v, want 413 at once", tc.path, tc.length, line, err)
		}
	}
}

// The deadlines do not cut what comes after the body: a response to a
// request without a body (the demo's live updates) outlives ReadTimeout,
// and a handler still working long after reading its body (the sandbox's
// actions, a webhook post being journaled) keeps its context.
func TestDeadlinesSpareLongResponses(t *testing.T) {
	t.Parallel()
	hold := 2 * (testLimits.HeaderTimeout + testLimits.BodyTimeout) // well past ReadTimeout
	alive := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			io.WriteString(w, "context cancelled")
		case <-time.After(hold):
			io.WriteString(w, "alive")
		}
	}
	addr := startListener(t, testLimits, map[string]http.Handler{
		"GET /test/stream": http.HandlerFunc(alive),
		"POST /test/work": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			alive(w, r)
		}),
	})
	var wg sync.WaitGroup
	for _, c := range []struct {
		method, path string
		body         io.Reader
	}{{"GET", "/test/stream", nil}, {"POST", "/test/work", strings.NewReader(`{"a":1}`)}} {
		wg.Go(func() {
			req, _ := http.NewRequest(c.method, "http://"+addr+c.path, c.body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", c.method, c.path, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "alive" {
				t.Errorf("%s %s: %q after %v, want alive", c.method, c.path, b, hold)
			}
		})
	}
	wg.Wait()
}
