package main

import (
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// `earshot discord register` puts the staff command table into the guild
// of a (fake) Discord; a wrong token fails without echoing it.
func TestCLIDiscordRegisterAgainstFake(t *testing.T) {
	f, err := discordfake.New(discordfake.Options{Token: "discord-cli-token-31"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	cfg := func(token string) string {
		return `queues: [{name: care, desk: discord, channel: "5"}]
discord:
  token: ` + token + `
  guild_id: "` + f.Options().GuildID + `"
  api_url: ` + f.URL() + `
`
	}
	code, out, errOut := cli(t, "discord", "register", "--config", writeConfig(t, cfg("discord-cli-token-31")))
	want := len(commands.New(nil, commands.Options{}).Commands()) + 1 // and /earshot
	if code != exitOK || len(f.Commands()) != want || !strings.Contains(out, "/claim") || !strings.Contains(out, "/earshot") {
		t.Errorf("register = %d, %d commands registered (want %d)\n%s%s", code, len(f.Commands()), want, out, errOut)
	}

	const wrong = "discord-wrong-token-77"
	code, out, errOut = cli(t, "discord", "register", "--config", writeConfig(t, cfg(wrong)))
	if code != exitFail || !strings.Contains(errOut, "401") || strings.Contains(out+errOut, wrong) {
		t.Errorf("register with a wrong token = %d\n%s%s", code, out, errOut)
	}

	code, _, errOut = cli(t, "discord", "register", "--config", writeConfig(t, validConfig("127.0.0.1:0")))
	if code != exitFail || !strings.Contains(errOut, "no discord: section") {
		t.Errorf("register without a discord section = %d %q", code, errOut)
	}
}

// `earshot check` reaches Discord (GET /users/@me) through the real desk.
func TestCLICheckDiscordAgainstFake(t *testing.T) {
	f, err := discordfake.New(discordfake.Options{Token: "discord-check-token-5"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	yml := `queues: [{name: care, desk: discord, channel: "5"}]
discord: {token: TOKEN, guild_id: "1", api_url: ` + f.URL() + `}
`
	code, out, errOut := cli(t, "check", "--config", writeConfig(t, strings.Replace(yml, "TOKEN", "discord-check-token-5", 1)))
	if code != exitOK || !strings.Contains(out, "ok   discord") {
		t.Errorf("check = %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, strings.Replace(yml, "TOKEN", "discord-bad-token-6", 1)))
	if code != exitFail || !strings.Contains(out, "FAIL discord") || strings.Contains(out+errOut, "discord-bad-token-6") {
		t.Errorf("check with a wrong token = %d\n%s%s", code, out, errOut)
	}
}
