package slack_test

import (
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
)

func TestManifest(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]slack.Config{
		"socket": {Customize: true},
		"http":   {Mode: "http"},
	} {
		out, err := slack.Manifest(cfg, "https://earshot.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s: not YAML: %v", name, err)
		}
		connectortest.Golden(t, filepath.Join("testdata", "manifest_"+name+".golden.yaml"), out)
		s := string(out)
		if name == "http" && !strings.Contains(s, "https://earshot.example.com/slack/events") {
			t.Errorf("http manifest lacks the events URL")
		}
		if name == "socket" && (!strings.Contains(s, "socket_mode_enabled: true") || !strings.Contains(s, "chat:write.customize")) {
			t.Errorf("socket manifest lacks socket mode or the customize scope")
		}
	}
	if _, err := slack.Manifest(slack.Config{Mode: "http"}, ""); err == nil {
		t.Error("an http manifest without a public URL was made")
	}
}
