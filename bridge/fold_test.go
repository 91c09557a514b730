package bridge

import (
	"strings"
	"testing"
)

// The canonical form the rules compare: every way a person writes a note
// prefix reads as the prefix; ordinary replies keep their words.
func TestFold(t *testing.T) {
	cases := []struct{ in, want string }{
		{"note: x", "note: x"},
		{"NOTE: x", "note: x"},
		{"NOTE : ops says", "note: ops says"},          // space before the colon
		{"note\u00a0:\u3000x", "note: x"},              // no-break and ideographic spaces
		{"note：check", "note:check"},                   // fullwidth colon
		{"ｎｏｔｅ: x", "note: x"},                         // fullwidth letters
		{"𝐍𝐨𝐭𝐞: x", "note: x"},                         // mathematical bold
		{"ɴᴏᴛᴇ: x", "note: x"},                         // small capitals
		{"nоte: x", "note: x"},                         // Cyrillic о
		{"NОТЕ: x", "note: x"},                         // Cyrillic О, Т, Е
		{"note꞉ x", "note: x"},                         // modifier letter colon
		{"\u200bnote: x", "note: x"},                   // zero-width space before
		{"\u2060\ufeffnote: x", "note: x"},             // word joiner, BOM
		{"n\u200bo\u200dte: x", "note: x"},             // zero-width inside
		{"n\u0336o\u0336t\u0336e\u0336: x", "note: x"}, // combining strokes
		{"*note:* check the log", "note:* check the log"},
		{"**note:** x", "note:** x"},
		{"_note:_ x", "note:_ x"},
		{"~note:~ x", "note:~ x"},
		{"`note:` x", "note:` x"},
		{"```\nnote: x\n```", "note: x ```"},
		{"> note: x", "note: x"},
		{">>> note: x", "note: x"},
		{"> > note: x", "note: x"},
		{"||note:|| x", "note:|| x"},
		{"# note: x", "note: x"},
		{"-# note: x", "note: x"},
		{"- note: x", "note: x"},
		{"• note: x", "note: x"},
		{"“note: x”", "note: x”"},
		{"(note: x)", "note: x)"},
		{"\n\n  note: x", "note: x"},
		{"\tNote:x", "note:x"},
		{"／/ internal", "// internal"},
		{"∕∕ internal", "// internal"},
		{"！claim", "!claim"},
		{"ǃclaim", "!claim"},
		{"Hi Ana, sorry!", "hi ana, sorry!"},
		{"We're on it .", "we're on it."},
		{"Straße", "strasse"},
		{"   ", ""},
		{"\u200b\u2060\u200b", ""},
		{"ㅤ", ""},            // Hangul filler
		{"\u2800\u2800", ""}, // braille blanks
		{"a\n\n b", "a b"},
	}
	for _, c := range cases {
		if got := fold(c.in); got != c.want {
			t.Errorf("fold(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestHasFoldedPrefix(t *testing.T) {
	for _, c := range []struct {
		text, prefix string
		want         bool
	}{
		{"NOTE : ops says", "note:", true},
		{"*note:* check the log", "note:", true},
		{"> note: x", "Note:", true},
		{"note - x", "note:", false},
		{"notes: x", "note:", false},
		{"Please note: the store opens at 9", "note:", false},
		{"x", "\u200b", false}, // a prefix that folds to nothing matches nothing
		{"# x", "#", true},     // a prefix of marks matches what it says
		{"#x", "#", true},
		{"**x**", "#", false},
		{"// x", "//", true},
		{"/ / x", "//", true}, // a space before punctuation does not count: when in doubt, a note
		{"#internal x", "#internal", true},
		{"internal x", "#internal", true}, // prefixes fold the same way
	} {
		if got := hasFoldedPrefix(c.text, c.prefix); got != c.want {
			t.Errorf("hasFoldedPrefix(%q, %q) = %v, want %v", c.text, c.prefix, got, c.want)
		}
	}
}

// cutFolded gives the rest as typed, so a command's text keeps its form.
func TestCutFolded(t *testing.T) {
	for _, c := range []struct {
		text, prefix, rest string
		ok                 bool
	}{
		{"!claim", "!", "claim", true},
		{"  ！Reply ½ off ｔｏｄａｙ", "!", "Reply ½ off ｔｏｄａｙ", true},
		{"**!reply** Thanks", "!reply", "** Thanks", true},
		{"\u200b!reply x", "!reply", " x", true},
		{"!REPLY x", "!reply", " x", true},
		{"reply", "!", "", false},
		{"Hi!", "!", "", false},
	} {
		rest, ok := cutFolded(c.text, c.prefix)
		if rest != c.rest || ok != c.ok {
			t.Errorf("cutFolded(%q, %q) = %q, %v; want %q, %v", c.text, c.prefix, rest, ok, c.rest, c.ok)
		}
	}
}

func TestVisible(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"", false}, {" \n\t", false}, {"\u200b", false}, {"\u2060\u200b\u200d", false},
		{"\u3164", false}, {"\u2800", false}, {"\u0301", false}, {"\ufe0f", false},
		{".", true}, {"ok", true}, {"👍", true}, {"\u200bhi", true},
	} {
		if got := visible(c.text); got != c.want {
			t.Errorf("visible(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestOtherAccounts(t *testing.T) {
	ana := Author{Handle: "ana@mastodon.social"}
	for _, c := range []struct {
		text string
		want string
	}{
		{"cc @someone", "@someone"},
		{"thanks @ana", ""},
		{"@ana@mastodon.social thanks", ""},
		{"ask @bob@example.org.", "@bob@example.org"},
		{"mail ops@example.com", ""},
		{"see https://mastodon.social/@bob", ""},
		{"meet at 5 @ the desk", ""},
		{"(@carla) and @dan_x", "@carla @dan_x"},
	} {
		if got := strings.Join(otherAccounts(c.text, ana), " "); got != c.want {
			t.Errorf("otherAccounts(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

// A prefix of invisible characters would match nothing: the config says so.
func TestConfigRefusesInvisiblePrefixes(t *testing.T) {
	c := Config{Queues: []QueueConfig{{Name: "q", Desk: "d", Channel: "C"}}, NotePrefixes: []string{"note:", "\u200b\u2060"}, CommandPrefix: "\ufeff"}
	var msgs []string
	for _, err := range c.Validate() {
		msgs = append(msgs, err.Error())
	}
	got := strings.Join(msgs, "\n")
	if !strings.Contains(got, "note_prefixes[1]") || !strings.Contains(got, "command_prefix") {
		t.Errorf("Validate: %s", got)
	}
	c.NotePrefixes, c.CommandPrefix = []string{"#", "> internal"}, "!"
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("prefixes of marks refused: %v", errs)
	}
}
