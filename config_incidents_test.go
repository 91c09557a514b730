package main

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

const incidentBase = `queues: [{name: q, desk: slack, channel: C1}]
slack: {bot_token: xoxb-t, app_token: xapp-t}
mastodon: {server: "https://m.example", access_token: tok}
watch: [{network: mastodon, mentions: true}]
`

// incidents:, replies:, outbox.pacing and the queue keys map onto the
// bridge's config; each bad value is refused with its path and line.
func TestIncidentConfig(t *testing.T) {
	lc, err := parseConfig("/cfg/earshot.yaml", []byte(incidentBase+`incidents:
  declare_role: lead
  surge: {threshold: 20, window: 5m}
  batch_every: 2s
replies:
  - {name: sorry, text: "Sorry {name}"}
  - {name: later, text: "Later, {handle}"}
outbox:
  pacing: [{network: mastodon, requests: 100, per: 5m}]
`), env(), files())
	if err != nil {
		t.Fatal(err)
	}
	p, err := prepareLoaded(lc)
	if err != nil {
		t.Fatal(err)
	}
	b := p.Bridge
	if b.Incidents.DeclareRole != bridge.RoleLead || b.Incidents.Surge.Threshold != 20 || b.Incidents.Surge.Window != 5*time.Minute ||
		b.Incidents.BatchEvery != 2*time.Second || len(b.Replies) != 2 || b.Replies[1].Name != "later" ||
		b.Pacing["mastodon"] != (bridge.Budget{Requests: 100, Per: 5 * time.Minute}) || b.Queues[0].SeparateCases {
		t.Errorf("mapped %+v", b)
	}
	sep, _ := parseConfig("/cfg/earshot.yaml", []byte(strings.Replace(incidentBase, "channel: C1}", "channel: C1, one_case_per_customer: false, surge: {off: true}}", 1)), env(), files())
	if p, err := prepareLoaded(sep); err != nil || !p.Bridge.Queues[0].SeparateCases || !p.Bridge.Queues[0].Surge.Off {
		t.Errorf("queue keys: %+v %v", p, err)
	}

	got := parseErr(t, incidentBase+`incidents:
  declare_role: boss
  surge: {threshold: 1}
replies:
  - {name: "Bad Name", text: "x"}
  - {name: ok, text: "{nope} there"}
  - {name: ok, text: "y"}
outbox:
  pacing:
    - {network: mastodon, requests: 0, per: 5m}
    - {network: bluesky, requests: 5, per: 1m}
`, env(), files())
	for _, want := range []string{
		`:6: incidents.declare_role: unknown role "boss"`,
		"incidents.surge.threshold: must be at least 2",
		`replies[0]: name "Bad Name" must be one lower-case word`,
		"replies[1] (ok): unknown placeholder {nope}",
		`replies[2]: name "ok" is used twice`,
		"outbox.pacing[0]: requests and per must both be positive",
		`outbox.pacing: no network "bluesky" is configured`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}
