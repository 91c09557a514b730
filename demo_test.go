package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/demo"
	"github.com/earshot-dev/earshot/demo/sandbox"
)

func TestDemoRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--addr", "0.0.0.0:8080"}, "--expose allows it"},
		{[]string{"--addr", ":8080"}, "not a loopback"},
		{[]string{"--addr", "example.com:80"}, "not a loopback"},
		{[]string{"--exit-after", "-1s"}, "--exit-after"},
		{[]string{"--undo-window", "-5s"}, "--undo-window"},
		{[]string{"--scale", "0"}, "--scale"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		code, _, stderr := cli(t, append([]string{"demo"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.says) {
			t.Errorf("demo %v = %d, stderr %q; want %d saying %q", tc.args, code, stderr, exitUsage, tc.says)
		}
	}
	if code, _, stderr := cli(t, "demo", "-h"); code != exitOK || !strings.Contains(stderr, demoSynopsis) {
		t.Errorf("demo -h = %d %q", code, stderr)
	}
}

func TestDemoRefusesANonEmptyDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "journal.log"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli(t, "demo", "--addr", "127.0.0.1:0", "--data", dir)
	if code != exitFail || !strings.Contains(stderr, "not empty") {
		t.Errorf("demo --data non-empty = %d %q", code, stderr)
	}
}

// The demo's config is an ordinary config: it passes every check of
// `earshot run`, builds every connector, and its routes and the
// sandbox's share the listener without conflict.
func TestDemoConfigIsAnOrdinaryConfig(t *testing.T) {
	w, err := demo.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(t.TempDir(), "earshot.yaml")
	raw := w.Config(demo.ConfigOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), UndoWindow: demo.DefaultUndoWindow})
	lc, err := parseConfig(path, raw, func(string) (string, bool) { return "", false }, os.ReadFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	p, err := prepareLoaded(lc)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if len(p.Bridge.Queues) != len(demo.Channels) || p.Bridge.UndoWindow != demo.DefaultUndoWindow || !p.Bridge.UndoWindowSet {
		t.Errorf("bridge config %+v", p.Bridge)
	}
	set, err := connectors.Build(p.File.Connectors, bridge.Deps{Logger: slog.New(slog.DiscardHandler), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Desks) != 2 || len(set.Networks) != 4 {
		t.Errorf("built %d desks and %d networks", len(set.Desks), len(set.Networks))
	}
	sb := sandbox.New(w, sandbox.Options{})
	defer sb.Shutdown()
	if _, err := newHandler(newRegistry(), readyWhen(func() bool { return true }),
		append(set.Mounts, connectors.Mount{Name: "sandbox", RouteMounter: sb})); err != nil {
		t.Errorf("routes: %v", err)
	}
}

var openLine = regexp.MustCompile(`open (http://127\.0\.0\.1:[0-9]+/)`)

// The serving path without the core (a stand-in engine): the sandbox is at
// /, /readyz waits for the seed (which needs the connectors listening),
// and a signal ends everything, a live-update stream included.
func TestDemoServesTheSandboxAndStops(t *testing.T) {
	eng := &fakeEngine{stopped: make(chan struct{})}
	withEngine(t, func(bridge.Config, string, *connectors.Set, bridge.RequestObserver, *slog.Logger) (engine, error) {
		return eng, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--exit-after", "2m"}, &stdout, &stderr)
	}()
	var base string
	waitFor(t, func() bool {
		m := openLine.FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "Earshot sandbox") {
		t.Errorf("GET / = %d %.100s", code, body)
	}
	waitFor(t, eng.Ready)
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the seed = %d, want 503", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	resp, err := http.Get(base + "api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); !strings.HasPrefix(line, "retry:") {
		t.Errorf("the live stream starts with %q", line)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("demo = %d\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the demo did not stop:\n%s", stderr.String())
	}
}

// A directory an earlier demo used is emptied and used again (compose
// restarts the demo on its volume), unless a demo runs on it right now.
func TestDemoReusesAnEarlierDemosDataDir(t *testing.T) {
	dir := t.TempDir()
	got, cleanup, err := demoDataDir(dir)
	if err != nil || got != dir {
		t.Fatalf("demoDataDir(new) = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "journal.log"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := demoDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second demo on a live demo's dir: %v", err)
	}
	cleanup()
	_, cleanup, err = demoDataDir(dir)
	if err != nil {
		t.Fatalf("an earlier demo's dir: %v", err)
	}
	defer cleanup()
	if _, err := os.Stat(filepath.Join(dir, "journal.log")); !os.IsNotExist(err) {
		t.Errorf("the earlier demo's journal is still there (%v)", err)
	}
}
