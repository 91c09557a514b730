package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// process is the real earshot process (this test binary running main, see
// runAsEarshot), its logs, and its exit code once it ended.
type process struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan int // receives the exit code once
	code   int
	done   bool
}

// startProcess starts `earshot args...` as a child process; t.Cleanup kills
// it if it still runs.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{logs: &syncBuffer{}, exited: make(chan int, 1)}
	p.cmd = exec.Command(os.Args[0], args...)
	// A race-enabled binary sleeps a second at exit unless told not to.
	p.cmd.Env = append(os.Environ(), runAsEarshot+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.exited <- 0
		case errors.As(err, &ee):
			p.exited <- ee.ExitCode()
		default:
			p.exited <- -1
		}
	}()
	t.Cleanup(func() {
		if !p.done {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait returns the exit code, failing the test if the process still runs
// after timeout.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	if p.done {
		return p.code
	}
	select {
	case p.code = <-p.exited:
		p.done = true
		return p.code
	case <-time.After(timeout):
		t.Fatalf("earshot still runs after %v:\n%s", timeout, p.logs)
		return 0
	}
}

// waitReady waits for the "listening" log line and for /readyz to answer
// 200, and returns the listener's address.
func (p *process) waitReady(t *testing.T) string {
	t.Helper()
	addr := listenAddr(t, p.logs, p.exited)
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}
