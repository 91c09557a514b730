package slack_test

import (
	"fmt"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/slack"
)

// Slack markup read as plain text, with the desk mentions it holds
// (finding 3 of issue #14: nothing of it may reach a network raw).
func TestReadText(t *testing.T) {
	t.Parallel()
	cases := []struct{ raw, plain, mentions string }{
		{"Thanks <@UA2>! <!channel> see <https://status.example.com/fix|the fix> or mail <mailto:ops@example.com|ops@example.com>",
			"Thanks @UA2! @channel see the fix (https://status.example.com/fix) or mail ops@example.com", "user:UA2 everyone:channel"},
		{"hi <@UA2|mei>", "hi @mei", "user:UA2:mei"},
		{"ask <!subteam^S1|@support-team> or <#C9|general>", "ask @support-team or #general", "group:S1:support-team channel:C9:general"},
		{"<!here|@here> <!everyone>", "@here @everyone", "everyone:here everyone:everyone"},
		{"see <https://example.com>", "see https://example.com", ""},
		{"see <http://example.com|example.com>", "see example.com", ""},
		{"see <https://evil.example|https://good.example>", "see https://evil.example", ""},
		{"see <https://x.example/a_b*c|docs>", "see docs (https://x.example/a_b*c)", ""},
		{"at <!date^1392734382^{date_short}|Feb 18, 2014>", "at Feb 18, 2014", ""},
		{"*bold* _it_ ~gone~ `code *x*` done", "bold it gone code *x* done", ""},
		{"*note:* check the log", "note: check the log", ""},
		{"&gt; quoted\nreply", "quoted\nreply", ""},
		{"```\nline *1*\n```", "line *1*", ""},
		{"2*3=6 and snake_case_name :-*", "2*3=6 and snake_case_name :-*", ""},
		{"a &amp; b &lt;c&gt;", "a & b <c>", ""},
		{"a &amp;amp; b", "a &amp; b", ""},
		{"party :partyparrot: :tada:", "party :partyparrot: :tada:", ""},
		{"unclosed <https://x", "unclosed <https://x", ""},
	}
	for _, c := range cases {
		plain, ms := slack.ReadText(c.raw)
		if plain != c.plain || mentionList(ms) != c.mentions {
			t.Errorf("ReadText(%q) = %q %q, want %q %q", c.raw, plain, mentionList(ms), c.plain, c.mentions)
		}
	}
}

func mentionList(ms []bridge.DeskMention) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%s", m.Kind, m.ID)
		if m.Kind == bridge.MentionEveryone {
			s = s[:len(s)-len(m.ID)] + m.Name
		} else if m.Name != "" {
			s += ":" + m.Name
		}
	}
	return s
}

func FuzzReadText(f *testing.F) {
	f.Add("Thanks <@UA2>! <!channel> <https://a|b> *x* _y_ `z` &gt; q")
	f.Add("<<<>>>|&amp;&")
	f.Fuzz(func(t *testing.T, raw string) {
		plain, ms := slack.ReadText(raw)
		for _, m := range ms {
			if m.Kind == "" {
				t.Fatalf("a mention without a kind in %q", raw)
			}
		}
		_ = plain
	})
}
