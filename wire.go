package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors"
)

// newMetrics registers the earshot_ metrics on reg.
func newMetrics(reg prometheus.Registerer) bridge.RequestObserver {
	return bridge.NewMetrics(reg)
}

// newEngine opens the bridge with the staff commands wired in: it opens the
// journal in dataDir and replays it (file I/O; blocks until replayed).
var newEngine = func(cfg bridge.Config, dataDir string, set *connectors.Set, metrics bridge.RequestObserver, log *slog.Logger) (engine, error) {
	return buildEngine(cfg, dataDir, nil, set, metrics, log)
}

// buildEngine is newEngine on journal j (nil: the file journal in dataDir).
func buildEngine(cfg bridge.Config, dataDir string, j bridge.Journal, set *connectors.Set, metrics bridge.RequestObserver, log *slog.Logger) (engine, error) {
	m, _ := metrics.(*bridge.Metrics)
	// The registry is built first (bridge.Options takes the Commander) and
	// bound to the bridge once it exists, before anything can run a command.
	cmds := commands.New(nil, commands.Options{
		Prefix:       cfg.CommandPrefix,
		CaseIDPrefix: cfg.CaseIDPrefix,
		Logger:       log.With("component", "commands"),
	})
	b, err := bridge.New(bridge.Options{
		Config:    cfg,
		DataDir:   dataDir,
		Journal:   j,
		Networks:  set.Networks,
		Desks:     set.Desks,
		Metrics:   m,
		Commander: cmds,
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	cmds.Bind(b)
	return b, nil
}
