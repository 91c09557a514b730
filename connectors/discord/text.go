package discord

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/desktext"
)

// text.go reads what staff write in Discord (message content in Discord's
// markdown) as plain text and the desk mentions it holds: the canonical
// reading the bridge's public-speech rules start from.
//
//   - A user mention <@1> or <@!1> becomes "@Name", a role <@&1> "@role",
//     a channel <#1> "#channel", and @everyone and @here stay as written:
//     each is reported as a bridge.DeskMention (the bridge refuses a reply
//     that holds one).
//   - A masked link [the fix](https://x) becomes "the fix (https://x)"; a
//     label that is the address as typed stays as typed; a label that looks
//     like another address or domain is dropped for the real address;
//     <https://x> (a link without its preview) becomes the address.
//   - A custom emoji <:name:1> or <a:name:1> becomes ":name:"; a
//     timestamp <t:1700000000:R> the UTC time it stands for ("14 Nov 2023
//     22:13 UTC"); a command mention </claim:1> "/claim".
//   - Formatting marks go: **bold**, *italic*, _italic_, __underline__,
//     ~~strike~~, ||spoilers||, `code` and ```blocks``` (their content kept
//     as it is, a block's language tag dropped), and at the start of a
//     line "> " and ">>> " quotes, "# " headings and "-# " subtext; a
//     backslash escaping a mark goes and the mark stays.
//   - Unicode emoji stay as they are.

// resolver names a mention's id.
type resolver func(kind bridge.MentionKind, id string) bridge.DeskMention

var tokenRE = regexp.MustCompile(`<(@!?|@&|#)(\d+)>|<(a?):(\w+):(\d+)>|<t:(-?\d+)(?::([tTdDfFR]))?>|</([\w -]+):\d+>|<(https?://[^\s<>]+)>|\[([^\[\]\n]+)\]\(<?(https?://[^\s()<>]+)>?\)|@everyone|@here`)

// ReadText reads Discord message content as plain text and its desk
// mentions (see the file's comment), naming mentions by their ids. Pure.
func ReadText(content string) (string, []bridge.DeskMention) { return readText(content, nil) }

func readText(content string, resolve resolver) (string, []bridge.DeskMention) {
	if resolve == nil {
		resolve = func(kind bridge.MentionKind, id string) bridge.DeskMention {
			return bridge.DeskMention{Kind: kind, ID: id, Name: id}
		}
	}
	var mentions []bridge.DeskMention
	var b strings.Builder
	last := 0
	for _, loc := range codeAwareTokens(content) {
		sub := tokenRE.FindStringSubmatch(content[loc[0]:loc[1]])
		b.WriteString(content[last:loc[0]])
		last = loc[1]
		shown, m, ok := readToken(sub, resolve)
		if ok {
			mentions = append(mentions, m)
		}
		b.WriteString(shieldMarks(shown))
	}
	b.WriteString(content[last:])
	return unshieldMarks(stripMarkdown(b.String())), mentions
}

// codeAwareTokens finds the tokens outside code (where Discord shows
// them as typed); mentions count everywhere, since Discord still pings.
func codeAwareTokens(content string) [][]int {
	code := codeSpans(content)
	var out [][]int
	for _, loc := range tokenRE.FindAllStringIndex(content, -1) {
		tok := content[loc[0]:loc[1]]
		inCode := false
		for _, c := range code {
			if loc[0] >= c[0] && loc[1] <= c[1] {
				inCode = true
			}
		}
		if tok == "@everyone" || tok == "@here" {
			before, _ := utf8.DecodeLastRuneInString(content[:loc[0]])
			after, _ := utf8.DecodeRuneInString(content[loc[1]:])
			if loc[0] > 0 && (isWordRune(before) || strings.ContainsRune("_.@", before)) || loc[1] < len(content) && (isWordRune(after) || after == '_') {
				continue // a word or an address that contains it
			}
		}
		isMention := strings.HasPrefix(tok, "<@") || strings.HasPrefix(tok, "<#") || tok == "@everyone" || tok == "@here"
		if !inCode || isMention {
			out = append(out, loc)
		}
	}
	return out
}

// codeSpans are the byte ranges of `code` and ```blocks```.
func codeSpans(s string) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		fence := "`"
		if strings.HasPrefix(s[i:], "```") {
			fence = "```"
		}
		end := strings.Index(s[i+len(fence):], fence)
		if end < 0 {
			i += len(fence)
			continue
		}
		stop := i + len(fence) + end + len(fence)
		out = append(out, [2]int{i, stop})
		i = stop
	}
	return out
}

// readToken reads one token: what it shows and the mention it is.
func readToken(sub []string, resolve resolver) (shown string, m bridge.DeskMention, mention bool) {
	switch {
	case sub[0] == "@everyone" || sub[0] == "@here":
		return sub[0], bridge.DeskMention{Kind: bridge.MentionEveryone, Name: sub[0][1:]}, true
	case sub[1] == "@" || sub[1] == "@!":
		m = resolve(bridge.MentionUser, sub[2])
		return "@" + m.Name, m, true
	case sub[1] == "@&":
		m = resolve(bridge.MentionGroup, sub[2])
		return "@" + m.Name, m, true
	case sub[1] == "#":
		m = resolve(bridge.MentionChannel, sub[2])
		return "#" + m.Name, m, true
	case sub[4] != "":
		return ":" + sub[4] + ":", m, false
	case sub[6] != "":
		secs, err := strconv.ParseInt(sub[6], 10, 64)
		if err != nil {
			return sub[0], m, false
		}
		return time.Unix(secs, 0).UTC().Format("2 Jan 2006 15:04 UTC"), m, false
	case sub[8] != "":
		return "/" + sub[8], m, false
	case sub[9] != "":
		return sub[9], m, false
	case sub[11] != "":
		return desktext.Link(sub[11], sub[10]), m, false
	}
	return sub[0], m, false
}

// Marks inside what tokens show are moved out of the markdown pass's way
// with private-use stand-ins, and put back after it.
var (
	shielder   = strings.NewReplacer("*", "\ue000", "_", "\ue001", "~", "\ue002", "`", "\ue003", "|", "\ue004", ">", "\ue005", "#", "\ue006", "\\", "\ue007", "-", "\ue008")
	unshielder = strings.NewReplacer("\ue000", "*", "\ue001", "_", "\ue002", "~", "\ue003", "`", "\ue004", "|", "\ue005", ">", "\ue006", "#", "\ue007", "\\", "\ue008", "-")
)

func shieldMarks(s string) string   { return shielder.Replace(s) }
func unshieldMarks(s string) string { return unshielder.Replace(s) }

// stripMarkdown drops Discord's markdown marks from content.
func stripMarkdown(s string) string {
	var out []string
	inBlock, quoteRest := false, false
	for _, line := range strings.Split(s, "\n") {
		if n := strings.Count(line, "```"); n > 0 {
			line = dropFences(line, !inBlock)
			if n%2 == 1 {
				inBlock = !inBlock
			}
			if strings.TrimSpace(line) != "" {
				out = append(out, line)
			}
			continue
		}
		if inBlock {
			out = append(out, line)
			continue
		}
		if !quoteRest {
			if rest, ok := strings.CutPrefix(line, ">>> "); ok {
				line, quoteRest = rest, true
			}
		}
		line = stripLineStart(line)
		out = append(out, stripInlineMarks(line))
	}
	return strings.Join(out, "\n")
}

// dropFences takes the ``` marks off a line, and the language tag after
// an opening one.
func dropFences(line string, opening bool) string {
	if rest, ok := strings.CutPrefix(line, "```"); ok && opening && !strings.Contains(rest, "```") {
		if tag := strings.TrimSpace(rest); tag != "" && !strings.ContainsAny(tag, " \t") {
			return ""
		}
	}
	return strings.ReplaceAll(line, "```", "")
}

// stripLineStart drops the quote, heading and subtext marks at the start of a line.
func stripLineStart(line string) string {
	for {
		switch {
		case strings.HasPrefix(line, "> "):
			line = line[2:]
		case strings.HasPrefix(line, "-# "):
			line = line[3:]
		case strings.HasPrefix(line, "### "):
			line = line[4:]
		case strings.HasPrefix(line, "## "):
			line = line[3:]
		case strings.HasPrefix(line, "# "):
			line = line[2:]
		default:
			return line
		}
	}
}

// stripInlineMarks drops pairs of inline marks on a line (code spans keep
// what is inside), and the backslashes that escape marks.
func stripInlineMarks(line string) string {
	rs := []rune(line)
	drop := make([]bool, len(rs))
	literal := make([]bool, len(rs)) // escaped, or inside code
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune("*_~`|>#-\\[]()<:@", rs[i+1]) {
			drop[i], literal[i+1] = true, true
			i++
		}
	}
	// Code spans first: nothing inside is markdown.
	for i := 0; i < len(rs); i++ {
		if rs[i] != '`' || literal[i] {
			continue
		}
		for j := i + 1; j < len(rs); j++ {
			if rs[j] == '`' && !literal[j] {
				drop[i], drop[j] = true, true
				for k := i + 1; k < j; k++ {
					literal[k] = true
				}
				i = j
				break
			}
		}
	}
	for _, mark := range []string{"**", "__", "~~", "||", "*", "_"} {
		pairMarks(rs, drop, literal, []rune(mark))
	}
	var b strings.Builder
	for i, r := range rs {
		if !drop[i] {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pairMarks drops matching pairs of mark around non-empty text. A single
// _ needs word boundaries outside (snake_case stays); a single * needs no
// space inside next to it.
func pairMarks(rs []rune, drop, literal []bool, mark []rune) {
	at := func(i int) bool {
		if i < 0 || i+len(mark) > len(rs) {
			return false
		}
		for k, r := range mark {
			if rs[i+k] != r || drop[i+k] || literal[i+k] {
				return false
			}
		}
		return true
	}
	single := len(mark) == 1
	for i := 0; i < len(rs); i++ {
		if !at(i) {
			continue
		}
		open := i + len(mark)
		if open >= len(rs) || single && unicode.IsSpace(rs[open]) {
			continue
		}
		if mark[0] == '_' && single && i > 0 && isWordRune(rs[i-1]) {
			continue
		}
		for j := open + 1; j <= len(rs)-len(mark); j++ {
			if !at(j) {
				continue
			}
			if single && unicode.IsSpace(rs[j-1]) {
				continue
			}
			if mark[0] == '_' && single && j+1 < len(rs) && isWordRune(rs[j+1]) {
				continue
			}
			for k := range mark {
				drop[i+k], drop[j+k] = true, true
			}
			i = j + len(mark) - 1
			break
		}
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// readText is ReadText with mentions named as staff know them: users by
// their server nickname or name and their roles (from the message's
// mentions, else the member lookup), roles and channels by name when the
// desk knows them.
func (d *Desk) readText(ctx context.Context, content string, mentioned []*discordgo.User) (string, []bridge.DeskMention) {
	return readText(content, func(kind bridge.MentionKind, id string) bridge.DeskMention {
		m := bridge.DeskMention{Kind: kind, ID: id, Name: id}
		switch kind {
		case bridge.MentionUser:
			s := d.people.staff(ctx, id)
			m.Name, m.Groups = s.Name, s.Groups
			for _, u := range mentioned {
				if u != nil && u.ID == id && (m.Name == "" || m.Name == id) {
					m.Name = displayName(u, nil)
				}
			}
		case bridge.MentionGroup:
			m.Name = d.roleName(id)
		case bridge.MentionChannel:
			m.Name = d.channelName(id)
		}
		return m
	})
}

// learnRole records a role's name (from GUILD_CREATE and role events).
func (d *Desk) learnRole(r *discordgo.Role) {
	if r == nil || r.ID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.roles) > maxRemembered {
		clear(d.roles)
	}
	d.roles[r.ID] = r.Name
}

// roleName is role id's name, when the desk has seen the guild's roles.
func (d *Desk) roleName(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.roles[id]; n != "" {
		return n
	}
	return id
}

// channelName is channel id's name, when the desk knows it.
func (d *Desk) channelName(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.channels[id]; ok && c.name != "" {
		return c.name
	}
	return id
}
