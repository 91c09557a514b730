package discord_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// Discord markdown read as plain text, with the desk mentions it holds
// (finding 3 of issue #14: nothing of it may reach a network raw).
func TestReadText(t *testing.T) {
	t.Parallel()
	cases := []struct{ raw, plain, mentions string }{
		{"Thanks <@123>! see [the fix](https://status.example.com/fix)", "Thanks @123! see the fix (https://status.example.com/fix)", "user:123"},
		{"<@!123> and <@&77> in <#55>", "@123 and @77 in #55", "user:123 group:77 channel:55"},
		{"@everyone fixed, @here too", "@everyone fixed, @here too", "everyone:everyone everyone:here"},
		{"mail team@everyone.com or @hereford", "mail team@everyone.com or @hereford", ""},
		{"party <:partyparrot:1234> <a:dance:99>", "party :partyparrot: :dance:", ""},
		{"at <t:1700000000:R>", "at 14 Nov 2023 22:13 UTC", ""},
		{"run </claim:42>", "run /claim", ""},
		{"see <https://example.com/a_b>", "see https://example.com/a_b", ""},
		{"see [example.com](https://example.com)", "see example.com", ""},
		{"see [https://good.example](https://evil.example)", "see https://evil.example", ""},
		{"**bold** *it* _it_ __under__ ~~gone~~ ||secret||", "bold it it under gone secret", ""},
		{"**note:** check the log", "note: check the log", ""},
		{"> note: x", "note: x", ""},
		{">>> quoted\nstill quoted", "quoted\nstill quoted", ""},
		{"# Heading\n-# small", "Heading\nsmall", ""},
		{"`code **x**` and\n```go\nfmt.Println(\"*\")\n```", "code **x** and\nfmt.Println(\"*\")", ""},
		{"2*3*4 snake_case_name \\*literal\\*", "234 snake_case_name *literal*", ""}, // Discord shows the 3 in italics
		{"- item one\n- item two", "- item one\n- item two", ""},
		{"`<@123>` still pings", "@123 still pings", "user:123"},
	}
	for _, c := range cases {
		plain, ms := discord.ReadText(c.raw)
		if plain != c.plain || mentionList(ms) != c.mentions {
			t.Errorf("ReadText(%q) = %q %q, want %q %q", c.raw, plain, mentionList(ms), c.plain, c.mentions)
		}
	}
}

func mentionList(ms []bridge.DeskMention) string {
	var out []string
	for _, m := range ms {
		id := m.ID
		if m.Kind == bridge.MentionEveryone {
			id = m.Name
		}
		out = append(out, fmt.Sprintf("%s:%s", m.Kind, id))
	}
	return strings.Join(out, " ")
}

func FuzzReadText(f *testing.F) {
	f.Add("Thanks <@1>! [x](https://a) **b** `c` > q ||s|| <t:1:R> <:e:1>")
	f.Add("```\n``` ` ** __ \\")
	f.Fuzz(func(t *testing.T, raw string) {
		_, ms := discord.ReadText(raw)
		for _, m := range ms {
			if m.Kind == "" {
				t.Fatalf("a mention without a kind in %q", raw)
			}
		}
	})
}
