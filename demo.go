package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/demo"
	"github.com/earshot-dev/earshot/demo/sandbox"
	"github.com/earshot-dev/earshot/demo/script"
	"github.com/earshot-dev/earshot/internal/dirlock"
)

const demoSynopsis = "demo [--addr 127.0.0.1:8080] [--data DIR] [--script] [--exit-after DUR]"

// demoFlags are the settings of `earshot demo`.
type demoFlags struct {
	addr       string
	expose     bool
	data       string
	script     bool
	scale      float64
	exitAfter  time.Duration
	undoWindow time.Duration
	logLevel   string
}

// runDemo is `earshot demo`: every fake on loopback, the real Earshot with
// its real connectors pointed at them through an ordinary config file, and
// the sandbox page at /. It returns when ctx ends (SIGINT/SIGTERM) or after
// --exit-after.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", demoSynopsis, stderr)
	var f demoFlags
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "where to serve the sandbox, /metrics and the webhook routes (a loopback `host:port`; port 0 picks one)")
	fs.BoolVar(&f.expose, "expose", false, "allow a non-loopback --addr (inside a container): the sandbox has no login, so whoever reaches it acts as staff")
	fs.StringVar(&f.data, "data", "", "keep the journal and connector state in this `dir`ectory: new, empty, or an earlier demo's (emptied first; default: a temporary one, removed at exit)")
	fs.BoolVar(&f.script, "script", false, "play the scenarios (rail disruption, broadband outage, flight rebooking) and print a summary")
	fs.Float64Var(&f.scale, "scale", 1, "crowd `factor` for --script (1: 300 complaints in the outage)")
	fs.DurationVar(&f.exitAfter, "exit-after", 0, "stop by itself after this `duration` (0: run until interrupted)")
	fs.DurationVar(&f.undoWindow, "undo-window", demo.DefaultUndoWindow, "Earshot's undo window: time to edit or delete a reply before it goes")
	fs.StringVar(&f.logLevel, "log-level", "warn", "Earshot's log `level` on stderr: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if msg := f.problem(); msg != "" {
		fmt.Fprintf(stderr, "earshot demo: %s\n", msg)
		fs.Usage()
		return exitUsage
	}
	if f.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.exitAfter)
		defer cancel()
	}
	if err := demoServe(ctx, f, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "earshot demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// problem names what is wrong with the flags, or "".
func (f demoFlags) problem() string {
	switch {
	case !f.expose && !demo.LoopbackAddr(f.addr):
		return fmt.Sprintf("--addr %q is not a loopback host:port: the sandbox has no login, so it serves this machine only (--expose allows it, in a container)", f.addr)
	case f.exitAfter < 0:
		return "--exit-after must not be negative"
	case f.undoWindow < 0:
		return "--undo-window must not be negative"
	case f.scale <= 0 || f.scale > 10:
		return "--scale must be above 0 and at most 10"
	}
	if _, err := parseLevel(f.logLevel); err != nil {
		return "--log-level: " + err.Error()
	}
	return ""
}

// demoServe starts the world, writes its config, and serves Earshot on it
// through the production path (prepareConfig, serveAll) until ctx ends.
func demoServe(ctx context.Context, f demoFlags, stdout, stderr io.Writer) error {
	dataDir, cleanup, err := demoDataDir(f.data)
	if err != nil {
		return err
	}
	defer cleanup()
	world, err := demo.Start()
	if err != nil {
		return err
	}
	defer world.Close()

	cfgPath := filepath.Join(dataDir, "earshot.yaml")
	cfg := world.Config(demo.ConfigOptions{Listen: f.addr, DataDir: filepath.Join(dataDir, "journal"),
		UndoWindow: f.undoWindow, LogLevel: f.logLevel})
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return fmt.Errorf("writing the demo config: %w", err)
	}
	p, err := prepareConfig(cfgPath, os.LookupEnv)
	if err != nil {
		printConfigError(stderr, err, nil)
		return errors.New("the demo's own config does not load (a bug: please report it)")
	}
	// As an admin would once: register Earshot's slash commands in the
	// (fake) Discord server, the same way `earshot discord register` does.
	if code := discordRegister(ctx, cfgPath, io.Discard, stderr); code != exitOK {
		return errors.New("registering the slash commands in the fake Discord failed")
	}
	log := newLogger(stderr, p.Settings.LogFormat, p.Settings.LogLevel, p.Secrets)
	if f.expose && !demo.LoopbackAddr(f.addr) {
		log.Warn("the demo sandbox is exposed beyond this machine: it has no login, so whoever reaches it acts as staff", "addr", f.addr)
	}
	sb := sandbox.New(world, sandbox.Options{UndoWindow: f.undoWindow, AnyHost: f.expose, Logger: log.With("component", "sandbox")})
	var seeded atomic.Bool
	return serveAll(ctx, p, log, serveOptions{
		Mounts:     []connectors.Mount{{Name: "sandbox", RouteMounter: sb}},
		Ready:      seeded.Load,
		OnShutdown: sb.Shutdown,
		Serving: func(ctx context.Context, s serving) {
			base := demo.BaseURL(shownAddr(s.Addr))
			world.SetEarshotURL(base[:len(base)-1])
			out := stdout
			fmt.Fprintf(out, "Earshot demo: open %s\n", base)
			fmt.Fprintf(out, "  config %s · metrics %smetrics · stop with Ctrl-C\n", cfgPath, base)
			st := &script.Stage{World: world, Out: out, Scale: f.scale, Metrics: s.Metrics}
			if err := script.WaitReady(ctx, world, s.EngineReady, time.Minute); err != nil {
				fmt.Fprintf(out, "earshot demo: %v\n", err)
				return
			}
			if err := script.Seed(ctx, st); err != nil {
				fmt.Fprintf(out, "earshot demo: setting the scene: %v\n", err)
				return
			}
			seeded.Store(true)
			fmt.Fprintf(out, "Ready: last night's review and this morning's complaints are waiting. Post as a customer, work them as staff.\n")
			if !f.script {
				return
			}
			start := time.Now()
			err := script.Play(ctx, st)
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(out, "earshot demo: the script stopped: %v\n", err)
			} else if err != nil {
				fmt.Fprintf(out, "The script was interrupted after %.1fs.\n", time.Since(start).Seconds())
			} else {
				fmt.Fprintf(out, "The script played in %.1fs.\n", time.Since(start).Seconds())
			}
			if sum, err := script.Summarize(s.Metrics); err == nil {
				sum.Write(out)
			}
			fmt.Fprintf(out, "The sandbox stays open at %s\n", base)
		},
	})
}

// demoMarker marks a directory the demo made its own: a later demo may
// empty it again (compose restarts the demo on the same volume).
const demoMarker = ".earshot-demo"

// demoDataDir is the demo's data directory: dir, created if missing,
// locked for this process, and used only when empty or a former demo's
// (then emptied: the fakes start empty on every run, so an old journal
// would point at threads and posts that no longer exist); or a fresh
// temporary one that cleanup removes.
func demoDataDir(dir string) (string, func(), error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "earshot-demo-")
		if err != nil {
			return "", nil, fmt.Errorf("data dir: %w", err)
		}
		return tmp, func() { _ = os.RemoveAll(tmp) }, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	former := false
	for _, e := range entries {
		former = former || e.Name() == demoMarker
	}
	if len(entries) > 0 && !former {
		return "", nil, fmt.Errorf("--data %s is not empty: the fakes start empty on every run, so give an empty or new directory (or one an earlier demo used)", dir)
	}
	lock, err := dirlock.Acquire(dir) // another demo may be using it
	if err != nil {
		return "", nil, err
	}
	for _, e := range entries {
		if e.Name() == dirlock.FileName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			lock.Release()
			return "", nil, fmt.Errorf("data dir: emptying an earlier demo's: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, demoMarker), []byte("earshot demo data; a later demo empties this directory\n"), 0o600); err != nil {
		lock.Release()
		return "", nil, fmt.Errorf("data dir: %w", err)
	}
	return dir, func() { lock.Release() }, nil
}

// shownAddr is the address people open: a wildcard listener (--expose)
// is reached on this machine at 127.0.0.1.
func shownAddr(a net.Addr) net.Addr {
	if t, ok := a.(*net.TCPAddr); ok && t.IP.IsUnspecified() {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: t.Port}
	}
	return a
}
