package script

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSummarizeReadsTheContractMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	posts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_posts_total"}, []string{"network", "result"})
	replies := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_replies_total"}, []string{"network", "result"})
	cases := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "earshot_cases"}, []string{"queue", "network", "status"})
	first := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "earshot_first_response_seconds",
		Buckets: []float64{1, 2, 4, 8, 16}}, []string{"queue", "network"})
	breaches := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "earshot_sla_breaches_total"}, []string{"queue", "kind"})
	reg.MustRegister(posts, replies, cases, first, breaches)
	posts.WithLabelValues("x", "opened").Add(300)
	posts.WithLabelValues("mastodon", "opened").Add(20)
	posts.WithLabelValues("x", "follow_up").Add(6)
	replies.WithLabelValues("x", "sent").Add(12)
	replies.WithLabelValues("x", "cancelled").Add(1)
	cases.WithLabelValues("broadband", "x", "new").Set(280)
	cases.WithLabelValues("broadband", "x", "claimed").Set(9)
	cases.WithLabelValues("rail", "mastodon", "new").Set(4)
	breaches.WithLabelValues("rail", "first_response").Inc()
	for i := 0; i < 100; i++ { // 0, 1.5, ... 13.5, ten each: p50 in (4,8], p90 in (8,16]
		first.WithLabelValues("broadband", "x").Observe(float64(i%10) * 1.5)
	}

	s, err := Summarize(reg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Posts["opened"] != 320 || s.Replies["sent"] != 12 || s.Open["broadband"] != 289 || s.Unclaimed["broadband"] != 280 ||
		s.Unclaimed["rail"] != 4 || s.Breaches["first_response"] != 1 {
		t.Errorf("summary %+v", s)
	}
	if s.FirstReply.Count != 100 || s.FirstReply.P50 != 8 || s.FirstReply.P90 != 16 || s.FirstReply.Mean != 6.75 {
		t.Errorf("first response %+v", s.FirstReply)
	}
	var b bytes.Buffer
	s.Write(&b)
	for _, want := range []string{"cases opened", "320", "sent 12 · cancelled 1", "queue depth", "293 open", "SLA breaches", "mean 6.8s · p50 ≤ 8.0s · p90 ≤ 16.0s (100 cases)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "rate limited") {
		t.Errorf("rate-limit line without any:\n%s", b.String())
	}
}

func TestQuantilesOfNothing(t *testing.T) {
	if q := (Quantiles{}); q.String() != "no data yet" {
		t.Errorf("%q", q.String())
	}
}
