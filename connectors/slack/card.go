package slack

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
)

// Action ids of the buttons Earshot puts on cards and delivery lines. The
// verb after the prefix is the Invocation.Name a press turns into.
const (
	actionPrefix = "earshot:"
	cardBlockID  = "earshot:card"
	retryBlockID = "earshot:retry"
)

// Block Kit limits (PLATFORMS.md).
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxBlocks      = 50
	maxMessageText = 40000
	maxFallback    = 3000
)

// escape makes text safe inside Slack mrkdwn and message text: &, < and >
// are the only characters Slack asks to escape; mentions like <!channel>
// stop being mentions once escaped.
func escape(s string) string { return escaper.Replace(s) }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// cut shortens s to at most n runes, ending with "…" when shortened.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// link renders a mrkdwn link with an escaped label; a URL with characters
// that would break the link syntax is shown as plain text.
func link(url, label string) string {
	if url == "" {
		return escape(label)
	}
	if strings.ContainsAny(url, "<>| ") {
		return escape(label) + " (" + escape(url) + ")"
	}
	return "<" + url + "|" + strings.ReplaceAll(escape(label), "|", "¦") + ">"
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
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
	return a.Handle
}

// RenderCard is the one Block Kit renderer of a case card: who wrote, what
// they wrote, where the case stands and the buttons to act on it. It
// returns the blocks and the notification fallback text. Pure; no I/O.
func RenderCard(c bridge.CaseView) ([]slack.Block, string) {
	var blocks []slack.Block
	who := authorName(c.Customer)
	blocks = append(blocks, slack.NewHeaderBlock(plain(cut(fmt.Sprintf("%s · %s", c.ID, who), maxHeaderText))))

	author := fmt.Sprintf("*%s* · `%s` on %s", link(c.Customer.URL, who), escape(c.Customer.Handle), escape(c.Network))
	if c.Customer.Followers > 0 {
		author += " · " + followers(c.Customer.Followers) + " followers"
	}
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(cut(author, maxSectionText)), nil, nil))

	text := c.First.Text
	if strings.TrimSpace(text) == "" {
		text = "(no text)"
	}
	if utf8.RuneCountInString(text) > maxSectionText {
		text = cut(text, maxSectionText-40) + " (shortened; see the original post)"
	}
	// plain_text: the customer's words are shown verbatim, never as markup.
	blocks = append(blocks, slack.NewSectionBlock(plain(text), nil, nil))

	src := []string{link(c.First.URL, "Original post"), "posted " + escape(when(c.First.CreatedAt))}
	if c.Posts > 1 {
		src = append(src, strconv.Itoa(c.Posts)+" posts")
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(strings.Join(src, " · "))))

	status := c.StatusLine()
	if c.Status == bridge.StatusResolved && c.Summary != "" {
		status += ": " + c.Summary
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Case*\n" + escape(string(c.ID))),
		mrkdwn("*Status*\n" + cut(escape(status), 1900)),
		mrkdwn("*Queue*\n" + escape(c.Queue)),
		mrkdwn("*Priority*\n" + strconv.Itoa(c.Priority)),
	}
	if due := c.Due(); !due.IsZero() {
		fields = append(fields, mrkdwn("*SLA due*\n"+escape(when(due))))
	}
	if len(c.Tags) > 0 {
		fields = append(fields, mrkdwn("*Tags*\n"+cut(escape(strings.Join(c.Tags, ", ")), 1900)))
	}
	if c.Private {
		fields = append(fields, mrkdwn("*Channel*\nDirect messages"))
	}
	if c.Incident != "" {
		fields = append(fields, mrkdwn("*Incident*\n"+cut(escape(string(c.Incident)+" · "+c.IncidentTitle), 1900)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))

	if hist := history(c); hist != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(cut(hist, maxSectionText))))
	}
	blocks = append(blocks, cardActions(c))
	fallback := cut(escape(fmt.Sprintf("%s: %s (%s) on %s: %s", c.ID, who, c.Customer.Handle, c.Network, c.StatusLine())), maxFallback)
	return blocks, fallback
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

// history renders the customer's earlier cases, at most five.
func history(c bridge.CaseView) string {
	var parts []string
	seen := map[bridge.CaseID]bool{}
	for _, h := range c.History {
		if h.ID == c.ID || len(parts) >= 5 {
			continue
		}
		seen[h.ID] = true
		s := fmt.Sprintf("%s (%s)", escape(string(h.ID)), escape(h.Status.Label()))
		if h.Text != "" {
			s += " " + escape(cut(h.Text, 80))
		}
		parts = append(parts, s)
	}
	for _, id := range c.Previous {
		if !seen[id] && id != c.ID && len(parts) < 5 {
			parts = append(parts, escape(string(id)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Earlier cases: " + strings.Join(parts, " · ")
}

// cardActions is the card's button row; which buttons show depends on status.
func cardActions(c bridge.CaseView) *slack.ActionBlock {
	id := string(c.ID)
	var els []slack.BlockElement
	button := func(verb, label, style string) {
		b := slack.NewButtonBlockElement(actionPrefix+verb, id, plain(label))
		if style != "" {
			b.Style = slack.Style(style)
		}
		els = append(els, b)
	}
	open := c.Status.Open()
	if open {
		if c.Assignee == "" {
			button("claim", "Claim", "primary")
		} else {
			button("release", "Release", "")
		}
		if len(c.Teams) > 0 {
			var opts []*slack.OptionBlockObject
			for _, t := range c.Teams {
				if len(opts) == 100 {
					break
				}
				opts = append(opts, slack.NewOptionBlockObject(t, plain(cut(t, 75)), nil))
			}
			els = append(els, slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Escalate to…"), actionPrefix+"escalate", opts...))
		}
		button("resolve", "Resolve", "")
		if !c.Private {
			button("dm", "Move to DM", "")
		}
	} else {
		button("reopen", "Reopen", "")
	}
	els = append(els, caseIncidentElements(c)...)
	return slack.NewActionBlock(cardBlockID, els...)
}

// renderMessage renders a thread message from the bridge: a customer
// follow-up (verbatim, in plain_text sections, prefixed with who wrote it
// unless the desk may post as the customer) or an Earshot notice.
func renderMessage(m bridge.DeskMessage, customize bool) (blocks []slack.Block, fallback string) {
	text := m.Text
	if utf8.RuneCountInString(text) > maxMessageText {
		text = cut(text, maxMessageText-40) + " (shortened; see the original post)"
	}
	var prefix string
	if m.Kind == bridge.DeskCustomer && m.Author != nil && !customize {
		prefix = fmt.Sprintf("*%s* (`%s`) wrote:", escape(authorName(*m.Author)), escape(m.Author.Handle))
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(prefix)))
	}
	if m.Kind == bridge.DeskCustomer {
		for _, chunk := range chunks(text, maxSectionText) {
			if len(blocks) >= maxBlocks-1 {
				break
			}
			blocks = append(blocks, slack.NewSectionBlock(plain(chunk), nil, nil))
		}
	} else {
		for _, chunk := range chunks(escape(text), maxSectionText) {
			if len(blocks) >= maxBlocks-1 {
				break
			}
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(chunk), nil, nil))
		}
	}
	if m.Link != "" {
		label := "View post"
		if m.Kind == bridge.DeskNotice {
			label = m.Link
		}
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(link(m.Link, label))))
	}
	if a := messageActions(m); a != nil {
		blocks = append(blocks, a)
	}
	fallback = escape(cut(m.Text, maxFallback))
	if prefix != "" {
		fallback = cut(prefix+" "+fallback, maxFallback)
	}
	return blocks, fallback
}

// chunks splits s into pieces of at most n runes (at least one piece).
func chunks(s string, n int) []string {
	r := []rune(s)
	if len(r) == 0 {
		return []string{" "}
	}
	var out []string
	for len(r) > 0 {
		k := min(n, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}
