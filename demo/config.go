package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
)

// ConfigOptions are the few settings of the demo's config file.
type ConfigOptions struct {
	Listen     string        // "127.0.0.1:8080"
	DataDir    string        // where the journal goes
	UndoWindow time.Duration // Earshot's undo window; 0 publishes at once
	LogLevel   string        // "warn" when empty
}

// Config renders the config file that points Earshot's real connectors at
// this world's fakes: an ordinary earshot.yaml (the same keys as
// deploy/earshot.example.yaml), which `earshot run --config` would accept
// too while the fakes run. Pure: no I/O.
func (w *World) Config(o ConfigOptions) []byte {
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	data := map[string]any{
		"Opts":     o,
		"Channels": Channels,
		"Routes":   Routes,
		"Staff":    staffRules(),
		"Networks": []string{Mastodon, Bluesky, X, Reviews},
		"Keywords": WatchKeywords,
		"Hashtags": WatchHashtags,
		"Exclude":  WatchExclude,
		"Slack": map[string]string{
			"BotToken": w.Slack.Options().BotToken, "AppToken": w.Slack.Options().AppToken, "APIURL": w.Slack.APIURL(),
		},
		"Discord":  map[string]string{"Token": w.Discord.Options().Token, "Guild": w.Discord.Options().GuildID, "APIURL": w.Discord.URL()},
		"Mastodon": map[string]string{"Server": w.Mastodon.URL(), "Token": w.Mastodon.Us().Token},
		"Bluesky": map[string]string{"Service": w.Bluesky.URL(), "Jetstream": w.Bluesky.JetstreamURL(),
			"Identifier": blueskyfake.OurHandle, "Password": blueskyfake.OurPassword},
		"X":       map[string]string{"APIURL": w.X.URL(), "ClientID": "earshot-client", "RefreshToken": w.X.RefreshToken()},
		"Webhook": map[string]string{"Secret": webhookSecret, "ReplyURL": w.Reviews.ReplyURL(), "Source": ReviewSource},
	}
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, data); err != nil {
		// The template and its data are fixed: a failure is a bug here.
		return []byte("# demo: config template failed: " + err.Error() + "\n")
	}
	return b.Bytes()
}

// q quotes a value as a YAML double-quoted scalar (JSON strings are valid YAML).
func q(v any) string {
	switch v := v.(type) {
	case time.Duration:
		return q(v.String())
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = q(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	b, _ := json.Marshal(fmt.Sprint(v))
	return string(b)
}

var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"q": q}).Parse(
	`# Written by ` + "`earshot demo`" + `: an ordinary Earshot config whose connectors point
# at the fakes this demo started on loopback. deploy/earshot.example.yaml
# explains every key.
listen: {{q .Opts.Listen}}
data_dir: {{q .Opts.DataDir}}
log: {format: text, level: {{q .Opts.LogLevel}}}

outbox:
  undo_window: {{q .Opts.UndoWindow}}   # short, so you can watch it; edit or delete a reply inside it
  retry: {attempts: 3, backoff: "500ms", max_wait: "5s"}

queues:
{{- range .Channels}}
  - name: {{q .Queue}}
    desk: {{q .Desk}}
    channel: {{q .ID}}   # #{{.Name}}
{{- if .Team}}
    team: true
{{- end}}
    sla:
{{- if .FirstResponse}}
      first_response: {{q .FirstResponse}}
{{- end}}
{{- if .Resolution}}
      resolution: {{q .Resolution}}
{{- end}}
{{- end}}

# Incidents: a few similar complaints in a queue are enough for a
# suggestion here, so a newcomer sees one in the sandbox (a real team sets
# 15 or more); cards and batch lines refresh quickly to watch.
incidents:
  surge: {threshold: 4, window: 10m}
  batch_every: 2s
  card_every: 1s

replies:
  - name: outage
    text: "Hi {name}, sorry: we know about the outage and engineers are on it. We will post updates here."
  - name: sorry-delay
    text: "Sorry for the wait, {name}. We are looking into {case} now."

watch:
{{- range .Networks}}
  - network: {{q .}}
    mentions: true
    replies_to_us: true
    direct: true
    keywords: {{q $.Keywords}}
    hashtags: {{q $.Hashtags}}
    exclude: {{q $.Exclude}}
{{- end}}

routes:
{{- range .Routes}}
  - name: {{q .Name}}
    keywords: {{q .Keywords}}
    queue: {{q .Queue}}
    priority: {{.Priority}}
    tags: {{q .Tags}}
{{- end}}

staff:
{{- range .Staff}}
  - {desk: {{q .Desk}}, {{.Kind}}: {{q .ID}}, role: {{.Role}}}   # {{.Who}}
{{- end}}

slack:
  bot_token: {{q .Slack.BotToken}}
  app_token: {{q .Slack.AppToken}}
  api_url: {{q .Slack.APIURL}}
  customize: true
  pacing:   # the fake takes more than real Slack (1/s per channel), so the outage scene ends in seconds
    channel_per_second: 20
    channel_burst: 20
    workspace_per_second: 40
    updates_per_minute: 3000

discord:
  token: {{q .Discord.Token}}
  guild_id: {{q .Discord.Guild}}
  api_url: {{q .Discord.APIURL}}
  pacing:   # the fake takes more than real Discord (about 1/s per channel)
    channel_per_second: 20
    channel_burst: 20
    global_per_second: 45

mastodon:
  server: {{q .Mastodon.Server}}
  access_token: {{q .Mastodon.Token}}
  hashtags: {{q .Hashtags}}
  request_timeout: "5s"

bluesky:
  service: {{q .Bluesky.Service}}
  identifier: {{q .Bluesky.Identifier}}
  app_password: {{q .Bluesky.Password}}
  jetstream: {{q .Bluesky.Jetstream}}
  keywords: {{q .Keywords}}
  chat_poll: "1s"
  request_timeout: "5s"

x:
  api_url: {{q .X.APIURL}}
  client_id: {{q .X.ClientID}}
  refresh_token: {{q .X.RefreshToken}}
  keywords: {{q .Keywords}}
  direct_messages: true
  posts_per_15m: 10000   # the fake's budget is wider than a real tier's, so the outage scene ends in seconds
  poll_interval: "1s"
  request_timeout: "5s"

webhook:
  secret: {{q .Webhook.Secret}}
  reply_url: {{q .Webhook.ReplyURL}}
  sources:
    - name: {{q .Webhook.Source}}
`))

// staffRule is one staff: entry of the config.
type staffRule struct {
	Desk, Kind, ID, Role, Who string
}

// staffRules grants each role by group where the cast has one, else by user.
func staffRules() []staffRule {
	var out []staffRule
	seen := map[string]bool{}
	for _, p := range Staff {
		switch {
		case p.Role == RoleNone:
		case p.Group != "":
			if !seen[p.Desk+p.Group] {
				seen[p.Desk+p.Group] = true
				out = append(out, staffRule{p.Desk, "group", p.Group, p.Role, "a group: " + p.About})
			}
		default:
			out = append(out, staffRule{p.Desk, "user", p.ID, p.Role, p.Name})
		}
	}
	return out
}
