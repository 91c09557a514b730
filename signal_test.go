package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real process (this test binary running main) stops cleanly on
// SIGTERM and on SIGINT: exit code 0, the bridge stopped and said so,
// the journal on disk.
func TestSignalsStopTheProcessCleanly(t *testing.T) {
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
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			var logs syncBuffer
			cmd := exec.Command(os.Args[0], "run", "--config", cfg, "--data", dataDir)
			cmd.Env = append(os.Environ(), runAsEarshot+"=1")
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan int, 1)
			go func() {
				err := cmd.Wait()
				var ee *exec.ExitError
				switch {
				case err == nil:
					exited <- 0
				case errors.As(err, &ee):
					exited <- ee.ExitCode()
				default:
					exited <- -1
				}
			}()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			base := "http://" + listenAddr(t, &logs, exited)
			waitFor(t, func() bool {
				resp, err := http.Get(base + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-exited:
				if code != exitOK {
					t.Errorf("exit code %d after %s\n%s", code, sig, logs.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30s after %s\n%s", sig, logs.String())
			}
			for _, want := range []string{`"msg":"bridge: stopped"`, `"msg":"earshot stopped"`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %s:\n%s", want, logs.String())
				}
			}
			if entries, err := os.ReadDir(dataDir); err != nil || len(entries) == 0 {
				t.Errorf("data dir after %s: %v, %v", sig, entries, err)
			}
		})
	}
}
