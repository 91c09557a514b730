package bridge

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// speech.go is the public-speech gate: what a staff member's text becomes
// when it is meant for a customer. It reads the canonical form (fold.go)
// and the desk's report of what the text held (StaffMessage.Mentions), and
// says either the exact text to publish or why nothing goes. Who may speak
// (the claim, rule 3) is the caller's business; the gate rules on the
// words. When in doubt it holds the text back: a wrongly kept note costs a
// re-send, a wrongly published one costs the brand.

// Speech is a staff text on its way to a customer.
type Speech struct {
	// Text is the plain text as the desk read it.
	Text string
	// Mentions are the desk mentions the desk found in it.
	Mentions []DeskMention
	// Explicit is set for text sent with the explicit reply command: it
	// may name another account of the network.
	Explicit bool
	// Private is set when it goes by direct message (the limit that applies).
	Private bool
}

// VerdictKind is what the gate made of a text.
type VerdictKind int

const (
	// Publish: it may go, as Verdict.Text.
	Publish VerdictKind = iota
	// KeptNote: it starts with a note prefix (or the command prefix); it
	// stays in the desk.
	KeptNote
	// Nothing: there is nothing visible to send.
	Nothing
	// Refused: a rule stopped it (desk markup, another account, too long);
	// counted as a refused reply.
	Refused
)

// Verdict is the gate's answer.
type Verdict struct {
	Kind VerdictKind
	// Text is the exact public text, when Kind is Publish.
	Text string
	// Reason says why it does not go, for its author, in plain words.
	Reason string
}

// Judge applies the rules on words (DESIGN.md public-speech safety, rules
// 2, 4 and 8) to s for case c, in this order: a note or command prefix
// keeps it in the desk; text with nothing visible is not sent; a desk
// mention, desk markup left in the text, or (unless Explicit) another
// account of the network refuses it; so does text over the network's
// limit. Otherwise it is published as s.Text with the spaces around it
// trimmed. Judge reads only c and the config, and does no I/O.
func (b *Bridge) Judge(c *Case, s Speech) Verdict {
	if v, ok := b.prefixVerdict(s.Text); ok {
		return v
	}
	text := strings.TrimSpace(s.Text)
	if text == "" {
		return Verdict{Kind: Nothing, Reason: "There is no text to publish (attachments are not sent)."}
	}
	if !visible(text) {
		return Verdict{Kind: Nothing, Reason: "Not sent: there is no visible text, only spaces or invisible characters."}
	}
	if len(s.Mentions) > 0 {
		return Verdict{Kind: Refused, Reason: mentionRefusal(s.Mentions)}
	}
	if m := deskMarkupRE.FindString(text); m != "" {
		return Verdict{Kind: Refused, Reason: fmt.Sprintf("It holds desk markup (“%s”) that means nothing outside the desk. Write it as plain text and send it again.", m)}
	}
	if !s.Explicit {
		if others := otherAccounts(text, c.Customer); len(others) > 0 {
			return Verdict{Kind: Refused, Reason: fmt.Sprintf(
				"Kept as a note: it names %s, another account on %s. A handle is personal data, so a reply in the thread never brings someone else in by accident. To send it as it is, use `%sreply` with the text.",
				strings.Join(others, ", "), networkTitle(c.Network), b.cfg.CommandPrefix)}
		}
	}
	if r := b.tooLong(c, text, s.Private); r != "" {
		return Verdict{Kind: Refused, Reason: r}
	}
	return Verdict{Kind: Publish, Text: text}
}

// prefixVerdict is the verdict on a text that starts, folded, with a note
// prefix or the command prefix.
func (b *Bridge) prefixVerdict(text string) (Verdict, bool) {
	for _, p := range b.cfg.NotePrefixes {
		if hasFoldedPrefix(text, p) {
			return Verdict{Kind: KeptNote, Reason: fmt.Sprintf("A note (it starts with “%s”): kept in the thread, never published.", p)}, true
		}
	}
	if p := b.cfg.CommandPrefix; hasFoldedPrefix(text, p) {
		return Verdict{Kind: KeptNote, Reason: fmt.Sprintf("It starts with the command prefix “%s”, so it is read as a command, never published.", p)}, true
	}
	return Verdict{}, false
}

// mentionRefusal explains a reply that mentions the desk itself.
func mentionRefusal(ms []DeskMention) string {
	var labels []string
	seen := map[string]bool{}
	for _, m := range ms {
		l := m.Label()
		if !seen[l] {
			seen[l] = true
			labels = append(labels, l)
		}
	}
	if len(labels) > 3 {
		labels = append(labels[:3], "more")
	}
	return fmt.Sprintf("This mentions %s, which nobody outside the desk can see; it would reach the customer as a name or a code. Write it without the mention and send it again.",
		strings.Join(labels, ", "))
}

// deskMarkupRE finds desk references a desk did not turn into plain text:
// Slack's <@U1>, <#C1>, <!here>, <!subteam^S1>, and Discord's <@1>, <@!1>,
// <@&1>, <#1>, <:emoji:1>, <t:1:R>, </cmd:1>.
var deskMarkupRE = regexp.MustCompile(`<(?:[@#!][!&^]?[A-Za-z0-9^|._-]+|a?:\w+:\d+|t:-?\d+(?::[A-Za-z])?|/[\w -]+:\d+)>`)

// handleRE finds @handles: "@ana", "@ana@mastodon.social", "@ana.bsky.social".
var handleRE = regexp.MustCompile(`@[\p{L}\p{N}_][\p{L}\p{N}_.-]*(?:@[\p{L}\p{N}.-]+)?`)

// otherAccounts lists the @handles in text that are not the customer's.
// An @ inside a word (an e-mail address) or after a slash (a profile URL)
// is no mention.
func otherAccounts(text string, customer Author) []string {
	own := strings.ToLower(strings.TrimPrefix(customer.Handle, "@"))
	var out []string
	for _, loc := range handleRE.FindAllStringIndex(text, -1) {
		if loc[0] > 0 {
			prev := lastRune(text[:loc[0]])
			if unicode.IsLetter(prev) || unicode.IsDigit(prev) || strings.ContainsRune("_/@.:+-", prev) {
				continue
			}
		}
		h := strings.TrimRight(text[loc[0]:loc[1]], ".-")
		if h == "@" || isCustomer(strings.ToLower(h[1:]), own) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// isCustomer reports whether handle h (lower case, no @) names the
// customer whose handle is own: the whole handle, or its local part.
func isCustomer(h, own string) bool {
	if own == "" {
		return false
	}
	if h == own {
		return true
	}
	local, _, _ := strings.Cut(own, "@")
	first, _, _ := strings.Cut(local, ".")
	return h == local || h == first
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
