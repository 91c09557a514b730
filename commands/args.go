package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/earshot-dev/earshot/bridge"
)

// ParseCaseID reads a case id as staff type it, for ids made of prefix (the
// configured letters, "E" by default) and a number. Accepted, case-insensitively:
// "E-42", "e-42", "E42", "#E-42", "E 42" is not (that is two arguments).
// It returns the canonical form "E-42"; ok is false for anything else,
// including a bare number (it would clash with priorities and tags).
func ParseCaseID(s, prefix string) (bridge.CaseID, bool) {
	if prefix == "" {
		prefix = "E"
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	num := strings.TrimPrefix(s[len(prefix):], "-")
	if num == "" || len(num) > 18 {
		return "", false
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return "", false
	}
	return bridge.CaseID(strings.ToUpper(prefix) + "-" + strconv.FormatUint(n, 10)), true
}

// Priority levels by name. Higher is more urgent; routes that set none give
// 0, which reads "normal".
var priorityNames = []struct {
	name  string
	value int
}{
	{"low", -1},
	{"normal", 0},
	{"high", 1},
	{"urgent", 2},
}

// Priority bounds for numbers typed by staff.
const (
	minPriority = -100
	maxPriority = 100
)

// ParsePriority reads a priority: a level name (low, normal, high, urgent,
// case-insensitive, also "med"/"medium" for normal) or a whole number
// between -100 and 100.
func ParsePriority(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "med", "medium":
		t = "normal"
	case "crit", "critical":
		t = "urgent"
	}
	for _, p := range priorityNames {
		if p.name == t {
			return p.value, nil
		}
	}
	n, err := strconv.Atoi(strings.TrimPrefix(t, "+"))
	if err != nil {
		return 0, fmt.Errorf("%q is not a priority: use low, normal, high, urgent or a number", s)
	}
	if n < minPriority || n > maxPriority {
		return 0, fmt.Errorf("priority %d is out of range (%d to %d)", n, minPriority, maxPriority)
	}
	return n, nil
}

// PriorityName is how a priority reads: its level name, or the number.
func PriorityName(p int) string {
	for _, n := range priorityNames {
		if n.value == p {
			return n.name
		}
	}
	return strconv.Itoa(p)
}

// Snooze bounds.
const maxSnooze = 90 * 24 * time.Hour

// ParseDuration reads a snooze length: a Go duration ("90m", "1h30m") or
// one with days and weeks ("1d", "2w", "1d12h"). It must be positive and at
// most 90 days.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("give a duration like 30m, 2h or 1d")
	}
	var total time.Duration
	rest := t
	// Peel off leading week and day parts, then hand the rest to time.ParseDuration.
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 || i == len(rest) || (rest[i] != 'd' && rest[i] != 'w') {
			break
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > 10000 {
			return 0, fmt.Errorf("%q is not a duration: use 30m, 2h or 1d", s)
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest != "" {
		if rest != t && (rest[0] == '-' || rest[0] == '+') {
			return 0, fmt.Errorf("%q is not a duration: use 30m, 2h or 1d", s)
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: use 30m, 2h or 1d", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("snooze for a positive time, like 30m, 2h or 1d")
	}
	if total > maxSnooze {
		return 0, fmt.Errorf("%s is too long; snooze for at most 90 days", FormatDuration(total))
	}
	return total, nil
}

// ParseMention reads who a command names: a Slack mention "<@U123>" or
// "<@U123|ana>", a Discord mention "<@123>" or "<@!123>", "@U123", or a raw
// user id. It returns the id and the name when the mention carried one.
func ParseMention(s string) (id, name string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<@") && strings.HasSuffix(s, ">") {
		inner := strings.TrimPrefix(s[2:len(s)-1], "!")
		id, name, _ = strings.Cut(inner, "|")
		return id, name, validUserID(id)
	}
	s = strings.TrimPrefix(s, "@")
	return s, "", validUserID(s)
}

// validUserID accepts the characters desk user ids are made of.
func validUserID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// normTag makes a tag canonical: lower case, no leading '#', inner spaces
// turned into '-' ("Big Account" → "big-account").
func normTag(t string) string {
	t = strings.TrimLeftFunc(t, func(r rune) bool { return r == '#' || isSep(r) })
	return strings.ToLower(strings.Join(strings.FieldsFunc(t, isSep), "-"))
}

// ParseTags reads tag changes: "+vip", "-spam", "vip" (adds), and
// comma-separated lists of those. Tags are lower-cased.
func ParseTags(args []string) (add, remove []string, err error) {
	for _, a := range args {
		for part := range strings.SplitSeq(a, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			target := &add
			switch part[0] {
			case '+':
				part = part[1:]
			case '-':
				part = part[1:]
				target = &remove
			}
			t := normTag(part)
			if t == "" {
				return nil, nil, fmt.Errorf("%q is not a tag", a)
			}
			if len(t) > 40 {
				return nil, nil, fmt.Errorf("tag %q is too long (40 characters at most)", t)
			}
			*target = append(*target, t)
		}
	}
	return add, remove, nil
}
