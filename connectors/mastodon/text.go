package mastodon

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// PlainText turns a status's HTML content into clean text for staff:
// paragraphs become blank lines, <br> a newline, links their visible text,
// entities decoded; anything that is not text is dropped. It never fails:
// malformed HTML yields whatever text the tokenizer finds.
func PlainText(content string) string {
	z := html.NewTokenizer(strings.NewReader(content))
	var b strings.Builder
	paras := 0
	skip := 0 // inside <script>/<style>
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(collapseBlank(b.String()))
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "br":
				b.WriteByte('\n')
			case "p":
				if tt == html.StartTagToken {
					if paras > 0 {
						b.WriteString("\n\n")
					}
					paras++
				}
			case "script", "style":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			}
		}
	}
}

var blankRe = regexp.MustCompile(`\n{3,}`)

func collapseBlank(s string) string { return blankRe.ReplaceAllString(s, "\n\n") }

var (
	urlRe     = regexp.MustCompile(`https?://[^\s<>"]+`)
	mentionRe = regexp.MustCompile(`(^|[^\w/])@([A-Za-z0-9_]+)(@[A-Za-z0-9.\-]+[A-Za-z0-9])?`)
)

// URLWeight is what one link counts for on Mastodon, whatever its length.
const URLWeight = 23

// CountChars counts text as Mastodon does: every URL counts 23, a mention
// @user@domain counts only its @user part, everything else by code point.
func CountChars(text string) int {
	t := urlRe.ReplaceAllString(text, strings.Repeat("x", URLWeight))
	t = mentionRe.ReplaceAllString(t, "$1@$2")
	return len([]rune(t))
}

// CountPlain counts text as GoToSocial does: every code point, links and
// mentions as typed.
func CountPlain(text string) int { return utf8.RuneCountInString(text) }

// CountStrict is the longer of both counts, for a server whose rules are
// not known: what passes it passes either.
func CountStrict(text string) int { return max(CountChars(text), CountPlain(text)) }
