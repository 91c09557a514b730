package bridge

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// fold.go is the canonical form the public-speech rules compare: what a
// person reads, not the bytes. A staff message whose folded form starts
// with a folded note prefix is a note, one that starts with the folded
// command prefix is a command. Folding is for classification only: what
// is published is the desk's plain text, never the folded one.
//
// Folding, in order:
//
//  1. Unicode NFKC, then full case folding, then NFKC again: fullwidth,
//     mathematical and other compatibility forms become their plain
//     letters ("ｎｏｔｅ：" and "𝐍𝐨𝐭𝐞:" read "note:"), and case does not matter.
//  2. Common look-alikes become the Latin letter or sign they imitate:
//     Cyrillic and Greek letters ("nоte" with a Cyrillic о), small
//     capitals ("ɴᴏᴛᴇ"), and colon, slash, asterisk and exclamation look-alikes.
//  3. Invisible characters go: format characters (category Cf: zero-width
//     space, joiners, word joiner, bidi marks, soft hyphen, tags), other
//     default-ignorable code points (Hangul fillers, variation
//     selectors, the braille blank), control characters, and combining
//     marks (NFKC has already put those it could on their letters).
//  4. Any run of Unicode spaces and line breaks is one space; spaces at
//     the end go, and so do spaces before punctuation ("NOTE : x" reads
//     "note: x").
//  5. At the start, desk formatting and quoting go, however nested:
//     spaces, emphasis and code marks (* _ ~ `), spoiler bars (|), quotes
//     (> and quotation marks), headings and list marks (# - •) and
//     opening brackets ("> **note:** x" and "`note:`" read "note: ...").
//
// Prefixes are folded the same way, so a configured prefix matches
// however it is typed. A prefix that is itself made of such marks ("#",
// ">>") is also compared with the text folded without step 5, so it still
// matches what it says.

// fold returns text as the public-speech rules compare it.
func fold(text string) string { return foldWith(text, false) }

// foldKeepingMarks is fold without step 5: the leading marks stay.
func foldKeepingMarks(text string) string { return foldWith(text, true) }

func foldWith(text string, keepMarks bool) string {
	var b strings.Builder
	f := folder{out: &b, keepMarks: keepMarks}
	for _, r := range foldCase(text) {
		f.add(r)
	}
	return b.String()
}

// foldCase is NFKC, case folding, NFKC.
func foldCase(s string) string {
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s) // a Caser holds state: one per call
	return norm.NFKC.String(s)
}

// folder turns runes (already NFKC and case-folded) into the folded form.
type folder struct {
	out       *strings.Builder
	keepMarks bool // keep the leading formatting (step 5 off)
	started   bool // past the leading formatting
	space     bool // a space is pending
}

func (f *folder) add(r rune) {
	if c, ok := lookalikes[r]; ok {
		r = c
	}
	switch {
	case invisible(r):
		return
	case isSpace(r):
		f.space = true
		return
	case !f.started && !f.keepMarks && isLeadingMark(r):
		f.space = false
		return
	}
	if f.space && f.started && !unicode.IsPunct(r) {
		f.out.WriteByte(' ')
	}
	f.space, f.started = false, true
	f.out.WriteRune(r)
}

// hasFoldedPrefix reports whether text, folded, starts with prefix,
// folded; or, both folded keeping their leading marks, the one with the
// other. A prefix that folds to nothing matches nothing.
func hasFoldedPrefix(text, prefix string) bool {
	for _, keep := range []bool{false, true} {
		if p := foldWith(prefix, keep); p != "" && strings.HasPrefix(foldWith(text, keep), p) {
			return true
		}
	}
	return false
}

// cutFolded returns what follows prefix in text, as typed, when
// hasFoldedPrefix holds: "**!Reply** thanks" cut at "!reply" gives
// "** thanks". It finds the place rune by rune; where the whole text folds
// differently than its runes one by one (a combining sequence across the
// prefix), it gives the rest of the folded text instead.
func cutFolded(text, prefix string) (rest string, ok bool) {
	for _, keep := range []bool{false, true} {
		p := foldWith(prefix, keep)
		if p == "" {
			continue
		}
		whole := foldWith(text, keep)
		if !strings.HasPrefix(whole, p) {
			continue
		}
		if rest, ok := cutAt(text, p, keep); ok {
			return rest, true
		}
		return whole[len(p):], true
	}
	return "", false
}

// cutAt finds where text, folded rune by rune, has given folded prefix p,
// and returns what follows as typed.
func cutAt(text, p string, keepMarks bool) (string, bool) {
	var b strings.Builder
	f := folder{out: &b, keepMarks: keepMarks}
	for i, r := range text {
		for _, fr := range foldCase(string(r)) {
			f.add(fr)
		}
		got := b.String()
		if got == p {
			return text[i+utf8.RuneLen(r):], true
		}
		if len(got) >= len(p) {
			return "", false // the rune folds to more than the prefix needs
		}
	}
	return "", false
}

// visible reports whether text shows anything: a character that is not a
// space, not invisible (see fold) and not a lone combining mark.
func visible(text string) bool {
	for _, r := range text {
		if !invisible(r) && !isSpace(r) && !unicode.In(r, unicode.Mn, unicode.Me) {
			return true
		}
	}
	return false
}

// isSpace reports Unicode spaces and line breaks.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029'
}

// invisible reports characters that show nothing: format characters (Cf),
// other default-ignorable code points, variation selectors, the braille
// blank, controls that are not spaces, and combining marks (which NFKC
// has already put on their letter where it could).
func invisible(r rune) bool {
	switch {
	case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r):
		return true
	case r == '\u2800' || r == '\u180e' || r == '\u034f':
		return true
	case unicode.Is(unicode.Cc, r) && !unicode.IsSpace(r):
		return true
	case unicode.In(r, unicode.Mn, unicode.Me):
		return true
	}
	return false
}

// isLeadingMark reports the formatting and quoting marks that fold drops
// at the start of a message.
func isLeadingMark(r rune) bool {
	return strings.ContainsRune("*_~`|>#-•◦‣·\"'“”‘’«»„‚‹›([{", r)
}

// lookalikes maps characters (after case folding) to the Latin letter or
// ASCII sign they are mistaken for.
var lookalikes = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c',
	'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ї': 'i', 'ј': 'j', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w',
	'һ': 'h', 'ӏ': 'l', 'ո': 'n', 'ս': 'u',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'ζ': 'z', 'η': 'n', 'ι': 'i', 'κ': 'k', 'μ': 'm', 'ν': 'v', 'ο': 'o',
	'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ϲ': 'c',
	// Latin small capitals and dotless letters
	'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ꜰ': 'f', 'ɢ': 'g', 'ʜ': 'h', 'ɪ': 'i', 'ᴊ': 'j',
	'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r', 'ꜱ': 's', 'ᴛ': 't', 'ᴜ': 'u',
	'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z', 'ı': 'i', 'ȷ': 'j', 'ɑ': 'a', 'ɡ': 'g',
	// Signs
	'꞉': ':', '∶': ':', 'ː': ':', '׃': ':', '։': ':', '፡': ':', '˸': ':',
	'∕': '/', '⁄': '/', '⧸': '/', '╱': '/',
	'∗': '*', '⁎': '*', '٭': '*',
	'ǃ': '!', 'ⵑ': '!',
}
