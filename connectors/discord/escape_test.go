package discord

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// Escaped text reads back as typed, and a cut never splits an escape.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "**bold** _it_ ~~s~~ `c` ||spoiler||", "# h\n> q\n- l\n-# sub",
		"<@123> <#1> <:e:1> @everyone", "[x](https://evil.example)", `a\b\\c\*`, "é\u200b\t\n"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) {
			return
		}
		if got := discordfake.RenderMarkdown(escape(s)); got != s {
			t.Fatalf("escape(%q) reads back as %q", s, got)
		}
		if n < 2 || n > 5000 {
			return
		}
		c := escapeCut(s, n)
		if utf8.RuneCountInString(c) > n {
			t.Fatalf("escapeCut(%q, %d) = %q is longer than %d", s, n, c, n)
		}
		if cut, ok := strings.CutSuffix(c, "…"); ok && escapedLen(s) > n {
			if got := discordfake.RenderMarkdown(cut); !strings.HasPrefix(s, got) {
				t.Fatalf("escapeCut(%q, %d) = %q does not read as a start of the text (%q)", s, n, c, got)
			}
		} else if c != escape(s) {
			t.Fatalf("escapeCut(%q, %d) = %q, want the whole escaped text", s, n, c)
		}
	})
}
