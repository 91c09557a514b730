package deploy

import (
	"context"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fixtureValues are the label values the contract fixture uses for labels
// whose values DESIGN.md leaves open.
var fixtureValues = map[string][]string{
	"queue":     {"care", "billing"},
	"network":   {"mastodon", "bluesky"},
	"desk":      {"slack"},
	"command":   {"claim", "resolve"},
	"platform":  {"slack", "mastodon"},
	"op":        {"chat.postMessage", "statuses.create"},
	"connector": {"slack", "mastodon"},
	"version":   {"v1.0.0"},
	"revision":  {"0123456789ab"},
	"goversion": {"go1.26.0"},
}

// labelCombos returns every combination of values for labels.
func labelCombos(metric string, labels []string) []prometheus.Labels {
	combos := []prometheus.Labels{{}}
	for _, l := range labels {
		vals := contractValues[metric+"/"+l]
		if vals == nil {
			vals = fixtureValues[l]
		}
		var next []prometheus.Labels
		for _, c := range combos {
			for _, v := range vals {
				n := prometheus.Labels{l: v}
				for k, x := range c {
					n[k] = x
				}
				next = append(next, n)
			}
		}
		combos = next
	}
	return combos
}

// contractExporter serves, on loopback, every metric of the contract table
// with every listed label value, changing a little every 100 ms until the
// test ends. It is the metrics contract made concrete: it proves the
// dashboard and alerts against the contract, independently of how much
// traffic a live Earshot has seen.
func contractExporter(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	names := make([]string, 0, len(contract))
	for n := range contract {
		names = append(names, n)
	}
	sort.Strings(names)
	var tick []func(i int)
	for _, name := range names {
		spec := contract[name]
		combos := labelCombos(name, spec.Labels)
		switch spec.Type {
		case "gauge":
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "contract fixture"}, spec.Labels)
			reg.MustRegister(v)
			tick = append(tick, func(i int) {
				for j, c := range combos {
					v.With(c).Set(float64((i + j) % 70))
				}
			})
		case "counter":
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "contract fixture"}, spec.Labels)
			reg.MustRegister(v)
			tick = append(tick, func(i int) {
				for j, c := range combos {
					v.With(c).Add(float64(1 + (i+j)%3))
				}
			})
		case "histogram":
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: "contract fixture",
				Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}, spec.Labels)
			reg.MustRegister(v)
			tick = append(tick, func(i int) {
				for j, c := range combos {
					v.With(c).Observe(float64(1+(i+j)%50) * 0.01)
				}
			})
		default:
			t.Fatalf("contract: %s has unknown type %q", name, spec.Type)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	go func() {
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			for _, f := range tick {
				f(i)
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// The dashboard and the alerts work on the metrics exactly as the contract
// defines them, through a real Prometheus.
func TestQueriesAgainstContract(t *testing.T) {
	t.Parallel()
	needTool(t, "prometheus")
	addr := contractExporter(t)
	checkMetricsText(t, "http://"+addr+"/metrics")
	p := startPrometheus(t, addr)
	p.waitScrapes(t, 3, 30*time.Second)
	checkQueries(t, p)
}
