package deploy

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// startDemo runs the real binary's `earshot demo` on a loopback port until
// the test ends (and at most exitAfter), and returns its address once
// /readyz answers 200.
func startDemo(t *testing.T, bin string, exitAfter time.Duration) string {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		out := &lockedBuffer{}
		cmd := exec.Command(bin, "demo", "--addr", addr, "--exit-after", exitAfter.String())
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			stopProcess(cmd, done)
			if t.Failed() {
				t.Logf("earshot demo output:\n%s", out)
			}
		})
		if waitReady(done, "http://"+addr+"/readyz", 60*time.Second) {
			return addr
		}
		stopProcess(cmd, done)
		t.Logf("earshot demo on %s did not become ready (attempt %d):\n%s", addr, attempt+1, out)
	}
	t.Fatal("earshot demo did not start")
	return ""
}

// The dashboard and the alerts work against a real Earshot (the demo built
// with the Dockerfile's command) that has seen traffic, through a real
// Prometheus; its /metrics passes promtool check metrics.
func TestQueriesAgainstLiveEarshot(t *testing.T) {
	t.Parallel()
	needTool(t, "prometheus")
	bin := buildLikeDocker(t)
	addr := startDemo(t, bin, 3*time.Minute)
	checkMetricsText(t, "http://"+addr+"/metrics")
	p := startPrometheus(t, addr)
	p.waitScrapes(t, 3, 60*time.Second)
	checkQueries(t, p)
}
