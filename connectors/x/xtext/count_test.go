package xtext

import (
	"strings"
	"testing"
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

func FuzzCount(f *testing.F) {
	for _, s := range []string{"hello", "東京 https://x.com", "👨‍👩‍👧‍👦", "e\u0301", "a.com/b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Count(s)
		if n < 0 {
			t.Fatalf("Count(%q) = %d", s, n)
		}
		if s != "" && n == 0 && strings.TrimSpace(s) != "" && !strings.ContainsAny(s, "\u200d") {
			// Every visible cluster weighs at least 1 (zero-width joiners alone may combine).
			t.Logf("Count(%q) = 0", s)
		}
	})
}

func BenchmarkCount(b *testing.B) {
	s := "My train from Lisboa to Porto is 40 min late again 😡 https://example.com/status/1234567890 #fail 東京"
	for b.Loop() {
		Count(s)
	}
}
