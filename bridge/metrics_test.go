package bridge_test

import (
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"

	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// metricValue finds one series on tb's registry; ok is false when absent.
func metricValue(tb *TestBridge, name string, labels map[string]string) (*dto.Metric, bool) {
	tb.T.Helper()
	fams, err := tb.Registry.Gather()
	if err != nil {
		tb.T.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m, true
		}
	}
	return nil, false
}

// value reads one series: a counter's or gauge's value, a histogram's
// count; 0 when the series is absent.
func value(tb *TestBridge, name string, labels map[string]string) float64 {
	tb.T.Helper()
	m, ok := metricValue(tb, name, labels)
	if !ok {
		return 0
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func labelNames(m *dto.Metric) string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
