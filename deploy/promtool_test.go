package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// promtool runs promtool with args in dir, bounded in time, and returns its
// combined output; a non-zero exit fails the test.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := needTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	out := promtool(t, dir, "check", "rules", "alerts.yml")
	t.Logf("%s", out)
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	out := promtool(t, dir, "test", "rules", "alerts_test.yml")
	t.Logf("%s", out)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}

// Every alert has a unit test.
func TestEveryAlertIsUnitTested(t *testing.T) {
	tests := string(readFile(t, "deploy/prometheus/alerts_test.yml"))
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !strings.Contains(tests, "alertname: "+r.Alert+"\n") {
				t.Errorf("alert %s has no alert_rule_test in alerts_test.yml", r.Alert)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Annotations["runbook_url"] == "" {
				t.Errorf("alert %s lacks severity, summary, description or runbook_url", r.Alert)
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "/deploy/OPERATE.md#"+anchor) {
				t.Errorf("alert %s runbook_url = %q, want .../deploy/OPERATE.md#%s", r.Alert, r.Annotations["runbook_url"], anchor)
			}
			if !strings.Contains(string(readFile(t, "deploy/OPERATE.md")), "### "+r.Alert+"\n") {
				t.Errorf("deploy/OPERATE.md has no \"### %s\" section (the runbook_url anchor)", r.Alert)
			}
		}
	}
}

// The compose stack's Prometheus config is valid, with the rules file where
// compose mounts it.
func TestPromtoolCheckComposeConfig(t *testing.T) {
	t.Parallel()
	needTool(t, "promtool")
	dir := t.TempDir()
	cfg := string(readFile(t, "deploy/compose/prometheus.yml"))
	const mounted = "/etc/prometheus/rules/alerts.yml"
	if !strings.Contains(cfg, mounted) {
		t.Fatalf("compose prometheus.yml does not load %s", mounted)
	}
	cfg = strings.ReplaceAll(cfg, mounted, filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yml"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", promtool(t, dir, "check", "config", "prometheus.yml"))
}
