//go:build unix

package realpds

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The child half of TestNodeDiesWithACrashedTest: start the PDS, say its
// pid and directory, and die at once without closing anything.
func TestMain(m *testing.M) {
	if os.Getenv("REALPDS_CRASH_CHILD") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p, err := Start(ctx, os.Getenv("REALPDS_INSTALL"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("pid", p.Pid(), p.Dir())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // a crash: no Close, no deferred cleanup
	}
	os.Exit(m.Run())
}

// A test binary that dies however it dies (here SIGKILL) leaves no node
// process behind for long, and no directory: the script notices its stdin
// closed and stops.
func TestNodeDiesWithACrashedTest(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: starts a real PDS; not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir, err := Install(ctx, os.Stderr)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("SKIP (loud): no real PDS on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REALPDS_CRASH_CHILD=1", "REALPDS_INSTALL="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Wait()
	var pid int
	var tmp string
	if _, err := fmt.Sscanf(line, "pid %d %s", &pid, &tmp); err != nil {
		t.Fatalf("child said %q", line)
	}
	deadline := time.Now().Add(20 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("node (pid %d) still runs 20s after its test binary died", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, err := os.Stat(tmp); err == nil; _, err = os.Stat(tmp) {
		if time.Now().After(deadline) {
			t.Fatalf("node left %s behind", tmp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its reaper has).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
