package commands

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "   \t\n ", want: nil},
		{in: "claim", want: []string{"claim"}},
		{in: "  escalate   billing  ", want: []string{"escalate", "billing"}},
		{in: `billing "VIP, 40k followers"`, want: []string{"billing", "VIP, 40k followers"}},
		{in: `billing 'VIP, 40k'`, want: []string{"billing", "VIP, 40k"}},
		{in: `a "" b`, want: []string{"a", "", "b"}},
		{in: `"a"'b'c`, want: []string{"abc"}},
		{in: `customer's refund`, want: []string{"customer's", "refund"}},
		{in: `say "it's fine"`, want: []string{"say", "it's fine"}},
		{in: `say 'it\'s fine'`, want: []string{"say", "it's fine"}},
		{in: `'a\b'`, want: []string{`a\b`}},
		{in: `"a\"b\\c"`, want: []string{`a"b\c`}},
		{in: `a\ b c`, want: []string{"a b", "c"}},
		{in: `\"quoted\"`, want: []string{`"quoted"`}},
		{in: `trailing\`, want: []string{`trailing\`}},
		{in: `mid"quote is" literal`, want: []string{`mid"quote`, `is"`, "literal"}},
		{in: "“curly quotes” work", want: []string{"curly quotes", "work"}},
		{in: "‘single curly’", want: []string{"single curly"}},
		{in: "“mixed close\"", want: []string{"mixed close"}},
		{in: "«guillemets ok»", want: []string{"guillemets ok"}},
		{in: "no\u00a0break\u3000ideographic\u2003em", want: []string{"no", "break", "ideographic", "em"}},
		{in: "zero\u200bwidth\u2060joiner", want: []string{"zero", "width", "joiner"}},
		{in: "multi\nline\r\ntext", want: []string{"multi", "line", "text"}},
		{in: `"keeps
newlines"`, want: []string{"keeps\nnewlines"}},
		{in: "émoji 🎉 \"ünï cödé\"", want: []string{"émoji", "🎉", "ünï cödé"}},
		{in: "bad\xffbyte", want: []string{"bad\xffbyte"}},
		{in: `"open`, err: `the " quote at character 1 is never closed`},
		{in: `a 'b c`, err: `the ' quote at character 3 is never closed`},
		{in: "x “open", err: "the “ quote at character 3 is never closed"},
		{in: `"a\"`, err: "never closed"},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Split(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitLenientAndSkip(t *testing.T) {
	if got := splitLenient(`she's 'VIP now`); !slices.Equal(got, []string{"she's", "'VIP", "now"}) {
		t.Errorf("lenient %q", got)
	}
	rest, ok := skipTokens("  E-42   billing \"x y\"  ", 1)
	if !ok || rest != `billing "x y"` {
		t.Errorf("skip %q %v", rest, ok)
	}
	if _, ok := skipTokens("one", 2); ok {
		t.Error("skipped past the end")
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	args := []string{"", "plain", "two words", `back\slash`, `"quoted"`, "'single", "“curly", "it's", "tab\there", "nbsp\u00a0x", "zw\u200bsp", "a\"b", "\xff"}
	got, err := Split(Join(args))
	if err != nil || !slices.Equal(got, args) {
		t.Fatalf("round trip %q -> %q -> %q, %v", args, Join(args), got, err)
	}
}

// FuzzSplit: Split never panics; what it returns survives Join and Split
// again; text without quotes or backslashes always splits like strings.FieldsFunc.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a b", `"a b" c`, `'x'`, `a\ b`, "“x”", "«x»", `"unclosed`, "it's", "\u200b", `\`, "a\xffb", `"a\"b"`, `'a\'b'`, `""''`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := Split(s)
		lenient := splitLenient(s)
		if err != nil {
			if !strings.Contains(err.Error(), "never closed") {
				t.Fatalf("unexpected error %v", err)
			}
			if len(lenient) == 0 && strings.TrimFunc(s, isSep) != "" {
				t.Fatalf("lenient split lost everything of %q", s)
			}
			return
		}
		if !slices.Equal(toks, lenient) {
			t.Fatalf("lenient %q differs from strict %q", lenient, toks)
		}
		again, err := Split(Join(toks))
		if err != nil || !slices.Equal(again, toks) {
			t.Fatalf("round trip of %q: %q -> %q (%v)", s, Join(toks), again, err)
		}
		if !strings.ContainsAny(s, "\"'“‘«\\") {
			want := strings.FieldsFunc(s, isSep)
			if !slices.Equal(toks, want) && !(len(toks) == 0 && len(want) == 0) {
				t.Fatalf("plain %q: %q, want %q", s, toks, want)
			}
		}
		if utf8.ValidString(s) {
			for _, tok := range toks {
				if !utf8.ValidString(tok) {
					t.Fatalf("valid input %q gave invalid token %q", s, tok)
				}
			}
		}
		// Skipping any number of tokens never fails on text Split accepts.
		for _, n := range []int{0, 1, len(toks) / 2, len(toks)} {
			if _, ok := skipTokens(s, min(n, len(toks))); !ok {
				t.Fatalf("skipTokens(%q, %d) failed", s, n)
			}
		}
	})
}

var sinkArgs []string

func BenchmarkSplitPlain(b *testing.B) {
	s := "escalate E-1042 billing customer was charged twice for the same order"
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		sinkArgs, _ = Split(s)
	}
}

func BenchmarkSplitQuoted(b *testing.B) {
	s := `escalate E-1042 billing "VIP, 40k followers" 'it\'s urgent' “curly bit” a\ b`
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		sinkArgs, _ = Split(s)
	}
}

func BenchmarkSplitLong(b *testing.B) {
	s := strings.Repeat(`word "two words" `, 200)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		sinkArgs, _ = Split(s)
	}
}
