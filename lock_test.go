package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Finding 1: two processes on one data dir. The second `earshot run` on a
// data dir a live one uses exits at once, with an error naming the first
// one's pid and host, and touches nothing: the first keeps serving and
// stops cleanly.
func TestSecondProcessOnADataDirExitsAtOnce(t *testing.T) {
	t.Parallel()
	sf := careSlack(t)
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
queues: [{name: care, desk: slack, channel: C1}]
staff: [{desk: slack, user: U1, role: agent}]
slack:
  bot_token: `+sf.Options().BotToken+`
  app_token: `+sf.Options().AppToken+`
  api_url: `+sf.APIURL()+`
`)
	dataDir := filepath.Join(t.TempDir(), "data")
	first := startProcess(t, "run", "--config", cfg, "--data", dataDir)
	addr := first.waitReady(t)

	second := startProcess(t, "run", "--config", cfg, "--data", dataDir)
	if code := second.wait(t, 20*time.Second); code != exitFail {
		t.Errorf("the second process exited with %d, want %d\n%s", code, exitFail, second.logs)
	}
	host, _ := os.Hostname()
	for _, want := range []string{dataDir, fmt.Sprintf("pid %d", first.cmd.Process.Pid), "host " + host} {
		if !strings.Contains(second.logs.String(), want) {
			t.Errorf("the second process's error lacks %q:\n%s", want, second.logs)
		}
	}
	if strings.Contains(second.logs.String(), `"msg":"listening"`) {
		t.Errorf("the second process started serving:\n%s", second.logs)
	}

	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first process after the second tried: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t, 30*time.Second); code != exitOK {
		t.Errorf("the first process exited with %d\n%s", code, first.logs)
	}
	// Once the first is gone, the data dir is free again.
	third := startProcess(t, "run", "--config", cfg, "--data", dataDir)
	third.waitReady(t)
	if err := third.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := third.wait(t, 30*time.Second); code != exitOK {
		t.Errorf("a process after the first stopped exited with %d\n%s", code, third.logs)
	}
}
