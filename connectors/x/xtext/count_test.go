package xtext

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestCount(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "hello", 5},
		{"ascii limit", strings.Repeat("a", 280), 280},
		{"latin accents precomposed", "café crème", 10},
		{"accents decomposed are normalized first", "cafe\u0301", 4},
		{"latin-1 and cyrillic weigh 1", "ñandú Привет", 12},
		{"cjk weighs 2", "東京駅", 6},
		{"hangul weighs 2", "안녕", 4},
		{"japanese mixed", "遅延 delay", 10},
		{"quotes and dashes weigh 1, the ellipsis U+2026 is outside the ranges", "“quoted” — ok…", 15},
		{"single emoji", "😀", 2},
		{"emoji with skin tone", "👍🏽", 2},
		{"zwj family", "👨‍👩‍👧‍👦", 2},
		{"flag", "🇵🇹", 2},
		{"keycap", "1️⃣", 2},
		{"coffee dingbat", "☕", 2},
		{"text and emoji", "late again 😡😡", 15},
		{"url counts 23", "see https://example.com/a/very/long/path/that/goes/on/and/on?x=1", 4 + 23},
		{"short url counts 23", "http://a.co", 23},
		{"bare domain counts 23", "go to example.com now", 6 + 23 + 4},
		{"trailing punctuation not in url", "(https://x.com/a).", 1 + 23 + 2},
		{"two urls", "https://a.io https://b.io", 23 + 1 + 23},
		{"email is not a url", "ana@example.com", 15},
		{"handle is not a url", "@ana", 4},
	}
	for _, c := range cases {
		if got := Count(c.in); got != c.want {
			t.Errorf("%s: Count(%q) = %d, want %d", c.name, c.in, got, c.want)
		}
	}
}

// TestIssue15Finding7 holds the examples of issue #15, finding 7: each was
// counted differently from X before the port.
func TestIssue15Finding7(t *testing.T) {
	cjk := strings.Repeat("漢", 167)
	cases := []struct {
		name  string
		in    string
		want  int
		valid bool
	}{
		// The old URL pattern ran on to the next space: the whole text was one
		// URL (23) and passed, X counts the CJK after the path (357) and
		// refuses it.
		{"URL path stops at CJK", "https://example.com/" + cjk, 23 + 2*167, false},
		{"a short ccTLD (.so) is a TLD", "it.so", 23, true},
		{"a ccTLD from the full list (.ly)", "see bit.ly/abc now", 4 + 23 + 4, true},
		{"a gTLD from the full list (.community)", "go to foo.community", 6 + 23, true},
		{"no URL right after $", "$t.co", 5, true},
		{"no URL right after @", "@t.co", 5, true},
		{"a latin accent belongs to the domain", "ELPAÍS.com", 23, true},
		{"CJK glued before a domain is not part of it", "日本example.com", 4 + 23, true},
		{"directional marks after a URL are not in it", "see https://example.com/\u202C\u2069", 4 + 23 + 2 + 2, true},
		{"directional marks around an IDN URL", "\u2066\u202Ahttp://foobar.پاکستان/\u202C\u2069", 31, true},
		{"U+FFFE is refused", "ok\uFFFE", 4, false},
		{"U+FFFF is refused", "ok\uFFFF", 4, false},
		{"U+FEFF is refused", "\uFEFFok", 4, false},
		{"a t.co slug over 40 characters is no URL", "http://t.co/" + strings.Repeat("a", 41), 12 + 41, true},
		{"a label over 63 characters is no URL", strings.Repeat("a", 64) + ".com", 68, true},
		{"emoji sequences count 2 each", "👨\u200d👩\u200d👧\u200d👦🇵🇹1\uFE0F\u20E3", 6, true},
		{"a text emoji before U+FE0E is two characters", "☺\uFE0E", 4, true},
		{"280 is allowed", strings.Repeat("a", 280), 280, true},
		{"281 is not", strings.Repeat("a", 281), 281, false},
		{"empty is not valid", "", 0, false},
	}
	for _, c := range cases {
		got := Parse(c.in)
		if got.WeightedLength != c.want || got.Valid != c.valid {
			t.Errorf("%s: Parse(%.60q) = %d valid %v, X: %d valid %v", c.name, c.in, got.WeightedLength, got.Valid, c.want, c.valid)
		}
	}
	if r := Parse("ab\uFFFFc\uFFFE").Refused; r != 0xFFFF {
		t.Errorf("Refused = %U, want the first refused character U+FFFF", r)
	}
}

// FuzzCount checks what must hold of any text: no panic; the length is 0
// exactly for the empty text and at most 23 per UTF-16 unit (each step of
// the count takes at least one unit and adds at most a URL's 23); a refused
// character is reported exactly when the text holds one (neither a URL nor
// an emoji can hold one); Valid is twitter-text's rule; and " a" at the end
// adds exactly 2 (a space ends every URL and emoji, and a lone letter starts
// none).
func FuzzCount(f *testing.F) {
	for _, s := range []string{
		"hello", "東京 https://x.com", "👨\u200d👩\u200d👧\u200d👦", "e\u0301", "a.com/b.", "$t.co", "ELPAÍS.com",
		"https://example.com/漢漢", "\u2066\u202Ahttp://foobar.پاکستان/\u202C\u2069", "ok\uFFFE", "it.so",
		"http://en.wikipedia.org/wiki/Primer_(film)", "xn--ls8h.la", "😀example.com", "☺\uFE0E", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := Parse(s)
		n := r.WeightedLength
		units := len(utf16.Encode([]rune(validUTF8(s))))
		if (n == 0) != (s == "") || n < 0 {
			t.Fatalf("Parse(%q) = %d", s, n)
		}
		if nfcUnits := len(newText(s).u); n > 23*nfcUnits {
			t.Fatalf("Parse(%q) = %d, more than 23 for each of %d units (%d before NFC)", s, n, nfcUnits, units)
		}
		refused := strings.ContainsAny(validUTF8(s), "\uFFFE\uFEFF\uFFFF")
		if (r.Refused != 0) != refused {
			t.Fatalf("Parse(%q).Refused = %U, text holds a refused character: %v", s, r.Refused, refused)
		}
		if r.Valid != (!refused && n > 0 && n <= Max) {
			t.Fatalf("Parse(%q) = %+v: Valid is wrong", s, r)
		}
		if utf8.ValidString(s) {
			if m := Count(s + " a"); m != n+2 {
				t.Fatalf("Count(%q + \" a\") = %d, Count = %d", s, m, n)
			}
		}
	})
}
