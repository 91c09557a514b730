//go:build !bridge_api

package main

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
)

// TEMPORARY until bridge.New lands (see wire.go, built with -tags bridge_api).

func newMetrics(reg prometheus.Registerer) bridge.RequestObserver { return bridge.NopObserver{} }

var newEngine = func(cfg bridge.Config, dataDir string, set *connectors.Set, metrics bridge.RequestObserver, log *slog.Logger) (engine, error) {
	return nil, errors.New("bridge: the core is not built yet")
}
