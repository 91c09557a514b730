package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// metricSpec is one row of the metrics contract (DESIGN.md "Metrics").
type metricSpec struct {
	Type   string // counter, gauge, histogram
	Labels []string
}

// contract is DESIGN.md's metrics table. The dashboard and the alerts may use
// only these names (histograms through _bucket, _sum and _count) and only
// these labels (plus le on buckets, and the job and instance Prometheus adds).
var contract = map[string]metricSpec{
	"earshot_cases": {"gauge", []string{"queue", "network", "status"}},
	"earshot_oldest_unclaimed_case_age_seconds": {"gauge", []string{"queue"}},
	"earshot_posts_total":                       {"counter", []string{"network", "result"}},
	"earshot_first_response_seconds":            {"histogram", []string{"queue", "network"}},
	"earshot_claim_seconds":                     {"histogram", []string{"queue"}},
	"earshot_resolution_seconds":                {"histogram", []string{"queue"}},
	"earshot_replies_total":                     {"counter", []string{"network", "result"}},
	"earshot_sla_breaches_total":                {"counter", []string{"queue", "kind"}},
	"earshot_commands_total":                    {"counter", []string{"desk", "command", "result"}},
	"earshot_platform_requests_total":           {"counter", []string{"platform", "op", "outcome"}},
	"earshot_platform_request_duration_seconds": {"histogram", []string{"platform", "op"}},
	"earshot_journal_events_total":              {"counter", nil},
	"earshot_journal_fsync_duration_seconds":    {"histogram", nil},
}

// contractPending are metrics added since DESIGN.md's Metrics table was
// last written (the update is asked for in the closing notes): the
// dashboard and alerts may use them like the contract's. Once DESIGN.md
// lists them, they belong in contract above (TestContractMatchesDesign
// accepts either meanwhile).
var contractPending = map[string]metricSpec{
	// Operations (issue 16): targets, backlogs, connectors, the build.
	"earshot_queue_sla_seconds":                      {"gauge", []string{"queue", "kind"}},
	"earshot_desk_backlog":                           {"gauge", []string{"desk", "kind"}},
	"earshot_outbox_items":                           {"gauge", []string{"network", "state"}},
	"earshot_rate_limit_wait_seconds_total":          {"counter", []string{"platform"}},
	"earshot_connector_up":                           {"gauge", []string{"connector"}},
	"earshot_connector_last_error_timestamp_seconds": {"gauge", []string{"connector"}},
	"earshot_build_info":                             {"gauge", []string{"version", "revision", "goversion"}},
	// High availability (issue 19, store: {kind: nats}).
	"earshot_leader":                           {"gauge", nil},
	"earshot_journal_lag_events":               {"gauge", nil},
	"earshot_lease_renewals_total":             {"counter", []string{"result"}},
	"earshot_failovers_total":                  {"counter", nil},
	"earshot_journal_publish_duration_seconds": {"histogram", nil},
	// Incidents (issue 18, bridge/incident_metrics.go).
	"earshot_incidents":                       {"gauge", []string{"queue", "status"}},
	"earshot_incident_cases":                  {"gauge", []string{"queue"}},
	"earshot_incident_suggestion_age_seconds": {"gauge", []string{"queue"}},
	"earshot_incident_suggestions_total":      {"counter", []string{"queue"}},
	"earshot_incident_replies_total":          {"counter", []string{"network", "purpose", "result"}},
	"earshot_incident_ack_seconds":            {"histogram", []string{"queue"}},
}

func init() {
	for name, spec := range contractPending {
		if _, ok := contract[name]; !ok {
			contract[name] = spec
		}
	}
}

// contractValues are the bounded label values DESIGN.md lists; a matcher on
// one of these labels must name only these values.
var contractValues = map[string][]string{
	"earshot_cases/status":                    {"new", "claimed", "escalated", "waiting"},
	"earshot_posts_total/result":              {"opened", "follow_up", "duplicate", "ignored", "own"},
	"earshot_replies_total/result":            {"sent", "failed", "cancelled", "refused", "uncertain"},
	"earshot_sla_breaches_total/kind":         {"first_response", "resolution"},
	"earshot_commands_total/result":           {"ok", "refused", "error"},
	"earshot_platform_requests_total/outcome": {"ok", "rate_limited", "error"},
	"earshot_lease_renewals_total/result":     {"ok", "failed"},
	"earshot_queue_sla_seconds/kind":          {"first_response", "resolution"},
	"earshot_desk_backlog/kind":               {"new_card", "update", "retry"},
	"earshot_outbox_items/state":              {"waiting", "due", "attempting"},
	"earshot_incidents/status":                {"suggested", "open", "resolved", "dismissed"},
	"earshot_incident_replies_total/purpose":  {"ack", "closing", "status"},
	"earshot_incident_replies_total/result":   {"sent", "failed", "cancelled", "refused", "uncertain"},
}

// The table above is DESIGN.md's table: every name there is here and back.
func TestContractMatchesDesign(t *testing.T) {
	design, err := readDesign(t)
	if err != nil {
		t.Skipf("DESIGN.md not found next to the repository (%v): cannot compare the contract table", err)
	}
	sec := design
	if i := strings.Index(sec, "## Metrics"); i >= 0 {
		sec = sec[i:]
		if j := strings.Index(sec[3:], "\n## "); j >= 0 {
			sec = sec[:j+3]
		}
	}
	inDesign := map[string]bool{}
	for _, m := range regexp.MustCompile(`earshot_[a-z0-9_]+`).FindAllString(sec, -1) {
		inDesign[m] = true
	}
	for name := range contract {
		if _, pending := contractPending[name]; !inDesign[name] && !pending {
			t.Errorf("%s is in the test's contract but not in DESIGN.md's Metrics section", name)
		}
	}
	for name := range inDesign {
		if _, ok := contract[name]; !ok {
			t.Errorf("DESIGN.md's Metrics section names %s, missing from the test's contract table", name)
		}
	}
}

// use is one metric selector found in a PromQL expression.
type use struct {
	Metric   string            // as written (may end in _bucket, ...)
	Matchers map[string]string // label -> value or regex as written
	Where    string
}

// Identifiers that are PromQL keywords or functions, not metric names.
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "offset": true, "bool": true, "inf": true, "nan": true,
	// aggregation operators, which may be followed by by/without before "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

var (
	reIdent   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	reMatcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// scanPromQL finds the metric selectors of a PromQL expression: identifiers
// that are not followed by "(" (functions), not inside by/on/without (...)
// label lists, not keywords, not inside strings or [ranges], and not label
// names inside {...}. Good enough for the expressions we write; the
// integration test has Prometheus parse them for real.
func scanPromQL(expr, where string) []use {
	var out []use
	i := 0
	afterGrouping := false
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '[':
			i += strings.IndexByte(expr[i:], ']') + 1
		case c == '{': // a bare {...} selector: not used by us
			i += closingBrace(expr[i:]) + 1
		case c == '(' && afterGrouping:
			i += strings.IndexByte(expr[i:], ')') + 1
			afterGrouping = false
		case reIdent.MatchString(string(c)) && (i == 0 || !isIdentByte(expr[i-1])):
			id := reIdent.FindString(expr[i:])
			i += len(id)
			rest := strings.TrimLeft(expr[i:], " \t\n")
			lower := strings.ToLower(id)
			switch {
			case lower == "by" || lower == "without" || lower == "on" || lower == "ignoring" ||
				lower == "group_left" || lower == "group_right":
				afterGrouping = true
			case promqlWords[lower]:
			case strings.HasPrefix(rest, "("):
				// a function call (or an aggregation)
			case strings.HasPrefix(id, "$"):
			default:
				u := use{Metric: id, Matchers: map[string]string{}, Where: where}
				if strings.HasPrefix(rest, "{") {
					skip := len(expr[i:]) - len(rest)
					end := closingBrace(rest)
					for _, m := range reMatcher.FindAllStringSubmatch(rest[:end], -1) {
						u.Matchers[m[1]] = m[3]
					}
					i += skip + end + 1
				}
				out = append(out, u)
			}
		default:
			i++
		}
	}
	return out
}

// closingBrace returns the index of the "}" closing the selector s starts
// with, skipping quoted strings.
func closingBrace(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '}':
			return i
		}
	}
	return len(s) - 1
}

func isIdentByte(b byte) bool {
	return b == '_' || b == ':' || b == '.' || b == '$' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

// checkUses reports every selector that is not in the contract: unknown
// metric names, histogram suffixes on non-histograms, unknown labels, and
// equality matchers on values the contract does not list. recorded are the
// names recording rules define (allowed as metrics).
func checkUses(t *testing.T, uses []use, recorded map[string]bool) {
	t.Helper()
	checkUsesInto(t, uses, recorded)
}

// errorer is the part of *testing.T checkUsesInto reports to.
type errorer interface {
	Errorf(format string, args ...any)
}

// recorder collects errors, to test the checker itself.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func checkUsesInto(t errorer, uses []use, recorded map[string]bool) {
	for _, u := range uses {
		if recorded[u.Metric] || u.Metric == "up" {
			continue
		}
		base, suffix := u.Metric, ""
		spec, ok := contract[base]
		if !ok {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if b, found := strings.CutSuffix(u.Metric, s); found {
					if sp, ok2 := contract[b]; ok2 && sp.Type == "histogram" {
						base, suffix, spec, ok = b, s, sp, true
					}
				}
			}
		}
		if !ok {
			t.Errorf("%s: metric %s is not in the DESIGN.md metrics contract", u.Where, u.Metric)
			continue
		}
		if spec.Type == "histogram" && suffix == "" {
			t.Errorf("%s: histogram %s used without _bucket/_sum/_count", u.Where, base)
		}
		for label, value := range u.Matchers {
			if label == "job" || label == "instance" || (label == "le" && suffix == "_bucket") {
				continue
			}
			if !slices.Contains(spec.Labels, label) {
				t.Errorf("%s: %s has no label %q (contract: %v)", u.Where, base, label, spec.Labels)
				continue
			}
			if allowed, bounded := contractValues[base+"/"+label]; bounded && !strings.ContainsAny(value, "$.*+?()[]") {
				for _, v := range strings.Split(value, "|") {
					if !slices.Contains(allowed, v) {
						t.Errorf("%s: %s{%s=%q}: %q is not one of the contract's values %v", u.Where, base, label, value, v, allowed)
					}
				}
			}
		}
	}
}

// dashboardExprs returns every PromQL expression of the dashboard (panel
// targets, nested row panels, and query variables) keyed by where it is.
func dashboardExprs(t *testing.T) (map[string]string, map[string]any) {
	t.Helper()
	var dash map[string]any
	if err := json.Unmarshal(readFile(t, "deploy/grafana/earshot.json"), &dash); err != nil {
		t.Fatalf("earshot.json: %v", err)
	}
	out := map[string]string{}
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			pm, _ := p.(map[string]any)
			title, _ := pm["title"].(string)
			targets, _ := pm["targets"].([]any)
			for _, tg := range targets {
				tm, _ := tg.(map[string]any)
				expr, _ := tm["expr"].(string)
				ref, _ := tm["refId"].(string)
				out["panel "+title+" / "+ref] = expr
			}
			if nested, ok := pm["panels"].([]any); ok {
				walk(nested)
			}
		}
	}
	panels, _ := dash["panels"].([]any)
	walk(panels)
	return out, dash
}

// alertRules is prometheus/alerts.yml decoded.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	var r alertRules
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/alerts.yml"), &r); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return r
}

// alertExprs returns every rule expression of alerts.yml keyed by rule name,
// and the names recording rules define.
func alertExprs(t *testing.T) (map[string]string, map[string]bool) {
	t.Helper()
	exprs := map[string]string{}
	recorded := map[string]bool{}
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if r.Record != "" {
				name = "record " + r.Record
				recorded[r.Record] = true
			}
			exprs[name] = r.Expr
		}
	}
	return exprs, recorded
}

func TestDashboardAndAlertsUseOnlyContractMetrics(t *testing.T) {
	dash, _ := dashboardExprs(t)
	alerts, recorded := alertExprs(t)
	used := map[string]bool{}
	for name, expr := range dash {
		uses := scanPromQL(expr, "dashboard "+name)
		if len(uses) == 0 {
			t.Errorf("dashboard %s: no metric found in %q", name, expr)
		}
		checkUses(t, uses, nil)
		for _, u := range uses {
			used[strings.TrimSuffix(u.Metric, "_bucket")] = true
		}
	}
	for name, expr := range alerts {
		checkUses(t, scanPromQL(expr, "alerts.yml "+name), recorded)
	}
	// The dashboard shows every metric of the contract (and of incidents).
	var missing []string
	for name := range contract {
		if !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard shows none of %v", missing)
	}
}

func TestScanPromQL(t *testing.T) {
	uses := scanPromQL(`histogram_quantile(0.9, sum by (le, queue) (rate(earshot_claim_seconds_bucket{queue=~"$queue", x="a}b"}[$__rate_interval]))) > on (queue) group_left () earshot:rec or absent(up{job="earshot"})`, "t")
	var got []string
	for _, u := range uses {
		got = append(got, u.Metric)
	}
	if want := []string{"earshot_claim_seconds_bucket", "earshot:rec", "up"}; !slices.Equal(got, want) {
		t.Fatalf("metrics = %q, want %q", got, want)
	}
	if uses[0].Matchers["queue"] != "$queue" || uses[0].Matchers["x"] != "a}b" {
		t.Errorf("matchers = %v", uses[0].Matchers)
	}

	// The checker catches what it is for.
	bad := []use{
		{Metric: "earshot_nope", Where: "a"},
		{Metric: "earshot_cases", Matchers: map[string]string{"handle": "x"}, Where: "b"},
		{Metric: "earshot_cases", Matchers: map[string]string{"status": "open"}, Where: "c"},
		{Metric: "earshot_claim_seconds", Where: "d"},
		{Metric: "earshot_cases_bucket", Where: "e"},
	}
	for _, u := range bad {
		rec := &recorder{}
		checkUsesInto(rec, []use{u}, nil)
		if len(rec.errs) == 0 {
			t.Errorf("checkUses accepted %+v", u)
		}
	}
}

// readDesign reads DESIGN.md: in the repository, else in ../shared/ beside
// it (where the team keeps it during development).
func readDesign(t *testing.T) (string, error) {
	root := repoRoot(t)
	var firstErr error
	for _, p := range []string{filepath.Join(root, "DESIGN.md"), filepath.Join(root, "..", "shared", "DESIGN.md")} {
		b, err := os.ReadFile(p)
		if err == nil {
			return string(b), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}
