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
	d := depsFor(withDefaults(bridge.Deps{DataDir: "/data"}), "slack")
	if d.DataDir != "/data/connectors/slack" || d.Logger == nil || d.Requests == nil {
		t.Errorf("deps = %+v", d)
	}
	if d := depsFor(withDefaults(bridge.Deps{}), "x"); d.DataDir != "" {
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
