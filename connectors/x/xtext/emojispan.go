package xtext

import (
	"regexp"
	"strings"
	"sync"
)

// emojiRE is emojiPattern compiled, once.
var emojiRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(emojiPattern) })

// emojiSpans finds the emoji twitter-text's parser (twemoji-parser) finds,
// in code units. Go's regexp has no lookahead: where the pattern says "not
// before U+FE0E" it has an empty group instead, and a match that went
// through one and is followed by U+FE0E is dropped; the generator checked
// that no other branch matches at such a place, so the search going on
// after it is what JavaScript does too.
func (t *text) emojiSpans() []span {
	if !mayHoldEmoji(t.s) {
		return nil
	}
	var out []span
	for _, m := range emojiRE().FindAllStringSubmatchIndex(t.s, -1) {
		if guardedBeforeFE0E(t.s, m) {
			continue
		}
		out = append(out, span{t.unitAt(m[0]), t.unitAt(m[1])})
	}
	return out
}

func guardedBeforeFE0E(s string, m []int) bool {
	for g := 1; g <= emojiGuards; g++ {
		if m[2*g] >= 0 {
			return strings.HasPrefix(s[m[1]:], "\uFE0E")
		}
	}
	return false
}

// mayHoldEmoji is a quick test: every emoji the pattern knows holds a
// character outside ASCII (keycaps end in U+20E3).
func mayHoldEmoji(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// unitAt is the code unit index at byte offset off, which starts a
// character or is len(t.s).
func (t *text) unitAt(off int) int {
	// bytes is non-decreasing: binary search for the first unit at off.
	lo, hi := 0, len(t.bytes)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if int(t.bytes[mid]) < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
