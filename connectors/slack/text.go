package slack

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/desktext"
)

// text.go reads what staff write in Slack (message text in mrkdwn, with
// Slack's escaping) as plain text and the desk mentions it holds: the
// canonical reading the bridge's public-speech rules start from.
//
//   - Slack's escaping (&amp; &lt; &gt;) is undone.
//   - A user mention <@U1> becomes "@Name", a user group
//     <!subteam^S1|@team> "@team", a channel <#C1|general> "#general",
//     and <!here>, <!channel>, <!everyone> "@here", ...: each is reported
//     as a bridge.DeskMention (the bridge refuses a reply that holds one).
//   - A link <https://x> becomes its address; a labelled link
//     <https://x|the fix> becomes "the fix (https://x)"; a label that is
//     the address as typed (Slack links "example.com" as
//     <http://example.com|example.com>) stays as typed; a label that looks
//     like another address or domain is dropped for the real address. An
//     e-mail link <mailto:a@b|a@b> becomes the address.
//   - A date <!date^…|fallback> becomes its fallback text.
//   - Formatting marks go: *bold*, _italic_, ~strike~ (only as Slack reads
//     them: a pair of marks around text, at word boundaries), `code` and
//     ```blocks``` (their content kept as it is), and "> " quotes at the
//     start of a line.
//   - Emoji stay as Slack writes them, ":name:" (custom ones too).

// names resolves what a mention's id stands for; nil uses the label
// Slack put in the token, or the id.
type names func(kind bridge.MentionKind, id, label string) bridge.DeskMention

// ReadText reads Slack message text as plain text and its desk mentions
// (see the file's comment). Mention names come from the labels Slack put
// in the tokens, else the ids. Pure.
func ReadText(raw string) (string, []bridge.DeskMention) { return readText(raw, nil) }

func readText(raw string, resolve names) (string, []bridge.DeskMention) {
	if resolve == nil {
		resolve = func(kind bridge.MentionKind, id, label string) bridge.DeskMention {
			return bridge.DeskMention{Kind: kind, ID: id, Name: label}
		}
	}
	var mentions []bridge.DeskMention
	var b strings.Builder
	rest := raw
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		tok := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		shown, m, ok := readToken(tok, resolve)
		if ok {
			mentions = append(mentions, m)
		}
		// What a token shows is plain already: escaped again, and kept
		// from the formatting pass, it comes out of both as it is.
		b.WriteString(shield(escape(shown)))
	}
	plain := unescape(unshield(stripFormatting(b.String())))
	return plain, mentions
}

// readToken reads one <...> token: what it shows, and the mention it is.
func readToken(tok string, resolve names) (shown string, m bridge.DeskMention, mention bool) {
	target, label, _ := strings.Cut(tok, "|")
	label = unescape(label)
	switch {
	case strings.HasPrefix(target, "@"):
		m = resolve(bridge.MentionUser, target[1:], label)
		return "@" + nameOr(m, target[1:]), m, true
	case strings.HasPrefix(target, "#"):
		m = resolve(bridge.MentionChannel, target[1:], label)
		return "#" + nameOr(m, target[1:]), m, true
	case strings.HasPrefix(target, "!subteam^"):
		id := strings.TrimPrefix(target, "!subteam^")
		m = resolve(bridge.MentionGroup, id, strings.TrimPrefix(label, "@"))
		return "@" + nameOr(m, id), m, true
	case strings.HasPrefix(target, "!date^"):
		if label != "" {
			return label, m, false
		}
		return "", m, false
	case strings.HasPrefix(target, "!"):
		what := strings.TrimPrefix(target, "!")
		what, _, _ = strings.Cut(what, "^")
		m = bridge.DeskMention{Kind: bridge.MentionEveryone, Name: what}
		return "@" + what, m, true
	}
	return desktext.Link(unescape(target), label), m, false
}

func nameOr(m bridge.DeskMention, id string) string {
	if m.Name != "" {
		return strings.TrimPrefix(strings.TrimPrefix(m.Name, "@"), "#")
	}
	return id
}

// readText is ReadText with mentions named as staff know them: users by
// their display name and desk groups (users.info and usergroups.list,
// cached; an id when the lookup fails), groups by their handle.
func (d *Desk) readText(ctx context.Context, raw string) (string, []bridge.DeskMention) {
	return readText(raw, func(kind bridge.MentionKind, id, label string) bridge.DeskMention {
		m := bridge.DeskMention{Kind: kind, ID: id, Name: label}
		switch kind {
		case bridge.MentionUser:
			s := d.people.staff(ctx, id)
			m.Name, m.Groups = s.Name, s.Groups
		case bridge.MentionGroup:
			if label == "" {
				m.Name = d.people.groupName(ctx, id)
			}
		}
		return m
	})
}

// Marks inside what tokens show are moved out of the formatting pass's
// way with private-use stand-ins, and put back after it.
var (
	shielder   = strings.NewReplacer("*", "\ue000", "_", "\ue001", "~", "\ue002", "`", "\ue003", ">", "\ue004")
	unshielder = strings.NewReplacer("\ue000", "*", "\ue001", "_", "\ue002", "~", "\ue003", "`", "\ue004", ">")
)

func shield(s string) string   { return shielder.Replace(s) }
func unshield(s string) string { return unshielder.Replace(s) }

// stripFormatting drops mrkdwn's formatting marks from escaped text.
func stripFormatting(s string) string {
	var out []string
	inPre := false
	for _, line := range strings.Split(s, "\n") {
		// ``` blocks: their content as it is.
		if n := strings.Count(line, "```"); n > 0 {
			line = strings.ReplaceAll(line, "```", "")
			if n%2 == 1 {
				inPre = !inPre
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			out = append(out, line)
			continue
		}
		if inPre {
			out = append(out, line)
			continue
		}
		for {
			q, ok := strings.CutPrefix(line, "&gt;")
			if !ok {
				break
			}
			line = strings.TrimPrefix(q, " ")
		}
		out = append(out, stripInline(line))
	}
	return strings.Join(out, "\n")
}

// stripInline drops the pairs of *, _, ~ and ` Slack reads as formatting
// on one line: an opening mark after the start, a space or punctuation
// and before a non-space; its closing mark after a non-space and before
// the end, a space or punctuation. Code spans are taken as they are.
func stripInline(line string) string {
	rs := []rune(line)
	drop := make([]bool, len(rs))
	for i := 0; i < len(rs); i++ {
		m := rs[i]
		if !strings.ContainsRune("*_~`", m) || !opens(rs, i) {
			continue
		}
		for j := i + 1; j < len(rs); j++ {
			if rs[j] == m && closes(rs, j) && j > i+1 {
				drop[i], drop[j] = true, true
				if m == '`' {
					i = j // a code span: nothing inside is formatting
				}
				break
			}
			if m == '`' {
				continue
			}
		}
	}
	var b strings.Builder
	for i, r := range rs {
		if !drop[i] {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func opens(rs []rune, i int) bool {
	if i+1 >= len(rs) || unicode.IsSpace(rs[i+1]) {
		return false
	}
	return i == 0 || boundary(rs[i-1])
}

func closes(rs []rune, j int) bool {
	if unicode.IsSpace(rs[j-1]) {
		return false
	}
	return j == len(rs)-1 || boundary(rs[j+1])
}

// boundary reports a rune formatting marks may touch on their outer side.
func boundary(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == utf8.RuneError
}
