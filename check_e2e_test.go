package main

import (
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// `earshot check` reaches real connectors pointed at the fakes: a good
// config passes, a wrong token fails by name without echoing the token.
func TestCLICheckAgainstFakes(t *testing.T) {
	sf := careSlack(t)
	mf := mastodonfake.New(mastodonfake.Options{})
	t.Cleanup(mf.Close)

	cfg := func(slackToken, mastoToken string) string {
		return `queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: mastodon, mentions: true}]
slack:
  bot_token: ` + slackToken + `
  app_token: xapp-fake
  api_url: ` + sf.APIURL() + `
mastodon:
  server: ` + mf.URL() + `
  access_token: ` + mastoToken + `
`
	}
	code, out, errOut := cli(t, "check", "--config", writeConfig(t, cfg(sf.Options().BotToken, mf.Us().Token)))
	if code != exitOK || !strings.Contains(out, "ok   slack") || !strings.Contains(out, "ok   mastodon") || !strings.Contains(out, "ok   slack channel C1 (queue care)") {
		t.Errorf("check against fakes = %d\n%s%s", code, out, errOut)
	}
	// Under its ok line: what the server is, and how Earshot will use it.
	for _, want := range []string{"     server: mastodon 4.3.0", "     stream: sse (auto)", "     idempotency: yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}

	// A GoToSocial server: no SSE, and idempotency not known until probed.
	gts := mastodonfake.New(mastodonfake.Options{Software: mastodonfake.GoToSocial})
	t.Cleanup(gts.Close)
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, strings.Replace(cfg(sf.Options().BotToken, gts.Us().Token), mf.URL(), gts.URL(), 1)))
	for _, want := range []string{"ok   mastodon", "     server: gotosocial 0.17.3", "     stream: websocket (auto)", "     idempotency: not known"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("check against GoToSocial = %d, lacks %q:\n%s%s", code, want, out, errOut)
		}
	}

	// Item 8: the bot not in the queue's channel (no events from there),
	// and a channel it cannot see at all, fail by name.
	sf.SetMember("C1", false)
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, cfg(sf.Options().BotToken, mf.Us().Token)))
	if code != exitFail || !strings.Contains(out, "FAIL slack channel C1 (queue care): slack: channel C1 (#care): the bot is not a member") {
		t.Errorf("check with the bot outside the channel = %d\n%s%s", code, out, errOut)
	}
	gone := strings.Replace(cfg(sf.Options().BotToken, mf.Us().Token), "channel: C1", "channel: C404", 1)
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, gone))
	if code != exitFail || !strings.Contains(out, "FAIL slack channel C404 (queue care): slack: channel C404: the bot cannot see it") {
		t.Errorf("check with an invisible channel = %d\n%s%s", code, out, errOut)
	}
	sf.SetMember("C1", true)

	const wrong = "xoxb-wrong-token-777"
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, cfg(wrong, "masto-wrong-token-888")))
	if code != exitFail || !strings.Contains(out, "FAIL slack") || !strings.Contains(out, "FAIL mastodon") {
		t.Errorf("check with wrong tokens = %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, wrong) || strings.Contains(out+errOut, "masto-wrong-token-888") {
		t.Errorf("token leaked:\n%s%s", out, errOut)
	}
}
