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
	f.AddForum("5", "care")
	f.AddChannel("6", "billing")
	f.AddChannel("7", "legal")
	f.HideChannel("7")
	yml := `queues:
  - {name: care, desk: discord, channel: "5"}
  - {name: billing, desk: discord, channel: "6"}
discord: {token: TOKEN, guild_id: "` + f.Options().GuildID + `", api_url: ` + f.URL() + `}
`
	code, out, errOut := cli(t, "check", "--config", writeConfig(t, strings.Replace(yml, "TOKEN", "discord-check-token-5", 1)))
	if code != exitOK || !strings.Contains(out, "ok   discord\n") || !strings.Contains(out, "ok   discord channel 5 (queue care)") ||
		!strings.Contains(out, "ok   discord channel 6 (queue billing)") {
		t.Errorf("check = %d\n%s%s", code, out, errOut)
	}
	// Item 8: a queue on a channel the bot cannot see, or that does not
	// exist, fails the check by name.
	hidden := strings.Replace(strings.Replace(yml, `channel: "6"`, `channel: "7"`, 1), `channel: "5"`, `channel: "404"`, 1)
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, strings.Replace(hidden, "TOKEN", "discord-check-token-5", 1)))
	if code != exitFail || !strings.Contains(out, "FAIL discord channel 7 (queue billing): discord: channel 7: the bot may not see it (Missing Access)") ||
		!strings.Contains(out, "FAIL discord channel 404 (queue care): discord: channel 404: no such channel") {
		t.Errorf("check with invisible channels = %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "check", "--config", writeConfig(t, strings.Replace(yml, "TOKEN", "discord-bad-token-6", 1)))
	if code != exitFail || !strings.Contains(out, "FAIL discord") || strings.Contains(out+errOut, "discord-bad-token-6") {
		t.Errorf("check with a wrong token = %d\n%s%s", code, out, errOut)
	}
}
