package slack_test

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/connectors/slack"
)

func TestConfigDecodes(t *testing.T) {
	t.Parallel()
	var c slack.Config
	err := yaml.Unmarshal([]byte(`
bot_token: xoxb-1
app_token: xapp-1
signing_secret: s
mode: http
api_url: http://127.0.0.1:9/api
customize: true
ping_interval: 45s
pacing:
  channel_per_second: 0.5
  channel_burst: 2
  workspace_per_second: 3
  updates_per_minute: 40
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	want := slack.Config{BotToken: "xoxb-1", AppToken: "xapp-1", SigningSecret: "s", Mode: "http", APIURL: "http://127.0.0.1:9/api",
		Customize: true, PingInterval: 45 * time.Second,
		Pacing: slack.Pacing{ChannelPerSecond: 0.5, ChannelBurst: 2, WorkspacePerSecond: 3, UpdatesPerMinute: 40}}
	if c != want {
		t.Errorf("decoded %+v\nwant    %+v", c, want)
	}
}
