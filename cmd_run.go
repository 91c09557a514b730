package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/internal/dirlock"
)

// engine is what main runs: *bridge.Bridge.
type engine interface {
	// Run blocks until ctx ends, then drains and closes the journal.
	Run(ctx context.Context) error
	// Ready is true once the journal is replayed and the listeners started.
	Ready() bool
}

// Seams for tests: they build fakes instead of the configured connectors.
var buildConnectors = connectors.Build

// cmdRun is `earshot run`: production serving.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run --config FILE [--data DIR]", stderr)
	configPath := configFlag(fs)
	dataDir := fs.String("data", "", "the data `dir`ectory for the journal (default: data_dir from the config, else ./earshot-data)")
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
// serves until ctx ends. Shutdown order: the HTTP listener stops taking
// requests and finishes the ones in flight (webhooks deliver into the
// bridge), then the bridge's context ends and Run drains the outbox's due
// work and syncs the journal. If the bridge stops by itself, the listener
// stops too and its error is returned.
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
	set, err := buildConnectors(p.File.Connectors, bridge.Deps{
		Logger:   log,
		Requests: metrics,
		DataDir:  p.Settings.DataDir,
		Now:      time.Now,
	})
	if err != nil {
		return fmt.Errorf("connectors: %w", err)
	}
	eng, err := newEngine(p.Bridge, p.Settings.DataDir, set, metrics, log)
	if err != nil {
		return err
	}
	ready := eng.Ready
	if opts.Ready != nil {
		ready = func() bool { return eng.Ready() && opts.Ready() }
	}
	h, err := newHandler(reg, ready, append(set.Mounts, opts.Mounts...))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", p.Settings.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	log.Info("earshot starting", "version", versionString(), "data_dir", p.Settings.DataDir,
		"desks", len(set.Desks), "networks", len(set.Networks))

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
	httpErr := serve(httpCtx, srv, ln, log)
	stopHTTP()
	<-servingDone
	stopBridge()
	bridgeErr := <-bridgeDone
	if bridgeErr == nil && httpErr == nil && ctx.Err() == nil {
		bridgeErr = fmt.Errorf("bridge: stopped before it was asked to")
	}
	if bridgeErr != nil {
		return bridgeErr
	}
	if httpErr != nil {
		return httpErr
	}
	log.Info("earshot stopped")
	return nil
}
