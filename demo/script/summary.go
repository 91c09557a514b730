package script

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Summary is what Earshot's metrics say after a run.
type Summary struct {
	Posts       map[string]float64 // earshot_posts_total by result (opened, follow_up, ...)
	Replies     map[string]float64 // earshot_replies_total by result (sent, cancelled, refused, ...)
	Commands    map[string]float64 // earshot_commands_total by result (ok, refused, error)
	Breaches    map[string]float64 // earshot_sla_breaches_total by kind
	Open        map[string]float64 // earshot_cases by queue (open cases: queue depth)
	Unclaimed   map[string]float64 // earshot_cases{status="new"} by queue
	FirstReply  Quantiles          // earshot_first_response_seconds
	Claim       Quantiles          // earshot_claim_seconds
	Resolution  Quantiles          // earshot_resolution_seconds
	RateLimited float64            // earshot_platform_requests_total{outcome="rate_limited"}
	// Incidents: declaration to every complainant acknowledged, and the
	// incidents' publications by result (earshot_incident_*).
	IncidentAck     Quantiles
	IncidentReplies map[string]float64
	// SlackMessages counts the messages Earshot posted to Slack
	// (chat.postMessage answered ok).
	SlackMessages float64
}

// Quantiles sum up a histogram: the exact mean, and the bucket bounds
// that hold the median and the 90th percentile (what a histogram knows;
// Prometheus's histogram_quantile interpolates inside them).
type Quantiles struct {
	Count    uint64
	Mean     float64 // seconds
	P50, P90 float64 // seconds: upper bounds of the buckets that hold them (+Inf past the last)
}

// Summarize reads Earshot's metrics from g. It does no I/O beyond what
// the gatherer does (the registry collects in memory).
func Summarize(g prometheus.Gatherer) (Summary, error) {
	mfs, err := g.Gather()
	if err != nil {
		return Summary{}, fmt.Errorf("reading the metrics: %w", err)
	}
	s := Summary{Posts: map[string]float64{}, Replies: map[string]float64{}, Commands: map[string]float64{},
		Breaches: map[string]float64{}, Open: map[string]float64{}, Unclaimed: map[string]float64{}, IncidentReplies: map[string]float64{}}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "earshot_posts_total":
			sumBy(mf, "result", s.Posts, nil)
		case "earshot_replies_total":
			sumBy(mf, "result", s.Replies, nil)
		case "earshot_commands_total":
			sumBy(mf, "result", s.Commands, nil)
		case "earshot_sla_breaches_total":
			sumBy(mf, "kind", s.Breaches, nil)
		case "earshot_cases":
			sumBy(mf, "queue", s.Open, nil)
			sumBy(mf, "queue", s.Unclaimed, func(m *dto.Metric) bool { return label(m, "status") == "new" })
		case "earshot_first_response_seconds":
			s.FirstReply = quantiles(mf)
		case "earshot_claim_seconds":
			s.Claim = quantiles(mf)
		case "earshot_resolution_seconds":
			s.Resolution = quantiles(mf)
		case "earshot_platform_requests_total":
			m := map[string]float64{}
			sumBy(mf, "outcome", m, nil)
			s.RateLimited = m["rate_limited"]
			posted := map[string]float64{}
			sumBy(mf, "outcome", posted, func(m *dto.Metric) bool {
				return label(m, "platform") == "slack" && label(m, "op") == "chat.postMessage"
			})
			s.SlackMessages = posted["ok"]
		case "earshot_incident_ack_seconds":
			s.IncidentAck = quantiles(mf)
		case "earshot_incident_replies_total":
			sumBy(mf, "result", s.IncidentReplies, nil)
		}
	}
	return s, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func sumBy(mf *dto.MetricFamily, by string, into map[string]float64, keep func(*dto.Metric) bool) {
	for _, m := range mf.GetMetric() {
		if keep == nil || keep(m) {
			into[label(m, by)] += value(m)
		}
	}
}

// quantiles merges every series of a histogram family.
func quantiles(mf *dto.MetricFamily) Quantiles {
	merged := map[float64]uint64{}
	var q Quantiles
	var sum float64
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		q.Count += h.GetSampleCount()
		sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			merged[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if q.Count == 0 {
		return q
	}
	q.Mean = sum / float64(q.Count)
	bounds := make([]float64, 0, len(merged))
	for le := range merged {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	at := func(phi float64) float64 {
		rank := phi * float64(q.Count)
		for _, le := range bounds {
			if float64(merged[le]) >= rank {
				return le
			}
		}
		return math.Inf(1)
	}
	q.P50, q.P90 = at(0.5), at(0.9)
	return q
}

func total(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// breakdown renders "sent 12 · cancelled 1", largest first.
func breakdown(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}

func (q Quantiles) String() string {
	if q.Count == 0 {
		return "no data yet"
	}
	cases := "cases"
	if q.Count == 1 {
		cases = "case"
	}
	return fmt.Sprintf("mean %s · p50 %s · p90 %s (%d %s)", seconds(q.Mean), bound(q.P50), bound(q.P90), q.Count, cases)
}

// bound shows a bucket bound as "≤ 30s".
func bound(le float64) string {
	if math.IsInf(le, 1) {
		return "over the largest bucket"
	}
	return "≤ " + seconds(le)
}

func seconds(v float64) string {
	switch {
	case v < 60:
		return fmt.Sprintf("%.1fs", v)
	case v < 3600:
		return fmt.Sprintf("%.1fmin", v/60)
	}
	return fmt.Sprintf("%.1fh", v/3600)
}

// Write prints the summary as a small table.
func (s Summary) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Summary (from Earshot's own metrics)")
	fmt.Fprintf(tw, "  cases opened\t%.0f\t(posts: %s)\n", s.Posts["opened"], breakdown(s.Posts))
	fmt.Fprintf(tw, "  replies\t%.0f\t(%s)\n", total(s.Replies), breakdown(s.Replies))
	fmt.Fprintf(tw, "  commands\t%.0f\t(%s)\n", total(s.Commands), breakdown(s.Commands))
	fmt.Fprintf(tw, "  first response\t%s\t\n", s.FirstReply)
	fmt.Fprintf(tw, "  time to claim\t%s\t\n", s.Claim)
	fmt.Fprintf(tw, "  time to resolve\t%s\t\n", s.Resolution)
	fmt.Fprintf(tw, "  SLA breaches\t%.0f\t(%s)\n", total(s.Breaches), breakdown(s.Breaches))
	fmt.Fprintf(tw, "  queue depth\t%.0f open\t(%s)\n", total(s.Open), breakdown(s.Open))
	fmt.Fprintf(tw, "  unclaimed\t%.0f\t(%s)\n", total(s.Unclaimed), breakdown(s.Unclaimed))
	if s.IncidentAck.Count > 0 {
		fmt.Fprintf(tw, "  incident acknowledged\t%s\t(declaration to every complainant answered)\n", s.IncidentAck)
		fmt.Fprintf(tw, "  incident publications\t%.0f\t(%s)\n", total(s.IncidentReplies), breakdown(s.IncidentReplies))
	}
	fmt.Fprintf(tw, "  Slack messages\t%.0f\t(cards, thread lines and marks' lines posted)\n", s.SlackMessages)
	if s.RateLimited > 0 {
		fmt.Fprintf(tw, "  rate limited\t%.0f\tplatform requests answered 429\n", s.RateLimited)
	}
	_ = tw.Flush()
}
