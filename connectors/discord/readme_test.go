package discord_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// README.md says what the code does: the permissions integer, the
// endpoint path, every registered command, and a config section that New takes.
func TestREADME(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, want := range []string{strconv.FormatInt(discord.Permissions, 10), discord.InteractionsPath, "Message Content"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
	for _, c := range discord.SlashCommands(commands.New(nil, commands.Options{}).Commands()) {
		if !strings.Contains(readme, "`/"+c.Name) {
			t.Errorf("README.md does not list /%s", c.Name)
		}
	}
	_, rest, ok := strings.Cut(readme, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no yaml example")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   ")) // the list item's indent
	}
	var cfg struct {
		Discord discord.Config `yaml:"discord"`
	}
	yml := strings.ReplaceAll(strings.Join(lines, "\n"), "${DISCORD_BOT_TOKEN}", "a-token")
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil {
		t.Fatalf("README.md's yaml: %v", err)
	}
	if _, err := discord.New(cfg.Discord, bridge.Deps{}); err != nil {
		t.Errorf("README.md's discord section: %v", err)
	}
}
