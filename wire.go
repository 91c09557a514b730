//go:build bridge_api

package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
)

// newMetrics registers the earshot_ metrics on reg.
func newMetrics(reg prometheus.Registerer) bridge.RequestObserver {
	return bridge.NewMetrics(reg)
}

// newEngine opens the bridge: it opens the journal in dataDir and replays it.
var newEngine = func(cfg bridge.Config, dataDir string, set *connectors.Set, metrics bridge.RequestObserver, log *slog.Logger) (engine, error) {
	m, _ := metrics.(*bridge.Metrics)
	b, err := bridge.New(bridge.Options{
		Config:   cfg,
		DataDir:  dataDir,
		Networks: set.Networks,
		Desks:    set.Desks,
		Metrics:  m,
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return b, nil
}
