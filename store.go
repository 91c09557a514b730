package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/store/jetstream"
)

// Where the journal lives: the store: section. The file journal in the
// data directory is the default; kind nats puts it in a NATS JetStream
// cluster shared by several Earshot replicas, one of which leads (the
// others are hot standbys: not ready, answering webhooks with 503).

// openTimeout bounds connecting to the cluster and readying the stream at
// start (a cluster being formed or electing answers late).
const openTimeout = 2 * time.Minute

// Store kinds.
const (
	storeFile = "file"
	storeNATS = "nats"
)

// storeConfig is the store: section.
type storeConfig struct {
	Kind        string     `yaml:"kind"` // file (default) or nats
	URL         string     `yaml:"url"`
	Stream      string     `yaml:"stream"`
	Replicas    int        `yaml:"replicas"`
	Credentials string     `yaml:"credentials"` // a .creds file's contents (credentials_file: PATH)
	TLS         storeTLS   `yaml:"tls"`
	Lease       storeLease `yaml:"lease"`
	// Name is this replica's name in the lease (default: host name).
	Name string `yaml:"name"`
}

// storeTLS holds PEM contents (usually given as ca_file, cert_file, key_file).
type storeTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type storeLease struct {
	TTL        time.Duration `yaml:"ttl"`
	RenewEvery time.Duration `yaml:"renew_every"`
}

// kind is the store kind with the default applied.
func (s storeConfig) kind() string {
	if s.Kind == "" {
		return storeFile
	}
	return strings.ToLower(s.Kind)
}

// jetstream is the replicated journal's config from the section.
func (s storeConfig) jetstream() jetstream.Config {
	return jetstream.Config{
		URL: s.URL, Stream: s.Stream, Replicas: s.Replicas, Credentials: s.Credentials,
		CA: s.TLS.CA, Cert: s.TLS.Cert, Key: s.TLS.Key,
		LeaseTTL: s.Lease.TTL, RenewEvery: s.Lease.RenewEvery, Holder: s.Name,
	}
}

// checkStore validates the store: section, each error with its path.
func checkStore(s storeConfig) []error {
	switch s.kind() {
	case storeFile:
		if s.URL != "" || s.Stream != "" || s.Replicas != 0 || s.Credentials != "" || s.TLS != (storeTLS{}) || s.Lease != (storeLease{}) || s.Name != "" {
			return []error{fmt.Errorf("store: the nats settings are set but kind is %s (set kind: nats to use them)", storeFile)}
		}
		return nil
	case storeNATS:
		var errs []error
		for _, err := range s.jetstream().Validate() {
			errs = append(errs, fmt.Errorf("store.%w", err))
		}
		return errs
	default:
		return []error{fmt.Errorf("store.kind: %q is not file or nats", s.Kind)}
	}
}

// openJournal opens the configured store's journal: nil for the file
// journal (the bridge opens it in the data directory), the replicated
// journal for nats (network I/O: it connects and creates the stream and
// buckets if missing).
func openJournal(ctx context.Context, s storeConfig, log *slog.Logger, reg prometheus.Registerer) (bridge.Journal, error) {
	if s.kind() != storeNATS {
		return nil, nil
	}
	cfg := s.jetstream()
	cfg.Logger, cfg.Registerer = log, reg
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	j, err := jetstream.Open(octx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	log.Info("store: journal on NATS JetStream", "stream", cfg.Stream, "holder", j.Holder())
	return j, nil
}

// openEngine is newEngine with the configured store: the file journal's
// path is newEngine as it always was; on a replicated journal it also
// registers earshot_leader and returns the journal to close if the
// engine could not be built.
func openEngine(ctx context.Context, p *prepared, set *connectors.Set, metrics bridge.RequestObserver, log *slog.Logger, reg *prometheus.Registry) (engine, error) {
	j, err := openJournal(ctx, p.File.Store, log, reg)
	if err != nil {
		return nil, err
	}
	var eng engine
	if j == nil {
		eng, err = newEngine(p.Bridge, p.Settings.DataDir, set, metrics, log)
	} else {
		eng, err = buildEngine(p.Bridge, p.Settings.DataDir, j, set, metrics, log)
	}
	if err != nil {
		if j != nil {
			j.Close()
		}
		return nil, err
	}
	if l, ok := eng.(leader); ok {
		registerLeader(reg, l)
	}
	jetstream.RegisterMetrics(reg) // at zero on the file store: one dashboard for both
	return eng, nil
}

// leader is an engine that says whether it leads (*bridge.Bridge).
type leader interface{ Leading() bool }

// registerLeader adds earshot_leader: 1 while this process runs the
// listeners, desk workers and outbox (always, on the file journal).
func registerLeader(reg prometheus.Registerer, l leader) {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "earshot_leader",
		Help: "1 while this process leads (runs the listeners, desk workers and outbox); 0 on a standby."},
		func() float64 {
			if l.Leading() {
				return 1
			}
			return 0
		})
	_ = reg.Register(g) // registered once per registry; a second engine on it keeps the first
}

// leaderOnly wraps the connectors' routes so that a process that is not
// serving (a standby, or a leader still catching up) answers 503 with
// Retry-After, and never acts on the request: Slack and Discord retry,
// and a Kubernetes Service sends the retry to the ready replica. On the
// file journal the routes are left as they are.
func leaderOnly(s storeConfig, ready func() bool, mounts []connectors.Mount) []connectors.Mount {
	if s.kind() != storeNATS {
		return mounts
	}
	out := make([]connectors.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = connectors.Mount{Name: m.Name, RouteMounter: guardedRoutes{m.RouteMounter, ready}}
	}
	return out
}

type guardedRoutes struct {
	inner bridge.RouteMounter
	ready func() bool
}

func (g guardedRoutes) Routes() map[string]http.Handler {
	routes := g.inner.Routes()
	out := make(map[string]http.Handler, len(routes))
	for pattern, h := range routes {
		out[pattern] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !g.ready() {
				w.Header().Set("Retry-After", "2")
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "this Earshot replica is a standby; the leader takes requests (retry)", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	return out
}
