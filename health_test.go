package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Finding 5, end to end: Slack refusing the bot token makes earshot
// unready once the grace passed, with a JSON body naming slack and why,
// while /healthz stays 200 (the process is fine) and earshot_connector_up
// says 0; the token working again makes it ready and up.
func TestReadyzNamesADownConnector(t *testing.T) {
	t.Parallel()
	sf := careSlack(t)
	token := sf.Options().BotToken
	sf.SetTokens("xoxb-rotated-by-an-admin", "")
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
health: {grace: 200ms}
queues: [{name: care, desk: slack, channel: C1}]
staff: [{desk: slack, user: U1, role: agent}]
slack:
  bot_token: `+token+`
  app_token: `+sf.Options().AppToken+`
  api_url: `+sf.APIURL()+`
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfg, "--data", filepath.Join(t.TempDir(), "data")}, &stdout, &logs)
	}()
	base := "http://" + listenAddr(t, &logs, done)
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	var answer readiness
	waitFor(t, func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && json.Unmarshal([]byte(body), &answer) == nil && len(answer.Down) == 1
	})
	if d := answer.Down[0]; d.Connector != "slack" || d.State != bridge.HealthDown || !strings.Contains(d.Reason, "invalid_auth") || answer.Ready {
		t.Errorf("/readyz = %+v, want slack down with its reason", answer)
	}
	if strings.Contains(answer.Reason+answer.Down[0].Reason, token) {
		t.Error("/readyz shows the token")
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while only a connector is down", code)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{`earshot_connector_up{connector="slack"} 0`, `earshot_connector_last_error_timestamp_seconds{connector="slack"} 1`, `earshot_build_info{goversion="go`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	sf.SetTokens(token, "")
	waitFor(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `earshot_connector_up{connector="slack"} 1`) {
		t.Error("slack is ready but not up in the metrics")
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("run = %d\n%s", code, logs.String())
	}
}

// The board: a required connector counts once it was down for the grace;
// one not required never does; degraded is up for the metric and readiness.
func TestHealthBoard(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	h := newHealthBoard(time.Minute, []string{"slack", "x"}, func(s string) string { return strings.ReplaceAll(s, "s3cret", "[REDACTED]") }, clock)
	ready := readinessOf(func() bool { return true }, nil, h)
	h.Report("slack", bridge.HealthDown, "auth.test: invalid_auth for s3cret")
	h.Report("mastodon", bridge.HealthDown, "refused")
	h.Report("x", bridge.HealthDegraded, "keyword stream down")
	if r := ready(); !r.Ready {
		t.Errorf("not ready before the grace passed: %+v", r)
	}
	now = now.Add(30 * time.Second)
	h.Report("slack", bridge.HealthDown, "auth.test: invalid_auth for s3cret") // the same state again: Since stays
	now = now.Add(31 * time.Second)
	r := ready()
	if r.Ready || len(r.Down) != 1 || r.Down[0].Connector != "slack" || !strings.Contains(r.Down[0].Reason, "[REDACTED]") {
		t.Errorf("after the grace: %+v, want slack (only: mastodon is not required, x is degraded)", r)
	}
	h.Report("slack", bridge.HealthUp, "")
	if r := ready(); !r.Ready {
		t.Errorf("slack up again, still not ready: %+v", r)
	}
	if r := readinessOf(func() bool { return false }, nil, h)(); r.Ready || !strings.Contains(r.Reason, "not running") {
		t.Errorf("a stopped bridge is ready: %+v", r)
	}
	all := newHealthBoard(0, nil, nil, clock)
	all.Report("webhook", bridge.HealthDown, "x")
	if r := readinessOf(func() bool { return true }, nil, all)(); r.Ready {
		t.Error("without health.required every connector is required")
	}
}
