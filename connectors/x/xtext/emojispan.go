package xtext

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// emojiMatcher finds the emoji twitter-text's parser (twemoji-parser)
// finds. The pattern is only tried, anchored, where an emoji can begin: a
// character one of its branches starts with. That gives the same matches as
// a leftmost search over the whole text, at a fraction of the cost.
type emojiMatcher struct {
	re    *regexp.Regexp // ^(?:emojiPattern)
	first []rune         // sorted pairs lo, hi of the characters an emoji starts with
}

var emojiRE = sync.OnceValue(func() *emojiMatcher {
	re := regexp.MustCompile(`^(?:` + emojiPattern + `)`)
	return &emojiMatcher{re: re, first: firstRunes(emojiPattern)}
})

// firstRunes lists the ranges of characters a match of pattern can start with.
func firstRunes(pattern string) []rune {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err) // the generated pattern compiled above
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		panic(err)
	}
	var ranges [][2]rune
	seen := map[uint32]bool{}
	var walk func(pc uint32)
	walk = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			walk(in.Out)
		case syntax.InstRune, syntax.InstRune1:
			if len(in.Rune) == 1 {
				ranges = append(ranges, [2]rune{in.Rune[0], in.Rune[0]})
			}
			for i := 0; i+1 < len(in.Rune); i += 2 {
				ranges = append(ranges, [2]rune{in.Rune[i], in.Rune[i+1]})
			}
		case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			ranges = append(ranges, [2]rune{0, utf8.MaxRune})
		}
	}
	walk(uint32(prog.Start))
	slices.SortFunc(ranges, func(a, b [2]rune) int { return int(a[0] - b[0]) })
	var out []rune
	for _, r := range ranges {
		if n := len(out); n > 0 && r[0] <= out[n-1]+1 {
			out[n-1] = max(out[n-1], r[1])
			continue
		}
		out = append(out, r[0], r[1])
	}
	return out
}

func (m *emojiMatcher) mayStart(r rune) bool {
	i, _ := slices.BinarySearch(m.first, r) // the first bound at or above r
	return i%2 == 1 || i < len(m.first) && m.first[i] == r
}

// maxEmojiBytes bounds an emoji sequence in UTF-8 (the longest, a kiss or a
// tag flag, takes 28 bytes).
const maxEmojiBytes = 64

// emojiSpans returns the emoji of the text, in code units. Go's regexp has
// no lookahead: where the pattern says "not before U+FE0E" it has an empty
// group instead, and a match that went through one and is followed by
// U+FE0E is dropped; the generator checked that no other branch matches
// there, so going on at the next character is what JavaScript does too.
func (t *text) emojiSpans() []span {
	m := emojiRE()
	s := t.s
	var out []span
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// ASCII starts only keycaps: #, * or a digit, then U+FE0F or U+20E3.
			if (c == '#' || c == '*' || c >= '0' && c <= '9') && (strings.HasPrefix(s[i+1:], "\uFE0F") || strings.HasPrefix(s[i+1:], "\u20E3")) {
				if end, ok := m.matchAt(s, i); ok {
					out = append(out, span{t.unitAt(i), t.unitAt(end)})
					i = end
					continue
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if m.mayStart(r) {
			if end, ok := m.matchAt(s, i); ok {
				out = append(out, span{t.unitAt(i), t.unitAt(end)})
				i = end
				continue
			}
		}
		i += size
	}
	return out
}

// matchAt matches the pattern at byte i of s and returns where it ends.
func (m *emojiMatcher) matchAt(s string, i int) (int, bool) {
	window := s[i:min(len(s), i+maxEmojiBytes)]
	loc := m.re.FindStringSubmatchIndex(window)
	if loc == nil {
		return 0, false
	}
	end := i + loc[1]
	for g := 1; g <= emojiGuards; g++ {
		if loc[2*g] >= 0 && strings.HasPrefix(s[end:], "\uFE0E") {
			return 0, false
		}
	}
	return end, true
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
