package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Item 8: a secret whose environment variable is set but empty is an
// error with its line at `check --offline` (run failed later without one).
func TestEmptySecretFromEnvIsAnErrorWithItsLine(t *testing.T) {
	got := parseErr(t, `queues:
  - {name: care, desk: slack, channel: C1}
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  app_token: xapp-literal-1
`, env("SLACK_BOT_TOKEN", ""), files())
	if want := `/cfg/earshot.yaml:4: slack.bot_token: environment variable SLACK_BOT_TOKEN is set but empty`; !strings.Contains(got, want) {
		t.Errorf("errors:\n%s\nwant a line containing:\n%s", got, want)
	}
	// The same variable empty in a key that is no secret is fine.
	mustParse(t, "case_id_prefix: R${EMPTY}\n"+minimalYAML, env("EMPTY", ""), files())

	// The CLI says it too, offline.
	path := writeConfig(t, "queues: [{name: care, desk: slack, channel: C1}]\nslack:\n  bot_token: ${EARSHOT_TEST_EMPTY_TOKEN}\n")
	t.Setenv("EARSHOT_TEST_EMPTY_TOKEN", "")
	code, _, errOut := cli(t, "check", "--offline", "--config", path)
	if code != exitFail || !strings.Contains(errOut, path+":3: slack.bot_token:") {
		t.Errorf("check --offline with an empty secret = %d\n%s", code, errOut)
	}
}

// Item 8: the hint for a desk or network without a section names a key
// the config takes, or says what there is ("add a teams: section" named a
// key the config refuses).
func TestMissingConnectorHints(t *testing.T) {
	got := parseErr(t, `queues:
  - {name: care, desk: teams, channel: C1}
  - {name: social, desk: mastodon, channel: C2}
watch:
  - {network: threads, mentions: true}
  - {network: x, mentions: true}
slack: {bot_token: xoxb-literal-token}
mastodon: {server: "https://m.example", access_token: masto-token}
`, env(), files())
	for _, want := range []string{
		`queues[0].desk: no desk "teams" is configured (earshot has no desk "teams"; the desks it has are slack, discord)`,
		`queues[1].desk: no desk "mastodon" is configured (mastodon is a network, not a desk)`,
		`watch[0].network: no network "threads" is configured (earshot has no network "threads"; the networks it has are mastodon, bluesky, x, webhook)`,
		`watch[1].network: no network "x" is configured (add a x: section)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant a line containing:\n%s", got, want)
		}
	}
	if strings.Contains(got, "add a teams: section") {
		t.Errorf("the hint names a key the config refuses:\n%s", got)
	}
}

// health: and shutdown_timeout: are read, defaulted and checked.
func TestOperationsSettings(t *testing.T) {
	p, err := prepareLoaded(mustParse(t, "health: {grace: 30s, required: [slack]}\nshutdown_timeout: 20s\n"+minimalYAML, env(), files()))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Settings; s.HealthGrace != 30*time.Second || len(s.Required) != 1 || s.Required[0] != "slack" || s.ShutdownTimeout != 20*time.Second {
		t.Errorf("settings %+v", s)
	}
	p, err = prepareLoaded(mustParse(t, "health: {grace: 0s, required: []}\n"+minimalYAML, env(), files()))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Settings; s.HealthGrace != 0 || s.Required == nil || len(s.Required) != 0 {
		t.Errorf("grace 0 and no required connector: %+v", s)
	}
	got := parseErr(t, "health: {grace: -1s, required: [slack, discord]}\nshutdown_timeout: 100ms\n"+minimalYAML, env(), files())
	for _, want := range []string{
		`/cfg/earshot.yaml:1: health.grace: must not be negative`,
		`/cfg/earshot.yaml:1: health.required[1]: no connector "discord" is configured (configured: slack)`,
		`/cfg/earshot.yaml:2: shutdown_timeout: 100ms is too short`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant a line containing:\n%s", got, want)
		}
	}
	if code, _, errOut := cli(t, "run", "--config", writeConfig(t, minimalYAML), "--shutdown-timeout", "10ms"); code != exitUsage || !strings.Contains(errOut, "--shutdown-timeout") {
		t.Errorf("run --shutdown-timeout 10ms = %d %q", code, errOut)
	}
}

// check --offline builds the connectors too (no I/O): what a connector
// refuses in its section comes out with the section's line, as run would
// have failed without one.
func TestCheckOfflineLocatesConnectorRefusals(t *testing.T) {
	path := writeConfig(t, "queues: [{name: care, desk: slack, channel: C1}]\nslack:\n  bot_token: xoxb-offline-token\n  mode: http\n")
	code, out, errOut := cli(t, "check", "--offline", "--config", path)
	if code != exitFail || !strings.Contains(errOut, path+":3: slack: signing_secret is required in http mode") {
		t.Errorf("check --offline with an incomplete slack section = %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "xoxb-offline-token") {
		t.Error("the token was printed")
	}
}

// Item 8: `earshot healthcheck` asks /healthz of the local listener, for
// the distroless image's HEALTHCHECK and compose.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if code, out, errOut := cli(t, "healthcheck", "--addr", addr); code != exitOK || !strings.Contains(out, "200") {
		t.Errorf("healthcheck = %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "healthcheck", "--addr", addr, "--path", "/readyz"); code != exitFail || !strings.Contains(errOut, "503") {
		t.Errorf("healthcheck --path /readyz = %d %q", code, errOut)
	}
	_, port, _ := net.SplitHostPort(addr)
	cfg := writeConfig(t, `listen: ":`+port+`"`+"\n"+minimalYAML)
	if code, _, errOut := cli(t, "healthcheck", "--config", cfg); code != exitOK {
		t.Errorf("healthcheck --config (listen :%s) = %d %q", port, code, errOut)
	}
	srv.Close()
	if code, _, _ := cli(t, "healthcheck", "--addr", addr, "--timeout", "1s"); code != exitFail {
		t.Errorf("healthcheck with nothing listening = %d", code)
	}
	for in, want := range map[string]string{":8080": "127.0.0.1:8080", "0.0.0.0:9": "127.0.0.1:9", "[::]:9": "127.0.0.1:9", "10.0.0.2:9": "10.0.0.2:9"} {
		if got := localAddr(in); got != want {
			t.Errorf("localAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
