package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/internal/dirlock"
)

// engine is what main runs: *bridge.Bridge.
type engine interface {
	// Run blocks until ctx ends, then drains and closes the journal, done
	// by the time StopBy gave.
	Run(ctx context.Context) error
	// Ready is true once the journal is replayed and the listeners started.
	Ready() bool
	// StopBy sets when Run must have stopped once its ctx ends.
	StopBy(deadline time.Time)
}

// Seams for tests: they build fakes instead of the configured connectors.
var buildConnectors = connectors.Build

// cmdRun is `earshot run`: production serving.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run --config FILE [--data DIR]", stderr)
	configPath := configFlag(fs)
	dataDir := fs.String("data", "", "the data `dir`ectory for the journal (default: data_dir from the config, else ./earshot-data)")
	shutdown := fs.Duration("shutdown-timeout", 0, "the `budget` every stage of a shutdown shares (default: shutdown_timeout from the config, else 25s)")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	p, ok := loadPrepared(*configPath, stderr)
	if !ok {
		return exitFail
	}
	if *dataDir != "" {
		p.Settings.DataDir = *dataDir
	}
	if *shutdown != 0 {
		if *shutdown < time.Second {
			fmt.Fprintf(stderr, "earshot run: --shutdown-timeout %s is too short to stop cleanly; give at least 1s\n", *shutdown)
			return exitUsage
		}
		p.Settings.ShutdownTimeout = *shutdown
	}
	log := newLogger(stderr, p.Settings.LogFormat, p.Settings.LogLevel, p.Secrets)
	if err := serveAll(ctx, p, log, serveOptions{}); err != nil {
		log.Error("earshot stopped with an error", "err", err)
		return exitFail
	}
	return exitOK
}

// serveOptions are what `earshot demo` adds to the production path; `earshot
// run` gives none.
type serveOptions struct {
	// Mounts are extra routes on the listener (the demo's sandbox).
	Mounts []connectors.Mount
	// Ready is an extra condition of /readyz (the demo's seed is in place).
	Ready func() bool
	// Serving runs in its own goroutine once the listener is bound and the
	// bridge is starting; its ctx ends when serving stops, and serveAll
	// waits for it before stopping the bridge.
	Serving func(ctx context.Context, s serving)
	// OnShutdown is called when the listener starts shutting down, to end
	// long-lived responses (the sandbox's live updates) that Shutdown would
	// otherwise wait for.
	OnShutdown func()
}

// serving is what serveOptions.Serving learns of the running server.
type serving struct {
	Addr        net.Addr            // where the listener is bound
	Metrics     prometheus.Gatherer // the registry /metrics serves
	EngineReady func() bool         // the bridge's own readiness
}

// serveAll wires the bridge, its connectors and the HTTP listener, and
// serves until ctx ends. Then it stops within one budget
// (Settings.ShutdownTimeout) that every stage shares: the listener stops
// taking connections and finishes the requests in flight (webhooks deliver
// into the bridge) while the bridge goes on publishing what is due; the
// requests still running when the HTTP stage's share is spent are cut;
// then the bridge stops intake, finishes publishing and catching the desks
// up, and syncs the journal by the deadline. A shutdown within the budget
// returns nil; one the bridge overruns returns an error. If the bridge
// stops by itself, the listener stops too and its error is returned.
func serveAll(ctx context.Context, p *prepared, log *slog.Logger, opts serveOptions) error {
	if err := os.MkdirAll(p.Settings.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// One process per data dir: the journal and the connectors' state
	// files have one writer. Held until the process ends.
	lock, err := dirlock.Acquire(p.Settings.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	reg := newRegistry()
	metrics := newMetrics(reg)
	health := newHealthBoard(p.Settings.HealthGrace, p.Settings.Required,
		func(s string) string { return redactString(s, p.Secrets) }, time.Now)
	reg.MustRegister(health, buildInfo())
	set, err := buildConnectors(p.File.Connectors, bridge.Deps{
		Logger:   log,
		Requests: metrics,
		DataDir:  p.Settings.DataDir,
		Now:      time.Now,
		Health:   health,
	})
	if err != nil {
		return fmt.Errorf("connectors: %w", err)
	}
	eng, err := openEngine(ctx, p, set, metrics, log, reg)
	if err != nil {
		return err
	}
	h, err := newHandler(reg, readinessOf(eng.Ready, opts.Ready, health), append(leaderOnly(p.File.Store, eng.Ready, set.Mounts), opts.Mounts...))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", p.Settings.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	log.Info("earshot starting", "version", versionString(), "data_dir", p.Settings.DataDir,
		"desks", len(set.Desks), "networks", len(set.Networks))

	budget := p.Settings.ShutdownTimeout
	var deadline time.Time // when the process must have stopped; set once the shutdown starts
	startShutdown := sync.OnceValue(func() time.Time {
		deadline = time.Now().Add(budget)
		eng.StopBy(deadline) // the bridge keeps publishing while HTTP finishes
		log.Info("earshot stopping", "budget", budget.String())
		return deadline
	})

	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	bridgeCtx, stopBridge := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBridge()
	bridgeDone := make(chan error, 1)
	go func() {
		err := eng.Run(bridgeCtx)
		if err != nil {
			err = fmt.Errorf("bridge: %w", err)
		}
		stopHTTP() // the bridge ended: nothing left to serve
		bridgeDone <- err
	}()
	srv := newServer(h, log)
	if opts.OnShutdown != nil {
		srv.RegisterOnShutdown(opts.OnShutdown)
	}
	servingDone := make(chan struct{})
	if opts.Serving != nil {
		go func() {
			defer close(servingDone)
			opts.Serving(httpCtx, serving{Addr: ln.Addr(), Metrics: reg, EngineReady: eng.Ready})
		}()
	} else {
		close(servingDone)
	}
	// HTTP gets the budget but for the bridge's share: enough to stop its
	// listeners, finish publishing and close the journal after the last
	// request.
	httpErr := serve(httpCtx, srv, ln, log, func() time.Time { return startShutdown().Add(-bridgeShare(budget)) })
	stopHTTP()
	<-servingDone
	startShutdown()
	stopBridge()
	var bridgeErr error
	select {
	case bridgeErr = <-bridgeDone:
	case <-time.After(time.Until(deadline) + overrunGrace):
		return fmt.Errorf("shutdown: the bridge did not stop within the %s budget; exiting without it (the journal is replayed at the next start)", budget)
	}
	if bridgeErr == nil && httpErr == nil && ctx.Err() == nil {
		bridgeErr = fmt.Errorf("bridge: stopped before it was asked to")
	}
	if bridgeErr != nil {
		return bridgeErr
	}
	if httpErr != nil {
		return httpErr
	}
	if late := time.Since(deadline); late > overrunGrace {
		return fmt.Errorf("shutdown: took %s longer than its %s budget", late.Round(time.Millisecond), budget)
	}
	log.Info("earshot stopped")
	return nil
}

// overrunGrace is how far past the budget a shutdown may end and still
// count as honouring it (the last journal sync, the process exit).
const overrunGrace = 500 * time.Millisecond

// bridgeShare is the part of a shutdown budget kept for the bridge after
// the HTTP stage: a fifth, between half a second and five seconds.
func bridgeShare(budget time.Duration) time.Duration {
	return min(max(budget/5, 500*time.Millisecond), 5*time.Second)
}
