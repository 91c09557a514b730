package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// runAsEarshot, set in a child's environment, makes the test binary run
// main() with its arguments: the real process, signals included.
const runAsEarshot = "EARSHOT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsEarshot) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe to read while run writes logs into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the CLI in-process.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeConfig writes a config file into a temp dir and returns its path.
func writeConfig(t *testing.T, yml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "earshot.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliSecret = "xoxb-cli-secret-token-42"

func validConfig(listen string) string {
	return `listen: "` + listen + `"
log: {format: json, level: debug}
queues:
  - {name: care, desk: slack, channel: C1}
staff:
  - {desk: slack, user: U1, role: lead}
slack:
  bot_token: ` + cliSecret + `
`
}

func TestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"help"}, exitOK, "earshot run --config FILE"},
		{[]string{"help", "check"}, exitOK, "--offline"},
		{[]string{"run"}, exitUsage, "--config FILE is required"},
		{[]string{"run", "--nope"}, exitUsage, "flag provided but not defined: -nope"},
		{[]string{"run", "-h"}, exitOK, "Usage: earshot run --config FILE"},
		{[]string{"check", "--config", "x", "extra"}, exitUsage, "unexpected arguments: extra"},
		{[]string{"discord"}, exitUsage, "earshot discord register"},
		{[]string{"discord", "nope"}, exitUsage, `unknown subcommand "nope"`},
		{[]string{"discord", "register"}, exitUsage, "--config FILE is required"},
	} {
		code, stdout, stderr := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.out) {
			t.Errorf("earshot %v = %d\nstdout: %s\nstderr: %s\nwant %d and %q", tc.args, code, stdout, stderr, tc.code, tc.out)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	code, out, _ := cli(t, "version")
	if code != 0 || !strings.HasPrefix(out, "earshot devel") {
		t.Errorf("version = %d %q", code, out)
	}
	old := version
	version = "v1.2.3"
	t.Cleanup(func() { version = old })
	if _, out, _ := cli(t, "version"); !strings.HasPrefix(out, "earshot v1.2.3 (go") {
		t.Errorf("stamped version: %q", out)
	}
}

func TestCLIDemoRegistrationPoint(t *testing.T) {
	// The demo has landed (demo_test.go tests it); without flags it would
	// serve until interrupted, so only its help is asked for here.
	code, _, stderr := cli(t, "demo", "-h")
	if code != exitOK || !strings.Contains(stderr, "earshot demo") {
		t.Errorf("demo -h = %d %q", code, stderr)
	}
}

func TestCLICheck(t *testing.T) {
	good := writeConfig(t, validConfig("127.0.0.1:0")+"  app_token: xapp-cli-app-token\n")
	code, out, errOut := cli(t, "check", "--offline", "--config", good)
	if code != exitOK || !strings.Contains(out, "config is valid (1 queues") {
		t.Errorf("check --offline valid = %d\n%s\n%s", code, out, errOut)
	}

	bad := writeConfig(t, `queues:
  - name: care
    desk: slack
    sla: {first_response: 5x}
listen: ${EARSHOT_TEST_UNSET_VAR}
slack: {bot_token: `+cliSecret+`}
`)
	code, out, errOut = cli(t, "check", "--config", bad)
	if code != exitFail {
		t.Errorf("check invalid = %d", code)
	}
	for _, want := range []string{
		bad + ":4: queues[0].sla.first_response: invalid duration \"5x\"",
		bad + ":5: listen: environment variable EARSHOT_TEST_UNSET_VAR is not set",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s%s", want, out, errOut)
		}
	}

	bad = writeConfig(t, "queues:\n  - name: care\n    desk: slack\nslack: {}\n")
	_, _, errOut = cli(t, "check", "--config", bad)
	if !strings.Contains(errOut, bad+":2: queues[0].channel: required") {
		t.Errorf("validate error not located:\n%s", errOut)
	}

	if code, _, errOut := cli(t, "check", "--config", filepath.Join(t.TempDir(), "none.yaml")); code != exitFail || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file = %d %q", code, errOut)
	}
}

// checker is a connector fake for `earshot check`.
type checker struct{ err error }

func (c checker) Check(ctx context.Context) error { return c.err }

func TestCLICheckReachesPlatforms(t *testing.T) {
	// The real Slack connector, pointed at a loopback port where nothing
	// listens: the check fails, names the connector, and hides the token.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + ln.Addr().String() + "/api/"
	ln.Close()
	unreachable := writeConfig(t, validConfig("127.0.0.1:0")+"  app_token: xapp-cli-app-token\n  api_url: "+nowhere+"\n")
	code, out, errOut := cli(t, "check", "--config", unreachable, "--timeout", "5s")
	if code != exitFail || !strings.Contains(out, "FAIL slack: ") {
		t.Errorf("check with Slack unreachable = %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, cliSecret) {
		t.Errorf("secret leaked in check output:\n%s%s", out, errOut)
	}

	cfg := writeConfig(t, validConfig("127.0.0.1:0"))

	withConnectors(t, func(cfg connectors.Config, deps bridge.Deps) (*connectors.Set, error) {
		return &connectors.Set{
			Checks: []connectors.Check{
				{Name: "slack", Checker: checker{errors.New("auth.test: invalid_auth for token " + cliSecret)}},
				{Name: "mastodon", Checker: checker{}},
			},
			Unchecked: []string{"webhook"},
		}, nil
	})
	code, out, errOut = cli(t, "check", "--config", cfg)
	if code != exitFail {
		t.Errorf("check with a failing platform = %d", code)
	}
	for _, want := range []string{"FAIL slack: auth.test: invalid_auth for token [REDACTED]", "ok   mastodon", "skip webhook"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, cliSecret) {
		t.Errorf("secret leaked in check output:\n%s%s", out, errOut)
	}
}

func withConnectors(t *testing.T, f func(connectors.Config, bridge.Deps) (*connectors.Set, error)) {
	old := buildConnectors
	buildConnectors = f
	t.Cleanup(func() { buildConnectors = old })
}

func withEngine(t *testing.T, f func(bridge.Config, string, *connectors.Set, bridge.RequestObserver, *slog.Logger) (engine, error)) {
	old := newEngine
	newEngine = f
	t.Cleanup(func() { newEngine = old })
}

// fakeEngine stands in for the bridge: ready once Run started, returns when ctx ends.
type fakeEngine struct {
	ready   atomic.Bool
	stopped chan struct{}
	fail    error
}

func (e *fakeEngine) Run(ctx context.Context) error {
	defer close(e.stopped)
	if e.fail != nil {
		return e.fail
	}
	e.ready.Store(true)
	<-ctx.Done()
	e.ready.Store(false)
	return nil
}

func (e *fakeEngine) Ready() bool { return e.ready.Load() }

func (e *fakeEngine) StopBy(time.Time) {}

// listenAddr waits for the "listening" log line and returns its address.
func listenAddr(t *testing.T, logs *syncBuffer, done <-chan int) string {
	t.Helper()
	deadline := time.After(30 * time.Second) // a loaded CI machine; a replica first joins its NATS cluster
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		select {
		case code := <-done:
			t.Fatalf("run exited with %d before listening:\n%s", code, logs.String())
		case <-deadline:
			t.Fatalf("no listening line:\n%s", logs.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCLIRunServesAndShutsDown(t *testing.T) {
	eng := &fakeEngine{stopped: make(chan struct{})}
	withConnectors(t, func(cfg connectors.Config, deps bridge.Deps) (*connectors.Set, error) {
		if deps.Logger == nil || deps.Requests == nil || deps.DataDir == "" || deps.Now == nil {
			t.Errorf("connectors got incomplete deps: %+v", deps)
		}
		return &connectors.Set{Mounts: []connectors.Mount{{Name: "slack", RouteMounter: routes{
			"POST /slack/events": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "evt") }),
		}}}}, nil
	})
	var gotCfg bridge.Config
	var gotDir string
	withEngine(t, func(c bridge.Config, dir string, set *connectors.Set, m bridge.RequestObserver, log *slog.Logger) (engine, error) {
		gotCfg, gotDir = c, dir
		log.Info("engine built", "token", cliSecret, "err", errors.New("oops "+cliSecret))
		return eng, nil
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, validConfig("127.0.0.1:0"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg, "--data", dataDir}, &stdout, &logs) }()
	addr := listenAddr(t, &logs, done)
	base := "http://" + addr

	waitFor(t, func() bool { return eng.Ready() })
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !strings.Contains(string(body), "go_goroutines") {
			t.Errorf("/metrics lacks the Go collector")
		}
	}
	resp, err := http.Post(base+"/slack/events", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "evt" {
		t.Errorf("connector route answered %q", body)
	}

	cancel() // SIGINT/SIGTERM
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run = %d after a signal\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	<-eng.stopped
	if gotDir != dataDir || len(gotCfg.Queues) != 1 || gotCfg.Staff[0].Role != bridge.RoleLead {
		t.Errorf("engine got dir %q cfg %+v", gotDir, gotCfg)
	}
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		t.Errorf("data dir not created: %v", err)
	}
	out := logs.String()
	if strings.Contains(out, cliSecret) {
		t.Errorf("secret in logs:\n%s", out)
	}
	for _, want := range []string{`"msg":"engine built"`, `"msg":"earshot stopped"`, `"token":"[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

func TestCLIRunFailures(t *testing.T) {
	cfg := writeConfig(t, validConfig("127.0.0.1:0"))
	dataDir := t.TempDir()

	// The bridge stops by itself with an error: the listener stops too, exit 1.
	withConnectors(t, func(connectors.Config, bridge.Deps) (*connectors.Set, error) { return &connectors.Set{}, nil })
	withEngine(t, func(bridge.Config, string, *connectors.Set, bridge.RequestObserver, *slog.Logger) (engine, error) {
		return &fakeEngine{stopped: make(chan struct{}), fail: errors.New("journal corrupt at offset 42")}, nil
	})
	code, _, logs := cli(t, "run", "--config", cfg, "--data", dataDir)
	if code != exitFail || !strings.Contains(logs, "bridge: journal corrupt at offset 42") {
		t.Errorf("bridge failure: %d\n%s", code, logs)
	}

	// Connectors fail to build: exit 1, the error names them, no secret.
	withConnectors(t, func(connectors.Config, bridge.Deps) (*connectors.Set, error) {
		return nil, errors.New("slack: bad token " + cliSecret)
	})
	code, _, logs = cli(t, "run", "--config", cfg, "--data", dataDir)
	if code != exitFail || !strings.Contains(logs, "connectors: slack: bad token [REDACTED]") || strings.Contains(logs, cliSecret) {
		t.Errorf("connector failure: %d\n%s", code, logs)
	}

	// The address is taken.
	withConnectors(t, func(connectors.Config, bridge.Deps) (*connectors.Set, error) { return &connectors.Set{}, nil })
	withEngine(t, func(bridge.Config, string, *connectors.Set, bridge.RequestObserver, *slog.Logger) (engine, error) {
		return &fakeEngine{stopped: make(chan struct{})}, nil
	})
	code, _, logs = cli(t, "run", "--config", writeConfig(t, validConfig("256.0.0.1:99999")), "--data", dataDir)
	if code != exitFail || !strings.Contains(logs, "http:") {
		t.Errorf("bad listen address: %d\n%s", code, logs)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// `earshot slack manifest` prints the manifest for the configured mode.
func TestCLISlackManifest(t *testing.T) {
	socket := writeConfig(t, validConfig("127.0.0.1:0")+"  app_token: xapp-1\n")
	code, out, stderr := cli(t, "slack", "manifest", "--config", socket)
	if code != exitOK || !strings.Contains(out, "socket_mode_enabled: true") || !strings.Contains(out, "command: /claim") {
		t.Errorf("socket manifest = %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out+stderr, cliSecret) {
		t.Error("the manifest shows the bot token")
	}
	http := writeConfig(t, validConfig("127.0.0.1:0")+"  mode: http\n  signing_secret: s3cret\n")
	if code, _, stderr := cli(t, "slack", "manifest", "--config", http); code != exitFail || !strings.Contains(stderr, "public URL") {
		t.Errorf("http manifest without a URL = %d %q", code, stderr)
	}
	code, out, _ = cli(t, "slack", "manifest", "--config", http, "--public-url", "https://earshot.example.com/")
	if code != exitOK || !strings.Contains(out, "https://earshot.example.com/slack/events") {
		t.Errorf("http manifest = %d\n%s", code, out)
	}
	noSlack := writeConfig(t, `queues: [{name: care, desk: slack, channel: C1}]`+"\n")
	if code, _, stderr := cli(t, "slack", "manifest", "--config", noSlack); code == exitOK {
		t.Errorf("a config without slack: %d %q", code, stderr)
	}
	if code, _, stderr := cli(t, "slack", "nope"); code != exitUsage || !strings.Contains(stderr, "unknown subcommand") {
		t.Errorf("slack nope = %d %q", code, stderr)
	}
}

// careSlack starts a Slack fake (stopped with the test) with the channel
// C1, "care", that the process tests' configs queue to.
func careSlack(t *testing.T) *slackfake.Fake {
	t.Helper()
	sf, err := slackfake.New(slackfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sf.Close() })
	sf.AddChannel("C1", "care")
	return sf
}
