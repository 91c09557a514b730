package xtext

import (
	"sync"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// twitter-text's URL pattern is a JavaScript regular expression with the
// "i" flag and without "u": it compares UTF-16 code units after
// JavaScript's Canonicalize, which upper-cases a unit unless its upper case
// is more than one unit or turns a non-ASCII unit into ASCII (so ſ is not s
// and the Kelvin sign is not k, unlike Go's (?i)). These tables reproduce
// that.

// unitSet is a set of UTF-16 code units.
type unitSet [1 << 16 / 64]uint64

func (s *unitSet) add(c uint16)      { s[c>>6] |= 1 << (c & 63) }
func (s *unitSet) has(c uint16) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *unitSet) addRange(lo, hi uint16) {
	for c := uint32(lo); c <= uint32(hi); c++ {
		s.add(uint16(c))
	}
}

// canonTable maps every code unit to its JavaScript Canonicalize.
var canonTable = sync.OnceValue(func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	upper := cases.Upper(language.Und)
	for c := 0; c < 1<<16; c++ {
		t[c] = uint16(c)
		r := rune(c)
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		u := unicode.ToUpper(r)
		if u == r || u > 0xFFFF || (r >= 0x80 && u < 0x80) {
			continue
		}
		// toUpperCase uses the full mapping: one whose result is longer than
		// one unit (ᾳ → ΑΙ) leaves the unit as it is.
		if full := []rune(upper.String(string(r))); len(full) != 1 {
			continue
		}
		t[c] = uint16(u)
	}
	return &t
})

func canon(c uint16) uint16 { return canonTable()[c] }

// foldedSet turns a character class into the set of units it matches under
// the "i" flag: those whose Canonicalize is the Canonicalize of a member.
func foldedSet(members *unitSet) *unitSet {
	ct := canonTable()
	var canonical, out unitSet
	for c := 0; c < 1<<16; c++ {
		if members.has(uint16(c)) {
			canonical.add(ct[c])
		}
	}
	for c := 0; c < 1<<16; c++ {
		if canonical.has(ct[c]) {
			out.add(uint16(c))
		}
	}
	return &out
}

// latinAccents and cyrillic are twitter-text's latinAccentChars and
// cyrillicLettersAndMarks.
func addLatinAccents(s *unitSet) {
	s.addRange(0xC0, 0xD6)
	s.addRange(0xD8, 0xF6)
	s.addRange(0xF8, 0xFF)
	s.addRange(0x0100, 0x024F)
	for _, c := range []uint16{0x0253, 0x0254, 0x0256, 0x0257, 0x0259, 0x025B, 0x0263, 0x0268, 0x026F, 0x0272, 0x0289, 0x028B, 0x02BB} {
		s.add(c)
	}
	s.addRange(0x0300, 0x036F)
	s.addRange(0x1E00, 0x1EFF)
}

func addCyrillic(s *unitSet) { s.addRange(0x0400, 0x04FF) }

func addASCII(s *unitSet, chars string) {
	for i := 0; i < len(chars); i++ {
		s.add(uint16(chars[i]))
	}
}

const (
	lowerLetters = "abcdefghijklmnopqrstuvwxyz"
	digits       = "0123456789"
)

// classes are the folded character classes of the URL pattern.
type classes struct {
	pathChar    *unitSet // validGeneralUrlPathChars
	pathEnd     *unitSet // validUrlPathEndingChars (without the parentheses)
	asciiDomain *unitSet // the label characters of validAsciiDomain
}

var urlClasses = sync.OnceValue(func() *classes {
	var path, end, ascii unitSet
	addASCII(&path, lowerLetters+digits+"!*';:=+,.$/%#[]-_~@|&")
	path.add(0x2013) // en dash
	addCyrillic(&path)
	addLatinAccents(&path)

	addASCII(&end, lowerLetters+digits+"+-=_#/")
	addCyrillic(&end)
	addLatinAccents(&end)

	addASCII(&ascii, lowerLetters+digits+"-")
	addLatinAccents(&ascii)
	return &classes{pathChar: foldedSet(&path), pathEnd: foldedSet(&end), asciiDomain: foldedSet(&ascii)}
})

func isASCIIAlnum(c uint16) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isPunct is twitter-text's punct: the ASCII punctuation that ends a domain
// label (not " nor `).
func isPunct(c uint16) bool {
	switch c {
	case '!', '\'', '#', '%', '&', '(', ')', '*', '+', ',', '\\', '-', '.', '/', ':', ';', '<', '=', '>', '?', '@', '[', ']', '^', '_', '{', '|', '}', '~', '$':
		return true
	}
	return false
}

// isSpace is twitter-text's spacesGroup.
func isSpace(c uint16) bool {
	switch {
	case c >= 0x09 && c <= 0x0D, c == 0x20, c == 0x85, c == 0xA0, c == 0x1680, c == 0x180E,
		c >= 0x2000 && c <= 0x200A, c == 0x2028, c == 0x2029, c == 0x202F, c == 0x205F, c == 0x3000:
		return true
	}
	return false
}

// isDirectional is twitter-text's directionalMarkersGroup.
func isDirectional(c uint16) bool {
	return c >= 0x202A && c <= 0x202E || c == 0x061C || c == 0x200E || c == 0x200F || c >= 0x2066 && c <= 0x2069
}

// isDomainChar is validDomainChars: anything but punctuation, spaces,
// refused characters and directional marks (so CJK, emoji halves and " are
// domain characters).
func isDomainChar(c uint16) bool {
	return !isPunct(c) && !isSpace(c) && !isInvalid(c) && !isDirectional(c)
}

// isPrecedingChar is validUrlPrecedingChars without its "^": a URL may
// follow any unit but an ASCII letter or digit, @, ＠, $, #, ＃ or a refused
// character (directional marks are allowed either way).
func isPrecedingChar(c uint16) bool {
	switch c {
	case '@', 0xFF20, '$', '#', 0xFF03:
		return false
	}
	return !isASCIIAlnum(c) && !isInvalid(c)
}

// isQueryChar and isQueryEnd are validUrlQueryChars and
// validUrlQueryEndingChars.
func isQueryChar(c uint16) bool {
	if isASCIIAlnum(c) {
		return true
	}
	switch c {
	case '!', '?', '*', '\'', '@', '(', ')', ';', ':', '&', '=', '+', '$', '/', '%', '#', '[', ']', '-', '_', '.', ',', '~', '|':
		return true
	}
	return false
}

func isQueryEnd(c uint16) bool {
	if isASCIIAlnum(c) {
		return true
	}
	switch c {
	case '-', '_', '&', '=', '#', '/':
		return true
	}
	return false
}
