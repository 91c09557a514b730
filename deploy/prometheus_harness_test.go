package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// promServer is a real Prometheus process on loopback, killed by t.Cleanup.
type promServer struct {
	URL string
	out *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // bounded: enough to explain a failure
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus starts prometheus scraping target ("127.0.0.1:port") as
// job "earshot" every second and evaluating deploy/prometheus/alerts.yml
// every second, with its storage in a temp dir. It returns once Prometheus
// is ready.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	rules := filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yml")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: earshot
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var ps *promServer
	// The port may be taken between freePort and prometheus binding it: retry.
	for attempt := 0; attempt < 3 && ps == nil; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		out := &lockedBuffer{}
		cmd := exec.Command(bin,
			"--config.file="+cfgPath,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start prometheus: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { stopProcess(cmd, done) })
		if waitReady(done, "http://"+addr+"/-/ready", 30*time.Second) {
			ps = &promServer{URL: "http://" + addr, out: out}
			continue
		}
		stopProcess(cmd, done)
		t.Logf("prometheus on %s did not become ready (attempt %d):\n%s", addr, attempt+1, out)
	}
	if ps == nil {
		t.Fatal("prometheus did not start")
	}
	return ps
}

// stopProcess sends SIGTERM, waits up to 5 s, then kills.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(exited <-chan struct{}, url string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// queryResult is the part of /api/v1/query's answer the tests read.
type queryResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

// query runs an instant query. A rejected query comes back with Status
// "error" and the reason, not as a Go error.
func (p *promServer) query(ctx context.Context, q string) (queryResult, error) {
	var r queryResult
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/api/v1/query",
		strings.NewReader(url.Values{"query": {q}}.Encode()))
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("query %q: HTTP %d: %s", q, resp.StatusCode, body)
	}
	return r, nil
}

// scalar runs a query expected to return one sample and returns its value
// (0 when empty).
func (p *promServer) scalar(ctx context.Context, q string) (float64, error) {
	r, err := p.query(ctx, q)
	if err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, nil
	}
	var s struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result[0], &s); err != nil {
		return 0, err
	}
	str, _ := s.Value[1].(string)
	return strconv.ParseFloat(str, 64)
}

// waitScrapes waits until Prometheus has scraped job earshot successfully at
// least n times, bounded by timeout.
func (p *promServer) waitScrapes(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var last float64
	for time.Now().Before(deadline) {
		v, err := p.scalar(ctx, `sum(sum_over_time(up{job="earshot"}[5m]))`)
		if err == nil && v >= float64(n) {
			return
		}
		last = v
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("prometheus scraped earshot successfully %v times in %v, want %d\nprometheus log:\n%s", last, timeout, n, p.out)
}

// rulesHealth waits for every rule group to have been evaluated once and
// returns the rules whose last evaluation was not healthy.
func (p *promServer) rulesHealth(t *testing.T, timeout time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(p.URL + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		bad := map[string]string{}
		pending := false
		n := 0
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				n++
				switch rule.Health {
				case "ok":
				case "unknown":
					pending = true
				default:
					bad[rule.Name] = rule.Health + ": " + rule.LastError
				}
			}
		}
		if n == 0 {
			t.Fatal("prometheus loaded no rules from alerts.yml")
		}
		if !pending || time.Now().After(deadline) {
			if pending {
				t.Errorf("some rules were never evaluated in %v", timeout)
			}
			return bad
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// dashboardQuery turns a dashboard expression into plain PromQL: the
// variables become "all" (.*) and Grafana's interval macros fixed windows
// that hold several 1 s scrapes.
func dashboardQuery(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m",
		"$__interval", "5s",
		"$__range", "5m",
		"${queue}", ".*",
		"$queue", ".*",
		"${network}", ".*",
		"$network", ".*",
	).Replace(expr)
}

// checkQueries runs every dashboard and alert expression through
// Prometheus: each must be accepted, and each dashboard query must return
// data.
func checkQueries(t *testing.T, p *promServer) {
	t.Helper()
	ctx := context.Background()
	dash, _ := dashboardExprs(t)
	alerts, _ := alertExprs(t)
	for name, expr := range dash {
		q := dashboardQuery(expr)
		if strings.Contains(q, "$") {
			t.Errorf("dashboard %s: an unknown variable is left in %q", name, q)
			continue
		}
		r, err := p.query(ctx, q)
		switch {
		case err != nil:
			t.Errorf("dashboard %s: %v", name, err)
		case r.Status != "success":
			t.Errorf("dashboard %s: Prometheus rejected %q: %s: %s", name, q, r.ErrorType, r.Error)
		case len(r.Data.Result) == 0:
			t.Errorf("dashboard %s: no data for %q", name, q)
		default:
			t.Logf("dashboard %s: %d series", name, len(r.Data.Result))
		}
	}
	for name, expr := range alerts {
		r, err := p.query(ctx, expr)
		switch {
		case err != nil:
			t.Errorf("alerts.yml %s: %v", name, err)
		case r.Status != "success":
			t.Errorf("alerts.yml %s: Prometheus rejected %q: %s: %s", name, expr, r.ErrorType, r.Error)
		default:
			t.Logf("alerts.yml %s: accepted, %d series now", name, len(r.Data.Result))
		}
	}
	for name, health := range p.rulesHealth(t, 10*time.Second) {
		t.Errorf("rule %s evaluates badly in Prometheus: %s", name, health)
	}
}

// checkMetricsText runs `promtool check metrics` on a live /metrics.
func checkMetricsText(t *testing.T, metricsURL string) {
	t.Helper()
	bin := needTool(t, "promtool")
	client := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4") // the format promtool reads
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", metricsURL, err, resp.Status)
	}
	if !bytes.Contains(body, []byte("earshot_")) {
		t.Errorf("%s serves no earshot_ metric", metricsURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on %s: %v\n%s", metricsURL, err, out)
	}
}
