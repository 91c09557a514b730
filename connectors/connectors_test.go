package connectors

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/bridge"
)

func TestSections(t *testing.T) {
	var cfg Config
	if err := yaml.Unmarshal([]byte("slack: {}\nx:\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	secs := cfg.Sections()
	if len(secs) != 1 || secs[0] != (Section{Name: "slack", Kind: KindDesk}) {
		t.Errorf("sections = %+v (an empty `x:` is absent)", secs)
	}
}

func TestBuildEmpty(t *testing.T) {
	set, err := Build(Config{}, bridge.Deps{})
	if err != nil || len(set.Desks)+len(set.Networks)+len(set.Mounts)+len(set.Checks) != 0 {
		t.Errorf("empty config: %+v, %v", set, err)
	}
}

// A section whose connector is not built yet is refused by name.
func TestBuildNotBuilt(t *testing.T) {
	for _, sec := range []string{"slack", "discord", "mastodon", "bluesky", "x", "webhook"} {
		var cfg Config
		if err := yaml.Unmarshal([]byte(sec+": {}\n"), &cfg); err != nil {
			t.Fatal(err)
		}
		_, err := Build(cfg, bridge.Deps{})
		if err != nil && errors.Is(err, ErrNotBuilt) && !strings.Contains(err.Error(), sec+": connector not built") {
			t.Errorf("%s: error does not name the section: %v", sec, err)
		}
	}
}

func TestDepsFor(t *testing.T) {
	d := depsFor(bridge.Deps{DataDir: "/data"}.WithDefaults(), "slack")
	if d.DataDir != "/data/connectors/slack" || d.Logger == nil || d.Requests == nil || d.Health == nil {
		t.Errorf("deps = %+v", d)
	}
	if d := depsFor(bridge.Deps{}.WithDefaults(), "x"); d.DataDir != "" {
		t.Errorf("no data dir must stay none, got %q", d.DataDir)
	}
}

// The built connectors come back with their capabilities sorted out.
func TestBuildNetworks(t *testing.T) {
	var cfg Config
	yml := `
mastodon: {server: "https://m.example", access_token: tok}
bluesky: {identifier: us.example, app_password: pw}
webhook: {secret: s3cret}
`
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil {
		t.Fatal(err)
	}
	set, err := Build(cfg, bridge.Deps{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range set.Networks {
		names = append(names, n.Name())
	}
	if strings.Join(names, ",") != "mastodon,bluesky,webhook" {
		t.Errorf("networks = %v", names)
	}
	if len(set.Mounts) != 1 || set.Mounts[0].Name != "webhook" || len(set.Mounts[0].Routes()) == 0 {
		t.Errorf("mounts = %+v", set.Mounts)
	}
	var checks []string
	for _, c := range set.Checks {
		checks = append(checks, c.Name)
	}
	if strings.Join(checks, ",") != "mastodon,bluesky" || strings.Join(set.Unchecked, ",") != "webhook" {
		t.Errorf("checks = %v, unchecked = %v", checks, set.Unchecked)
	}

	// Every failing section is reported, each once and by name.
	cfg = Config{}
	if err := yaml.Unmarshal([]byte("mastodon: {server: nope}\nwebhook: {}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	_, err = Build(cfg, bridge.Deps{})
	if err == nil || strings.Count(err.Error(), "mastodon:") != 1 || strings.Count(err.Error(), "webhook:") != 1 {
		t.Errorf("errors = %v", err)
	}
}

// Both desks build from their sections, with routes and checks.
func TestBuildDesks(t *testing.T) {
	var cfg Config
	yml := `
slack: {bot_token: xoxb-1, app_token: xapp-1}
discord: {token: tok, guild_id: "123"}
`
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil {
		t.Fatal(err)
	}
	set, err := Build(cfg, bridge.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var desks, mounts, checks []string
	for _, d := range set.Desks {
		desks = append(desks, d.Name())
	}
	for _, m := range set.Mounts {
		mounts = append(mounts, m.Name)
	}
	for _, c := range set.Checks {
		checks = append(checks, c.Name)
	}
	if strings.Join(desks, ",") != "slack,discord" || strings.Join(mounts, ",") != "slack,discord" || strings.Join(checks, ",") != "slack,discord" {
		t.Errorf("desks %v, mounts %v, checks %v", desks, mounts, checks)
	}
	cfg = Config{}
	if err := yaml.Unmarshal([]byte("discord: {token: tok}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(cfg, bridge.Deps{}); err == nil || !strings.Contains(err.Error(), "discord: guild_id is required") {
		t.Errorf("discord without guild_id: %v", err)
	}
}
