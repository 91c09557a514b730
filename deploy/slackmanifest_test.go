package deploy

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/connectors/slack"
)

func TestSlackAppManifest(t *testing.T) {
	var m map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/slack-app-manifest.yaml"), &m); err != nil {
		t.Fatal(err)
	}
	var commands []string
	for _, c := range dig(m, "features", "slash_commands").([]any) {
		commands = append(commands, dig(c, "command").(string))
		if dig(c, "description") == "" {
			t.Errorf("slash command %v has no description", dig(c, "command"))
		}
	}
	// DESIGN.md: /claim, /escalate, /queue and /earshot <verb>.
	for _, want := range []string{"/claim", "/escalate", "/queue", "/earshot"} {
		if !slices.Contains(commands, want) {
			t.Errorf("manifest lacks slash command %s", want)
		}
	}
	scopes := anyStrings(dig(m, "oauth_config", "scopes", "bot"))
	for _, want := range []string{"chat:write", "chat:write.customize", "commands", "channels:history", "groups:history", "channels:read", "groups:read"} {
		if !slices.Contains(scopes, want) {
			t.Errorf("manifest lacks bot scope %s", want)
		}
	}
	events := anyStrings(dig(m, "settings", "event_subscriptions", "bot_events"))
	for _, want := range []string{"message.channels", "message.groups"} {
		if !slices.Contains(events, want) {
			t.Errorf("manifest lacks bot event %s (staff thread messages)", want)
		}
	}
	if dig(m, "settings", "interactivity", "is_enabled") != true {
		t.Error("interactivity is off: card buttons would not work")
	}
	if dig(m, "settings", "socket_mode_enabled") != true {
		t.Error("socket mode is off: the default slack.mode is socket")
	}
	// The HTTP-mode paths the comment gives are the ones the desk serves.
	text := string(readFile(t, "deploy/slack-app-manifest.yaml"))
	for _, p := range []string{"/slack/events", "/slack/interactive", "/slack/commands"} {
		if !strings.Contains(text, p) {
			t.Errorf("manifest comment does not give the HTTP-mode path %s", p)
		}
	}
}

// The hand-written manifest offers what the desk's own manifest
// (`earshot slack manifest`) asks for: every slash command, escaped alike
// (mentions arrive as ids only when escaped), and every bot scope.
func TestSlackAppManifestFollowsTheDesk(t *testing.T) {
	var file, gen map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/slack-app-manifest.yaml"), &file); err != nil {
		t.Fatal(err)
	}
	out, err := slack.Manifest(slack.Config{BotToken: "xoxb-1", AppToken: "xapp-1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &gen); err != nil {
		t.Fatal(err)
	}
	escaped := map[string]any{}
	for _, c := range dig(file, "features", "slash_commands").([]any) {
		escaped[dig(c, "command").(string)] = dig(c, "should_escape")
	}
	for _, c := range dig(gen, "features", "slash_commands").([]any) {
		name := dig(c, "command").(string)
		got, ok := escaped[name]
		if !ok {
			t.Errorf("deploy/slack-app-manifest.yaml lacks %s", name)
		} else if got != dig(c, "should_escape") {
			t.Errorf("%s: should_escape %v, the desk asks %v", name, got, dig(c, "should_escape"))
		}
	}
	scopes := anyStrings(dig(file, "oauth_config", "scopes", "bot"))
	for _, s := range anyStrings(dig(gen, "oauth_config", "scopes", "bot")) {
		if !slices.Contains(scopes, s) {
			t.Errorf("deploy/slack-app-manifest.yaml lacks bot scope %s", s)
		}
	}
}
