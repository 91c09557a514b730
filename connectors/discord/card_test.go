package discord_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

func cardCases() map[string]bridge.CaseView {
	cases := connectortest.CardCases("discord:1")
	cv := cases["new"]
	hostile := cv
	hostile.Customer.Name = "@everyone *Eve* & co"
	hostile.First.Text = "<@123> [click](https://evil.example) `x` **bold** > quote\n# heading @here"
	hostile.First.URL = "javascript:alert(1)"
	teams := cv
	teams.Teams = nil
	for i := range 30 {
		teams.Teams = append(teams.Teams, fmt.Sprintf("team-%02d", i))
	}
	teams.Teams = append(teams.Teams, strings.Repeat("x", 120))
	cases["hostile"] = hostile
	cases["teams"] = teams
	return cases
}

// cardBody is the card as the message body Discord receives.
func cardBody(t testing.TB, cv bridge.CaseView) []byte {
	embed, comps := discord.RenderCard(cv)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"embeds": []*discordgo.MessageEmbed{embed}, "components": comps}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCardGolden(t *testing.T) {
	t.Parallel()
	for name, cv := range cardCases() {
		got := cardBody(t, cv)
		if err := discordfake.CheckMessage(got); err != nil {
			t.Errorf("card %s: %v", name, err)
		}
		connectortest.Golden(t, filepath.Join("testdata", "card_"+name+".golden.json"), got)
	}
}

// What a reader sees on the card, for the cases the golden files hold.
func TestCardReadsRight(t *testing.T) {
	t.Parallel()
	cases := cardCases()
	visible := func(cv bridge.CaseView) (string, []discordfake.Action) {
		var m discordfake.Message
		body := cardBody(t, cv)
		var raw struct {
			Embeds     json.RawMessage `json:"embeds"`
			Components json.RawMessage `json:"components"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		m.Embeds, m.Components = raw.Embeds, raw.Components
		return m.Visible(), m.Actions()
	}
	text, _ := visible(cases["hostile"])
	for _, want := range []string{cases["hostile"].First.Text, "@everyone *Eve* & co"} {
		if !strings.Contains(text, want) {
			t.Errorf("hostile card does not show %q verbatim:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Original post (javascript:") {
		t.Errorf("a javascript: URL became a link:\n%s", text)
	}
	text, _ = visible(cases["long"])
	if !strings.Contains(text, "(shortened; see the original post)") {
		t.Errorf("a long complaint is cut without saying so")
	}
	_, acts := visible(cases["teams"])
	for _, a := range acts {
		if a.CustomID == "earshot:escalate" && len(a.Options) != 25 {
			t.Errorf("team picker offers %d teams, want Discord's 25 at most", len(a.Options))
		}
	}
	text, _ = visible(cases["waiting"])
	if !strings.Contains(text, "SLA due\n2026-11-24 09:30 UTC") {
		t.Errorf("after the first answer the SLA due is the resolution target:\n%s", text)
	}
}

func FuzzRenderCard(f *testing.F) {
	f.Add("ana", "hello", "support", "https://x.example/1", "billing")
	f.Add("@everyone", strings.Repeat("é*", 5000), "q|x", "https://x.example/<a>", strings.Repeat("t", 200))
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, name, text, queue, url, team string) {
		cv := connectortest.SuiteCase("E-1")
		cv.Customer.Name, cv.First.Text, cv.Queue, cv.First.URL = name, text, queue, url
		cv.Customer.Handle, cv.Tags, cv.Summary = name+text, []string{text}, text
		cv.Teams = append(cv.Teams, team)
		if err := discordfake.CheckMessage(cardBody(t, cv)); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkRenderCard(b *testing.B) {
	cv := connectortest.SuiteCase("E-42")
	cv.Status = bridge.StatusClaimed
	b.ReportAllocs()
	for range b.N {
		discord.RenderCard(cv)
	}
}
