package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Listings are plain text that reads the same in Slack and Discord: one
// case per line starting with "•", fields separated by " · ", no tables
// (proportional fonts break alignment) and no bold (the two desks spell it
// differently). They stay under maxListing characters so a Discord message
// (2000) holds them.
const (
	maxListing   = 1900
	maxQuoteText = 80
)

// FormatDuration is a short, rounded duration: "45s", "12m", "2h 5m", "3d 4h".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + "d"
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

// cleanText makes outside text safe and short for a listing line: one line,
// no mass mentions or desk markup that could ping people, at most max runes.
func cleanText(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := strings.NewReplacer(
		"`", "'",
		"<!", "<\u200b!", // Slack <!channel>, <!here>
		"<@", "<\u200b@", // Slack and Discord user mentions
		"<#", "<\u200b#",
		"@everyone", "@\u200beveryone",
		"@here", "@\u200bhere",
		"@channel", "@\u200bchannel",
	)
	s = r.Replace(s)
	if rs := []rune(s); len(rs) > max {
		s = strings.TrimSpace(string(rs[:max-1])) + "…"
	}
	return s
}

// dueText tells how an SLA deadline stands: "SLA due in 25m", "SLA overdue 10m".
func dueText(due, now time.Time) string {
	if due.IsZero() {
		return ""
	}
	if d := due.Sub(now); d >= 0 {
		return "SLA due in " + FormatDuration(d)
	} else {
		return "SLA overdue " + FormatDuration(-d)
	}
}

// priorityText is a priority in a listing: "urgent", or "priority 7".
func priorityText(p int) string {
	if n := PriorityName(p); n != strconv.Itoa(p) {
		return n
	}
	return "priority " + strconv.Itoa(p)
}

// statusText is a status in lower case for listing lines.
func statusText(s bridge.Status) string {
	return strings.ToLower(s.Label())
}

// FormatQueue lists a queue's open cases, most urgent first as the bridge
// ordered them: id, priority, status, age, assignee, SLA due, the complaint.
func FormatQueue(queue string, cases []bridge.CaseSummary, now time.Time) string {
	open := make([]bridge.CaseSummary, 0, len(cases))
	for _, c := range cases {
		if c.Status.Open() {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return fmt.Sprintf("Queue %s: no open cases.", queue)
	}
	head := fmt.Sprintf("Queue %s: %d open %s", queue, len(open), plural(len(open), "case", "cases"))
	lines := make([]string, 0, len(open))
	for _, c := range open {
		parts := []string{string(c.ID), priorityText(c.Priority), statusText(c.Status), FormatDuration(now.Sub(c.OpenedAt)) + " old"}
		if c.AssigneeName != "" {
			parts = append(parts, cleanText(c.AssigneeName, 40))
		} else {
			parts = append(parts, "unassigned")
		}
		if d := dueText(c.Due, now); d != "" {
			parts = append(parts, d)
		}
		line := "• " + strings.Join(parts, " · ")
		if t := cleanText(c.Text, maxQuoteText); t != "" {
			line += " — “" + t + "”"
		}
		lines = append(lines, line)
	}
	return fitLines(head, lines)
}

// FormatHistory lists a customer's other cases, newest first as given,
// leaving out the current one.
func FormatHistory(current bridge.CaseView, cases []bridge.CaseSummary, now time.Time) string {
	who := cleanText(current.Customer.Handle, 60)
	if who == "" {
		who = "this customer"
	}
	var lines []string
	for _, c := range cases {
		if c.ID == current.ID {
			continue
		}
		parts := []string{string(c.ID)}
		switch {
		case c.Status.Open():
			parts = append(parts, statusText(c.Status), "opened "+FormatDuration(now.Sub(c.OpenedAt))+" ago")
		case !c.ResolvedAt.IsZero():
			parts = append(parts, "resolved "+FormatDuration(now.Sub(c.ResolvedAt))+" ago")
		default:
			parts = append(parts, statusText(c.Status))
		}
		if c.Queue != "" {
			parts = append(parts, c.Queue)
		}
		if c.AssigneeName != "" {
			parts = append(parts, cleanText(c.AssigneeName, 40))
		}
		line := "• " + strings.Join(parts, " · ")
		if t := cleanText(c.Text, maxQuoteText); t != "" {
			line += " — “" + t + "”"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return fmt.Sprintf("%s: no earlier cases from %s.", current.ID, who)
	}
	head := fmt.Sprintf("%s: %d earlier %s from %s", current.ID, len(lines), plural(len(lines), "case", "cases"), who)
	return fitLines(head, lines)
}

// fitLines joins head and lines, leaving out the tail with "… and N more"
// so the text stays under maxListing characters.
func fitLines(head string, lines []string) string {
	var b strings.Builder
	b.WriteString(head)
	n := len([]rune(head))
	for i, l := range lines {
		more := ""
		if rest := len(lines) - i - 1; rest > 0 {
			more = fmt.Sprintf("\n… and %d more", rest)
		}
		ll := len([]rune(l)) + 1
		if n+ll+len([]rune(more)) > maxListing && i > 0 {
			fmt.Fprintf(&b, "\n… and %d more", len(lines)-i)
			return b.String()
		}
		b.WriteByte('\n')
		b.WriteString(l)
		n += ll
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
