package slack

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// SlashCommands are the channel commands the app registers. Slack refuses
// slash commands inside threads, so each takes a case id or acts on the
// channel's queue; /earshot <verb> reaches every command.
var SlashCommands = []struct{ Command, Description, Usage string }{
	{"/claim", "Claim the next case in this channel's queue, or the case given", "[E-42]"},
	{"/escalate", "Escalate a case to a team", "E-42 billing [reason]"},
	{"/resolve", "Resolve a case", "E-42 [summary]"},
	{"/queue", "List the open cases of this channel's queue", ""},
	{"/incident", "Incidents: declare one, list them, act on one (/incident help)", "open \"title\" term term | list | help"},
	{"/earshot", "Any Earshot command: /earshot help", "<verb> [args]"},
}

type manifest struct {
	DisplayInformation struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"display_information"`
	Features struct {
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []manifestCommand `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url,omitempty"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url,omitempty"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

type manifestCommand struct {
	Command      string `yaml:"command"`
	URL          string `yaml:"url,omitempty"`
	Description  string `yaml:"description"`
	UsageHint    string `yaml:"usage_hint,omitempty"`
	ShouldEscape bool   `yaml:"should_escape"`
}

// Manifest returns the Slack app manifest (YAML) for cfg: scopes, message
// events, slash commands, interactivity, and Socket Mode or, in http mode,
// the request URLs under publicURL (the shared listener's public address).
// `earshot slack manifest` prints it; deploy/slack-app-manifest.yaml is a
// commented socket-mode manifest that offers at least as much (a test in
// deploy/ holds it to this one's commands and scopes).
func Manifest(cfg Config, publicURL string) ([]byte, error) {
	cfg = cfg.withDefaults()
	var m manifest
	m.DisplayInformation.Name = "Earshot"
	m.DisplayInformation.Description = "Customer complaints from social networks, one thread per case"
	m.Features.BotUser.DisplayName = "Earshot"
	m.Features.BotUser.AlwaysOnline = true
	base := strings.TrimRight(publicURL, "/")
	if cfg.Mode == "http" && base == "" {
		return nil, fmt.Errorf("slack: manifest: http mode needs the public URL of the listener")
	}
	for _, c := range SlashCommands {
		// Escaped: mentions arrive as Slack's tokens (<@U1|mei>), so a
		// command's text is read like a message and "/earshot reply" can
		// refuse a colleague's name instead of publishing it.
		mc := manifestCommand{Command: c.Command, Description: c.Description, UsageHint: c.Usage, ShouldEscape: true}
		if cfg.Mode == "http" {
			mc.URL = base + "/slack/commands"
		}
		m.Features.SlashCommands = append(m.Features.SlashCommands, mc)
	}
	scopes := []string{"channels:history", "groups:history", "channels:read", "groups:read", "chat:write", "commands", "reactions:write",
		"users:read", "usergroups:read"}
	if cfg.Customize {
		scopes = append(scopes, "chat:write.customize")
	}
	m.OAuthConfig.Scopes.Bot = scopes
	m.Settings.EventSubscriptions.BotEvents = []string{"message.channels", "message.groups"}
	m.Settings.Interactivity.IsEnabled = true
	if cfg.Mode == "http" {
		m.Settings.EventSubscriptions.RequestURL = base + "/slack/events"
		m.Settings.Interactivity.RequestURL = base + "/slack/interactive"
	} else {
		m.Settings.SocketModeEnabled = true
	}
	out, err := yaml.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("slack: manifest: %w", err)
	}
	return out, nil
}
