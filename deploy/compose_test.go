package deploy

import (
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// mountSource returns the host path of a compose bind mount "SRC:DST[:ro]"
// whose DST is dst, or "".
func mountSource(vols []any, dst string) string {
	for _, v := range vols {
		s, _ := v.(string)
		parts := strings.Split(s, ":")
		if len(parts) >= 2 && parts[1] == dst {
			return parts[0]
		}
	}
	return ""
}

func TestCompose(t *testing.T) {
	var c map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/compose/compose.yaml"), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc := func(name string) any {
		s := dig(c, "services", name)
		if s == nil {
			t.Fatalf("compose.yaml has no service %q", name)
		}
		return s
	}
	// Paths in compose.yaml are relative to deploy/compose/.
	exists := func(rel string) {
		t.Helper()
		p := path.Join("deploy/compose", rel)
		readFile(t, p) // fails the test if missing
	}

	e := svc("earshot")
	if dig(e, "build", "context") != "../.." || dig(e, "build", "dockerfile") != "Dockerfile" {
		t.Errorf("earshot build = %v, want the repository's Dockerfile", dig(e, "build"))
	}
	cmd := anyStrings(dig(e, "command"))
	if len(cmd) == 0 || cmd[0] != "demo" || !slices.Contains(cmd, "--addr") {
		t.Errorf("earshot command = %v, want the demo listening on the container's port", cmd)
	}
	if !slices.Contains(anyStrings(dig(e, "ports")), "8080:8080") {
		t.Error("earshot does not publish 8080")
	}
	// The demo keeps its journal on the volume mounted for it.
	vol := ""
	for _, v := range anyStrings(dig(e, "volumes")) {
		if src, dst, ok := strings.Cut(v, ":"); ok && dst == "/var/lib/earshot" {
			vol = src
		}
	}
	if i := slices.Index(cmd, "--data"); vol == "" || i < 0 || i+1 >= len(cmd) || !strings.HasPrefix(cmd[i+1], "/var/lib/earshot") {
		t.Errorf("earshot command = %v with volume %q: want --data inside the volume at /var/lib/earshot", cmd, vol)
	}
	// Every service has a healthcheck; earshot's runs the binary itself
	// (the image has no shell or curl); each waits for what it needs.
	if got := anyStrings(dig(e, "healthcheck", "test")); !slices.Equal(got, []string{"CMD", "/earshot", "healthcheck"}) {
		t.Errorf("earshot healthcheck = %v, want [CMD /earshot healthcheck]", got)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if test := anyStrings(dig(svc(name), "healthcheck", "test")); len(test) < 2 || test[0] != "CMD" {
			t.Errorf("%s has no healthcheck (got %v)", name, test)
		}
	}
	for name, after := range map[string]string{"prometheus": "earshot", "grafana": "prometheus"} {
		if dig(svc(name), "depends_on", after, "condition") != "service_healthy" {
			t.Errorf("%s does not wait for %s to be healthy", name, after)
		}
	}

	p := svc("prometheus")
	promCfg := mountSource(dig(p, "volumes").([]any), "/etc/prometheus/prometheus.yml")
	rules := mountSource(dig(p, "volumes").([]any), "/etc/prometheus/rules/alerts.yml")
	if rules != "../prometheus/alerts.yml" {
		t.Errorf("prometheus does not load deploy/prometheus/alerts.yml (got %q)", rules)
	}
	exists(promCfg)
	var pc map[string]any
	if err := yaml.Unmarshal(readFile(t, path.Join("deploy/compose", promCfg)), &pc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(anyStrings(pc["rule_files"]), "/etc/prometheus/rules/alerts.yml") {
		t.Error("compose prometheus.yml does not load the rules file")
	}
	var scraped bool
	for _, sc := range pc["scrape_configs"].([]any) {
		if dig(sc, "job_name") == "earshot" && reflect.DeepEqual(dig(sc, "static_configs", 0, "targets"), []any{"earshot:8080"}) {
			scraped = true
		}
	}
	if !scraped {
		t.Error(`compose prometheus.yml has no job "earshot" scraping earshot:8080 (EarshotDown expects job="earshot")`)
	}

	g := svc("grafana")
	gv := dig(g, "volumes").([]any)
	prov := mountSource(gv, "/etc/grafana/provisioning")
	dash := mountSource(gv, "/var/lib/grafana/dashboards/earshot.json")
	if dash != "../grafana/earshot.json" {
		t.Errorf("grafana does not mount deploy/grafana/earshot.json (got %q)", dash)
	}
	exists(dash)
	if prov != "../grafana/provisioning" {
		t.Fatalf("grafana provisioning mount = %q", prov)
	}

	// Datasource provisioning points at the compose Prometheus.
	var ds map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/grafana/provisioning/datasources/prometheus.yaml"), &ds); err != nil {
		t.Fatal(err)
	}
	if dig(ds, "datasources", 0, "type") != "prometheus" || dig(ds, "datasources", 0, "url") != "http://prometheus:9090" || dig(ds, "datasources", 0, "isDefault") != true {
		t.Errorf("datasource = %v", dig(ds, "datasources", 0))
	}
	// Dashboard provisioning loads the directory the dashboard is mounted in.
	var dp map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/grafana/provisioning/dashboards/earshot.yaml"), &dp); err != nil {
		t.Fatal(err)
	}
	if dig(dp, "providers", 0, "type") != "file" || dig(dp, "providers", 0, "options", "path") != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider = %v", dig(dp, "providers", 0))
	}
}

func TestDashboard(t *testing.T) {
	exprs, dash := dashboardExprs(t)
	if dash["uid"] != "earshot" || dash["title"] == "" {
		t.Errorf("dashboard uid/title = %v/%v", dash["uid"], dash["title"])
	}
	vars := map[string]any{}
	for _, v := range dig(dash, "templating", "list").([]any) {
		vars[dig(v, "name").(string)] = v
	}
	for _, name := range []string{"queue", "network"} {
		v := vars[name]
		if v == nil {
			t.Errorf("no $%s variable", name)
			continue
		}
		q, _ := dig(v, "query", "query").(string)
		if !strings.HasPrefix(q, "label_values(earshot_") || !strings.HasSuffix(q, ", "+name+")") {
			t.Errorf("$%s query = %q, want label_values(<contract metric>, %s)", name, q, name)
		}
		checkUses(t, scanPromQL(strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ", "+name+")"), "variable "+name), nil)
		if dig(v, "includeAll") != true || dig(v, "multi") != true || dig(v, "allValue") != ".*" {
			t.Errorf("$%s: want multi-value with All = .*", name)
		}
	}
	if dig(vars["datasource"], "type") != "datasource" {
		t.Error("no datasource variable: the dashboard would be tied to one Grafana's datasource uid")
	}
	// Every panel queries through the datasource variable.
	var walk func([]any)
	walk = func(ps []any) {
		for _, p := range ps {
			if dig(p, "type") != "row" && dig(p, "datasource", "uid") != "${datasource}" {
				t.Errorf("panel %v does not use ${datasource}", dig(p, "title"))
			}
			if n, ok := dig(p, "panels").([]any); ok {
				walk(n)
			}
		}
	}
	walk(dig(dash, "panels").([]any))

	// What issue 7 asks the dashboard to show, by metric.
	want := map[string]string{
		"queue depth by status":           `earshot_cases{`,
		"oldest unclaimed case age":       `earshot_oldest_unclaimed_case_age_seconds{`,
		"new cases per minute by network": `sum by (network) (rate(earshot_posts_total{`,
		"first response p50":              `histogram_quantile(0.5, sum by (le) (rate(earshot_first_response_seconds_bucket`,
		"first response p90":              `histogram_quantile(0.9, sum by (le) (rate(earshot_first_response_seconds_bucket`,
		"claim time":                      `earshot_claim_seconds_bucket`,
		"resolution time":                 `earshot_resolution_seconds_bucket`,
		"SLA breaches":                    `earshot_sla_breaches_total`,
		"replies by result":               `sum by (result) (rate(earshot_replies_total`,
		"commands by result":              `sum by (result) (rate(earshot_commands_total`,
		"platform requests by outcome":    `sum by (platform, outcome) (rate(earshot_platform_requests_total`,
		"journal fsync time":              `earshot_journal_fsync_duration_seconds_bucket`,
		// Issue 16: depth per queue, the SLA targets beside the ages,
		// backlogs, rate-limit waits, connectors, the build.
		"queue depth per queue":        `sum by (queue) (earshot_cases{`,
		"first-response targets":       `earshot_queue_sla_seconds{queue=~"$queue", kind="first_response"}`,
		"desk backlog":                 `sum by (desk, kind) (earshot_desk_backlog)`,
		"outbox by state":              `sum by (network, state) (earshot_outbox_items{`,
		"time waiting for rate limits": `rate(earshot_rate_limit_wait_seconds_total[`,
		"connectors up or down":        `earshot_connector_up`,
		"last connector error":         `earshot_connector_last_error_timestamp_seconds`,
		"version":                      `earshot_build_info`,
	}
	for what, frag := range want {
		var found bool
		for _, e := range exprs {
			if strings.Contains(e, frag) {
				found = true
			}
		}
		if !found {
			t.Errorf("no panel shows %s (an expression containing %q)", what, frag)
		}
	}
	// Queue depth per queue is stacked, one band per queue.
	var stacked bool
	for _, p := range dig(dash, "panels").([]any) {
		if dig(p, "title") == "Queue depth per queue" {
			stacked = dig(p, "fieldConfig", "defaults", "custom", "stacking", "mode") == "normal"
		}
	}
	if !stacked {
		t.Error("no stacked \"Queue depth per queue\" panel")
	}
	// Queue- and network-labelled metrics honour the variables.
	for where, e := range exprs {
		for _, u := range scanPromQL(e, where) {
			base := strings.TrimSuffix(u.Metric, "_bucket")
			spec := contract[base]
			for _, l := range []string{"queue", "network"} {
				if slices.Contains(spec.Labels, l) && u.Matchers[l] != "$"+l {
					t.Errorf("%s: %s ignores $%s", where, u.Metric, l)
				}
			}
		}
	}
}

// Panels fit the 24-column grid without overlapping, ids are unique, and
// every panel has a title and a description (the operator's first help).
func TestDashboardLayout(t *testing.T) {
	_, dash := dashboardExprs(t)
	type rect struct{ x, y, w, h int }
	var placed []rect
	var titles []string
	ids := map[int]bool{}
	for _, p := range dig(dash, "panels").([]any) {
		title, _ := dig(p, "title").(string)
		id := int(dig(p, "id").(float64))
		if ids[id] {
			t.Errorf("panel id %d used twice", id)
		}
		ids[id] = true
		g := rect{int(dig(p, "gridPos", "x").(float64)), int(dig(p, "gridPos", "y").(float64)),
			int(dig(p, "gridPos", "w").(float64)), int(dig(p, "gridPos", "h").(float64))}
		if g.w <= 0 || g.h <= 0 || g.x < 0 || g.x+g.w > 24 {
			t.Errorf("panel %q gridPos %+v is outside the 24-column grid", title, g)
		}
		for i, o := range placed {
			if g.x < o.x+o.w && o.x < g.x+g.w && g.y < o.y+o.h && o.y < g.y+g.h {
				t.Errorf("panel %q overlaps panel %q", title, titles[i])
			}
		}
		placed = append(placed, g)
		titles = append(titles, title)
		if title == "" {
			t.Errorf("panel %d has no title", id)
		}
		if dig(p, "type") != "row" && dig(p, "description") == nil {
			t.Errorf("panel %q has no description", title)
		}
	}
}
