package discord

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// Custom ids of the components Earshot puts on cards and delivery lines.
// The verb after the prefix is the Invocation.Name a press turns into.
const (
	customPrefix = "earshot:"
	retryPrefix  = customPrefix + "retry:"
	retryHashed  = customPrefix + "retry#" // an outbox id too long for a custom_id, kept in memory
)

// Discord's limits (PLATFORMS.md).
const (
	maxContent     = 2000
	maxTitle       = 256
	maxAuthorName  = 256
	maxFieldValue  = 1024
	maxThreadName  = 100
	maxOptions     = 25
	maxOptionText  = 100
	maxCustomID    = 100
	maxWebhookName = 80
	// maxCardText is the complaint's share of the card: the rest of the
	// embed (title, author, fields, footer) stays under 2,500 characters,
	// so the whole card keeps under Discord's 6,000 per message.
	maxCardText = 3300
)

// shortened ends text cut to fit (ASCII, so its length is its rune count).
const shortened = " *(shortened; see the original post)*"

// Status colours of the card's side bar.
var statusColors = map[bridge.Status]int{
	bridge.StatusNew:       0x5865F2,
	bridge.StatusClaimed:   0xF0B232,
	bridge.StatusEscalated: 0xED4245,
	bridge.StatusWaiting:   0x949BA4,
	bridge.StatusResolved:  0x57F287,
}

// Characters Discord markdown (and mentions) may read get a backslash so
// that text shows as typed: these anywhere, and lineSpecial at the start of
// a line (headings, quotes, list items, subtext).
const (
	markdownSpecial = "\\*_~`|[]<@"
	lineSpecial     = "#>-"
)

// walkEscaped calls fn for each rune of s and whether it needs a
// backslash; fn returns false to stop.
func walkEscaped(s string, fn func(r rune, esc bool) bool) {
	lineStart := true
	for _, r := range s {
		esc := r < utf8.RuneSelf && (strings.IndexByte(markdownSpecial, byte(r)) >= 0 ||
			lineStart && strings.IndexByte(lineSpecial, byte(r)) >= 0)
		if !fn(r, esc) {
			return
		}
		switch {
		case r == '\n':
			lineStart = true
		case r != ' ' && r != '\t':
			lineStart = false
		}
	}
}

// escape makes text show verbatim in Discord markdown.
func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	walkEscaped(s, func(r rune, esc bool) bool {
		if esc {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		return true
	})
	return b.String()
}

// escapedLen is the length in runes of escape(s).
func escapedLen(s string) int {
	n := 0
	walkEscaped(s, func(_ rune, esc bool) bool {
		n++
		if esc {
			n++
		}
		return true
	})
	return n
}

// escapeCut escapes s and shortens the result to at most n runes, cutting
// between characters (never inside an escape) and ending with "…" when
// shortened.
func escapeCut(s string, n int) string {
	if escapedLen(s) <= n {
		return escape(s)
	}
	var b strings.Builder
	used := 0
	walkEscaped(s, func(r rune, esc bool) bool {
		w := 1
		if esc {
			w = 2
		}
		if used+w > n-1 {
			return false
		}
		if esc {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		used += w
		return true
	})
	b.WriteString("…")
	return b.String()
}

// cut shortens s to at most n runes, ending with "…" when shortened.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// oneLine folds whitespace runs (newlines too) into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// safeURL returns raw when it is an http(s) URL that a markdown link can
// carry, else "".
func safeURL(raw string) string {
	if raw == "" || strings.ContainsAny(raw, "<> \t\r\n") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return raw
}

// link is a markdown link with an escaped label, or the escaped label
// alone when the URL cannot be linked.
func link(raw, label string) string {
	if u := safeURL(raw); u != "" {
		return "[" + escape(label) + "](<" + u + ">)"
	}
	return escape(label)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

func authorName(a bridge.Author) string {
	if a.Name != "" {
		return a.Name
	}
	if a.Handle != "" {
		return a.Handle
	}
	return "Customer"
}

func followers(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// noMentions lets nothing Earshot posts ping anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// RenderCard is the one renderer of a case card: an embed saying who wrote,
// what they wrote, where the case stands, and the components to act on it
// (a row of buttons, and the team picker in a row of its own). The
// customer's words and names are escaped so they show as typed. Pure; no I/O.
func RenderCard(c bridge.CaseView) (*discordgo.MessageEmbed, []discordgo.MessageComponent) {
	who := authorName(c.Customer)
	author := fmt.Sprintf("%s · %s on %s", oneLine(who), oneLine(c.Customer.Handle), c.Network)
	if c.Customer.Followers > 0 {
		author += " · " + followers(c.Customer.Followers) + " followers"
	}
	text := c.First.Text
	if strings.TrimSpace(text) == "" {
		text = "(no text)"
	}
	body := escape(text)
	if escapedLen(text) > maxCardText {
		body = escapeCut(text, maxCardText-len(shortened)) + shortened
	}
	src := []string{"posted " + when(c.First.CreatedAt)}
	if u := safeURL(c.First.URL); u != "" {
		src = append([]string{link(u, "Original post")}, src...)
	}
	if c.Posts > 1 {
		src = append(src, strconv.Itoa(c.Posts)+" posts")
	}
	status := c.StatusLine()
	if c.Status == bridge.StatusResolved && c.Summary != "" {
		status += ": " + c.Summary
	}
	fields := []*discordgo.MessageEmbedField{
		field("Case", escapeCut(string(c.ID), 100)),
		field("Status", escapeCut(oneLine(status), 300)),
		field("Queue", escapeCut(oneLine(c.Queue), 100)),
		field("Priority", strconv.Itoa(c.Priority)),
	}
	if due := c.Due(); !due.IsZero() {
		fields = append(fields, field("SLA due", when(due)+" · <t:"+strconv.FormatInt(due.Unix(), 10)+":R>"))
	}
	if len(c.Tags) > 0 {
		fields = append(fields, field("Tags", escapeCut(oneLine(strings.Join(c.Tags, ", ")), 300)))
	}
	if c.Private {
		fields = append(fields, field("Channel", "Direct messages"))
	}
	if c.Incident != "" {
		fields = append(fields, field("Incident", escapeCut(oneLine(string(c.Incident)+" · "+c.IncidentTitle), 300)))
	}
	if hist := history(c); hist != "" {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Earlier cases", Value: hist})
	}
	e := &discordgo.MessageEmbed{
		Type:        discordgo.EmbedTypeRich,
		Title:       escapeCut(oneLine(string(c.ID)+" · "+who), maxTitle),
		URL:         safeURL(c.First.URL),
		Description: body + "\n\n" + strings.Join(src, " · "),
		Color:       statusColors[c.Status],
		Author: &discordgo.MessageEmbedAuthor{Name: cut(author, maxAuthorName),
			URL: safeURL(c.Customer.URL), IconURL: safeURL(c.Customer.Avatar)},
		Fields: fields,
		Footer: &discordgo.MessageEmbedFooter{Text: "Earshot · " + cut(c.Network, 40)},
	}
	if !c.OpenedAt.IsZero() {
		e.Timestamp = c.OpenedAt.UTC().Format(time.RFC3339)
	}
	return e, cardComponents(c)
}

// field is an inline card field; Discord refuses an empty value, so an
// empty one shows a dash.
func field(name, value string) *discordgo.MessageEmbedField {
	if strings.TrimSpace(value) == "" {
		value = "—"
	}
	return &discordgo.MessageEmbedField{Name: name, Value: value, Inline: true}
}

// history renders the customer's earlier cases, at most five.
func history(c bridge.CaseView) string {
	var parts []string
	seen := map[bridge.CaseID]bool{}
	for _, h := range c.History {
		if h.ID == c.ID || len(parts) >= 5 {
			continue
		}
		seen[h.ID] = true
		s := fmt.Sprintf("%s (%s)", escape(string(h.ID)), h.Status.Label())
		if h.Text != "" {
			s += " " + escapeCut(oneLine(h.Text), 80)
		}
		parts = append(parts, s)
	}
	for _, id := range c.Previous {
		if !seen[id] && id != c.ID && len(parts) < 5 {
			parts = append(parts, escape(string(id)))
		}
	}
	return cut(strings.Join(parts, " · "), maxFieldValue)
}

// cardComponents are the card's buttons and team picker; which show
// depends on the status.
func cardComponents(c bridge.CaseView) []discordgo.MessageComponent {
	button := func(verb, label string, style discordgo.ButtonStyle) discordgo.MessageComponent {
		return discordgo.Button{CustomID: customPrefix + verb, Label: label, Style: style}
	}
	if !c.Status.Open() {
		return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			button("reopen", "Reopen", discordgo.SecondaryButton)}}}
	}
	var row []discordgo.MessageComponent
	if c.Assignee == "" {
		row = append(row, button("claim", "Claim", discordgo.PrimaryButton))
	} else {
		row = append(row, button("release", "Release", discordgo.SecondaryButton))
	}
	row = append(row, button("resolve", "Resolve", discordgo.SuccessButton))
	if !c.Private {
		row = append(row, button("dm", "Move to DM", discordgo.SecondaryButton))
	}
	rows := []discordgo.MessageComponent{discordgo.ActionsRow{Components: row}}
	var opts []discordgo.SelectMenuOption
	seen := map[string]bool{}
	for _, t := range c.Teams {
		if len(opts) == maxOptions || t == "" || utf8.RuneCountInString(t) > maxOptionText || seen[t] {
			continue // a team name too long for a value is reachable by /escalate
		}
		seen[t] = true
		opts = append(opts, discordgo.SelectMenuOption{Label: t, Value: t})
	}
	if len(opts) > 0 {
		rows = append(rows, discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.SelectMenu{
			MenuType: discordgo.StringSelectMenu, CustomID: customPrefix + "escalate", Placeholder: "Escalate to…", Options: opts}}})
	}
	return caseIncidentComponents(c, rows) // incident.go
}

// threadName names a case's thread or forum post: id, customer and the
// start of the complaint, plain text (names are not markdown).
func threadName(c bridge.CaseView) string {
	name := string(c.ID) + " · " + authorName(c.Customer)
	if t := oneLine(c.First.Text); t != "" {
		name += " · " + t
	}
	return cut(oneLine(name), maxThreadName)
}

// webhookName is the name a customer follow-up is posted under: Discord
// refuses names containing "@", "#", ":", "```", "discord" or "clyde", so
// look-alike characters stand in for them.
func webhookName(a bridge.Author) string {
	name := authorName(a)
	if a.Handle != "" && a.Handle != name {
		name += " (" + a.Handle + ")"
	}
	name = nameReplacer.Replace(oneLine(name))
	for _, w := range []struct {
		word string
		at   int // the letter that gets its Cyrillic look-alike
	}{{"discord", 1}, {"clyde", 2}} {
		for {
			i := strings.Index(strings.ToLower(name), w.word)
			if i < 0 {
				break
			}
			j := i + w.at
			name = name[:j] + lookAlike[name[j]] + name[j+1:]
		}
	}
	if name == "" {
		name = "Customer"
	}
	return cut(name, maxWebhookName)
}

// lookAlike are Cyrillic letters that read as the Latin ones.
var lookAlike = map[byte]string{'i': "і", 'I': "І", 'y': "у", 'Y': "У"}

var nameReplacer = strings.NewReplacer("@", "＠", "#", "＃", ":", "∶", "```", "'''")

// renderCustomer is a customer's follow-up: the text verbatim, a link to
// the post, and (unless it goes out under the customer's name) who wrote it.
func renderCustomer(m bridge.DeskMessage, prefixed bool) string {
	var head string
	if prefixed {
		a := bridge.Author{Name: "Customer"}
		if m.Author != nil {
			a = *m.Author
		}
		head = "**" + escape(oneLine(authorName(a))) + "**"
		if a.Handle != "" && a.Handle != authorName(a) {
			head += " (" + escape(oneLine(a.Handle)) + ")"
		}
		head += " wrote:\n"
	}
	return compose(head, m.Text, m.Link, "View post")
}

// renderNotice is a line from Earshot in a thread.
func renderNotice(m bridge.DeskMessage) string {
	return compose("", m.Text, m.Link, m.Link)
}

// compose builds head + escaped text + a link line within Discord's 2,000
// characters; long text is shortened and says so.
func compose(head, text, linkURL, label string) string {
	tail := ""
	if u := safeURL(linkURL); u != "" {
		if label == linkURL {
			tail = "\n<" + u + ">"
		} else {
			tail = "\n" + link(u, label)
		}
	}
	room := maxContent - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail)
	if strings.TrimSpace(text) == "" {
		text = "(no text)"
	}
	body := escape(text)
	if escapedLen(text) > room {
		body = escapeCut(text, room-len(shortened)) + shortened
	}
	return head + body + tail
}
