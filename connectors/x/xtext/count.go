// Package xtext counts text the way X does: a port of twitter-text's
// parseTweet with its v3 configuration (the one X uses since emoji count as
// one character).
//
// The rules, in the order parseTweet applies them:
//   - the text is NFC-normalized first;
//   - every URL twitter-text's extractor finds counts 23, whatever its length
//     (extractor: url.go; it knows the same gTLDs and ccTLDs, tlds.go);
//   - every emoji sequence twitter-text's emoji parser finds (ZWJ families,
//     flags, skin tones, keycaps; emoji.go) counts 2 as a whole;
//   - every other UTF-16 code unit counts 1 if it lies in U+0000–U+10FF,
//     U+2000–U+200D, U+2010–U+201F or U+2032–U+2037, else 2 (so a character
//     outside the BMP counts 2);
//   - U+FFFE, U+FEFF and U+FFFF make a text invalid, and so do an empty text
//     and one over 280.
//
// It works on UTF-16 code units, as the JavaScript original does, so that its
// boundaries (a surrogate half taken as the character before a URL, a label's
// length in UTF-16) are the same. It is its own package so that the X
// connector and its fake share one definition. Pure functions, safe for
// concurrent use; the tables are built once, on first use.
package xtext

import (
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Max is the weighted length limit of a post.
const Max = 280

// URLWeight is what every URL counts, whatever its length.
const URLWeight = 23

// twitter-text's v3 configuration (config/v3.json): weights are in
// hundredths of a character.
const (
	scale         = 100
	defaultWeight = 200
)

// weightRanges are v3's ranges of code units that weigh 100 (one
// character); every other unit weighs defaultWeight.
var weightRanges = [...]struct{ lo, hi uint16 }{
	{0x0000, 0x10FF},
	{0x2000, 0x200D},
	{0x2010, 0x201F},
	{0x2032, 0x2037},
}

// Result is what X makes of a text: parseTweet's weightedLength, valid and
// permillage.
type Result struct {
	// WeightedLength is the length X compares with Max.
	WeightedLength int
	// Valid is twitter-text's verdict: not empty, not over Max, and no
	// character X refuses.
	Valid bool
	// Permillage is WeightedLength in thousandths of Max, rounded down.
	Permillage int
	// Refused is the first character X refuses (U+FFFE, U+FEFF or U+FFFF)
	// found outside a URL or emoji, or 0 when there is none.
	Refused rune
}

// Parse counts text as X does.
func Parse(text string) Result { return parse(text, true) }

// parse is parseTweet; emojiParsing off is twitter-text's v2 configuration
// (every emoji code unit weighed alone), kept for its conformance cases.
func parse(text string, emojiParsing bool) Result {
	t := newText(text)
	urls := extractURLs(t.u)
	var emoji []span
	if emojiParsing {
		emoji = t.emojiSpans()
	}
	weighted := 0
	var refused rune
	ui, ei := 0, 0
	for i := 0; i < len(t.u); i++ {
		for ui < len(urls) && urls[ui].start < i {
			ui++
		}
		for ei < len(emoji) && emoji[ei].start < i {
			ei++
		}
		switch {
		case ui < len(urls) && urls[ui].start == i:
			weighted += URLWeight * scale
			i += urls[ui].length() - 1
		case ei < len(emoji) && emoji[ei].start == i:
			weighted += defaultWeight
			i = emoji[ei].end - 1
		default:
			if isHigh(t.u[i]) && i+1 < len(t.u) && isLow(t.u[i+1]) {
				i++ // the pair weighs as its low half, which no range holds
			}
			weighted += unitWeight(t.u[i])
		}
		// twitter-text checks the last unit of each step, which is never
		// inside a URL or an emoji: neither can hold these.
		if refused == 0 && isInvalid(t.u[i]) {
			refused = rune(t.u[i])
		}
	}
	n := weighted / scale
	return Result{
		WeightedLength: n,
		Valid:          refused == 0 && n > 0 && n <= Max,
		Permillage:     int(math.Floor(float64(n) / Max * 1000)),
		Refused:        refused,
	}
}

// Count returns X's weighted length of text.
func Count(text string) int { return Parse(text).WeightedLength }

func unitWeight(c uint16) int {
	for _, r := range weightRanges {
		if c >= r.lo && c <= r.hi {
			return scale
		}
	}
	return defaultWeight
}

// isInvalid reports the code units twitter-text refuses in a post.
func isInvalid(c uint16) bool { return c == 0xFFFE || c == 0xFEFF || c == 0xFFFF }

func isHigh(c uint16) bool { return c >= 0xD800 && c <= 0xDBFF }
func isLow(c uint16) bool  { return c >= 0xDC00 && c <= 0xDFFF }

// span is a half-open range of UTF-16 code units.
type span struct{ start, end int }

// urlSpan is a URL entity: its indices, and the length of the URL text
// twitter-text reports for it, which is what parseTweet skips. The two
// differ for a URL without protocol whose last ASCII domain ends before the
// domain the pattern matched ("XY.sn.日本.net/x" is reported as "XY.sn/x"):
// the text skips the rest of the domain, the indices do not.
type urlSpan struct {
	start, end       int
	gapStart, gapEnd int // units inside [start, end) that the text leaves out
}

// length is the length of the URL's text.
func (s urlSpan) length() int { return s.end - s.start - (s.gapEnd - s.gapStart) }

// text is the normalized text in UTF-8 (for the emoji pattern) and UTF-16
// (for everything else), with the byte offset of every code unit.
type text struct {
	s     string
	u     []uint16
	bytes []int32 // bytes[i] is the offset in s of the character unit i belongs to; bytes[len(u)] = len(s)
}

func newText(raw string) *text {
	s := norm.NFC.String(validUTF8(raw))
	t := &text{s: s, u: make([]uint16, 0, len(s)), bytes: make([]int32, 0, len(s)+1)}
	for off, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			t.u = append(t.u, uint16(hi), uint16(lo))
			t.bytes = append(t.bytes, int32(off), int32(off))
			continue
		}
		t.u = append(t.u, uint16(r))
		t.bytes = append(t.bytes, int32(off))
	}
	t.bytes = append(t.bytes, int32(len(s)))
	return t
}

// byteAt is the byte offset of code unit i.
func (t *text) byteAt(i int) int { return int(t.bytes[i]) }

// validUTF8 replaces every byte that is not UTF-8 by U+FFFD, as a JSON
// encoder does on the way to X.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
