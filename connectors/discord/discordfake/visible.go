package discordfake

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Action is an interactive component of a message (a button or a select menu).
type Action struct {
	CustomID string
	Type     string // "button", "select"
	Label    string // a button's label, a select's placeholder
	Style    int
	URL      string // a link button's target
	Disabled bool
	Options  []string // a select's option values
}

// RenderMarkdown shows Discord markdown as a reader sees it: backslash
// escapes undone, masked links [label](url) as "label (url)", <url> as
// url. Formatting marks (**bold**) are kept as typed, mentions as written.
func RenderMarkdown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isPunct(s[i+1]):
			b.WriteByte(s[i+1])
			i += 2
			continue
		case c == '[':
			if label, url, n, ok := maskedLink(s[i:]); ok {
				b.WriteString(RenderMarkdown(label))
				b.WriteString(" (")
				b.WriteString(url)
				b.WriteString(")")
				i += n
				continue
			}
		case c == '<' && (strings.HasPrefix(s[i:], "<https://") || strings.HasPrefix(s[i:], "<http://")):
			if end := strings.IndexByte(s[i:], '>'); end > 0 && !strings.ContainsAny(s[i:i+end], " \n") {
				b.WriteString(s[i+1 : i+end])
				i += end + 1
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

func isPunct(c byte) bool {
	return c < 0x80 && c > ' ' && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

// maskedLink reads "[label](url)" or "[label](<url>)" at the start of s.
func maskedLink(s string) (label, url string, n int, ok bool) {
	i := closingBracket(s)
	if i < 0 {
		return "", "", 0, false
	}
	label = s[1:i]
	rest := s[i+1:]
	if !strings.HasPrefix(rest, "(") {
		return "", "", 0, false
	}
	rest = rest[1:]
	angled := strings.HasPrefix(rest, "<")
	if angled {
		rest = rest[1:]
	}
	end := strings.IndexAny(rest, ") \n")
	if angled {
		end = strings.Index(rest, ">)")
	}
	if end < 0 || (!angled && rest[end] != ')') {
		return "", "", 0, false
	}
	url = rest[:end]
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return "", "", 0, false
	}
	n = i + 2 + end + 1
	if angled {
		n += 2
	}
	return label, url, n, true
}

// closingBracket is the index of the "]" that closes the "[" at s[0], or -1.
func closingBracket(s string) int {
	depth := 0
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			if depth == 0 {
				return i
			}
			depth--
		case '\n':
			return -1
		}
	}
	return -1
}

// Visible is every text of the message a reader sees, one part a line:
// the content, then each embed's author, title, description, fields
// ("name" then "value") and footer, markdown rendered. A webhook message's
// sender name is not part of it (see Username).
func (m Message) Visible() string { return visible(m.Content, m.Embeds) }

// Visible is the ephemeral answer as its user sees it (see Message.Visible).
func (e Ephemeral) Visible() string { return visible(e.Content, e.Embeds) }

func visible(content string, embeds json.RawMessage) string {
	var lines []string
	if content != "" {
		lines = append(lines, RenderMarkdown(content))
	}
	var es []embed
	_ = json.Unmarshal(embeds, &es)
	for _, e := range es {
		if e.Author != nil && e.Author.Name != "" {
			lines = append(lines, e.Author.Name) // author names are plain text
		}
		if e.Title != "" {
			lines = append(lines, RenderMarkdown(e.Title))
		}
		if e.Description != "" {
			lines = append(lines, RenderMarkdown(e.Description))
		}
		for _, f := range e.Fields {
			lines = append(lines, RenderMarkdown(f.Name), RenderMarkdown(f.Value))
		}
		if e.Footer != nil && e.Footer.Text != "" {
			lines = append(lines, e.Footer.Text) // footers are plain text
		}
	}
	return strings.Join(lines, "\n")
}

// Actions lists the message's buttons and select menus in display order.
func (m Message) Actions() []Action { return actions(m.Components) }

// Actions lists the ephemeral answer's components in display order.
func (e Ephemeral) Actions() []Action { return actions(e.Components) }

func actions(raw json.RawMessage) []Action {
	var rows []component
	if json.Unmarshal(raw, &rows) != nil {
		return nil
	}
	var out []Action
	for _, r := range rows {
		for _, c := range r.Components {
			a := Action{CustomID: c.CustomID, Style: c.Style, URL: c.URL, Disabled: c.Disabled}
			switch c.Type {
			case 2:
				a.Type, a.Label = "button", c.Label
			case 3:
				a.Type, a.Label = "select", c.Placeholder
				for _, o := range c.Options {
					a.Options = append(a.Options, o.Value)
				}
			default:
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// Emojis lists the reactions the bot put on the message.
func (m Message) Emojis() []string {
	var out []string
	for _, r := range m.Reactions {
		for _, u := range r.Users {
			if u == BotUserID {
				out = append(out, r.Emoji)
			}
		}
	}
	return out
}
