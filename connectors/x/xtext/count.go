// Package xtext counts text the way X does (twitter-text configuration v3):
// the text is NFC-normalized first; code points in U+0000–U+10FF,
// U+2000–U+200D, U+2010–U+201F and U+2032–U+2037 weigh 1, everything else 2;
// an emoji sequence (ZWJ families, flags, skin tones, keycaps) weighs 2 as a
// whole; every URL weighs 23 whatever its length. The limit is 280.
//
// It is its own package so that the X connector and its fake share one
// definition. Pure functions, safe for concurrent use.
package xtext

import (
	"regexp"
	"strings"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// Max is the weighted length limit of a post.
const Max = 280

// URLWeight is what every URL counts, whatever its length.
const URLWeight = 23

// urlPattern finds URLs as twitter-text does, closely enough: explicit
// http(s) URLs, and bare domains ending in a common top-level domain.
var urlPattern = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|edu|gov|io|co|info|biz|me|app|dev|ly|gl|gg|tv|ai|uk|de|fr|es|it|nl|eu|ca|au|jp|in|br|ru|ch|se|no|pl|be|at|ie|nz|us)\b(?:/[^\s<>"]*)?`)

// URLs returns the byte spans of the URLs in (already normalized) s,
// trailing punctuation excluded.
func URLs(s string) [][2]int {
	var out [][2]int
	for _, m := range urlPattern.FindAllStringIndex(s, -1) {
		start, end := m[0], m[1]
		// A bare domain glued to a preceding @ or word character is a handle or an e-mail.
		if start > 0 && (s[start-1] == '@' || s[start-1] == '.') {
			continue
		}
		for end > start && strings.ContainsRune(".,;:!?'\")]}", rune(s[end-1])) {
			end--
		}
		out = append(out, [2]int{start, end})
	}
	return out
}

// Count returns X's weighted length of text.
func Count(text string) int {
	s := norm.NFC.String(text)
	n := 0
	last := 0
	for _, u := range URLs(s) {
		n += weigh(s[last:u[0]]) + URLWeight
		last = u[1]
	}
	return n + weigh(s[last:])
}

// weigh sums the weights of the grapheme clusters of s (no URLs inside).
func weigh(s string) int {
	n := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		rs := g.Runes()
		if isEmoji(rs) {
			n += 2
			continue
		}
		for _, r := range rs {
			n += runeWeight(r)
		}
	}
	return n
}

// runeWeight is twitter-text v3's per-code-point weight.
func runeWeight(r rune) int {
	switch {
	case r <= 0x10FF, r >= 0x2000 && r <= 0x200D, r >= 0x2010 && r <= 0x201F, r >= 0x2032 && r <= 0x2037:
		return 1
	}
	return 2
}

// isEmoji reports whether a grapheme cluster is an emoji (sequence), which
// counts 2 as a whole.
func isEmoji(rs []rune) bool {
	for _, r := range rs {
		switch {
		case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, flags (regional indicators), skin tones
			r == 0xFE0F,                // emoji presentation selector
			r == 0x20E3,                // keycap
			r == 0x200D && len(rs) > 1, // zero-width joiner inside a sequence
			r >= 0x2600 && r <= 0x27BF: // misc symbols and dingbats (☕, ✈)
			return true
		}
	}
	return false
}
