package commands

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

func TestParseCaseID(t *testing.T) {
	for in, want := range map[string]bridge.CaseID{
		"E-42": "E-42", "e-42": "E-42", "E42": "E-42", "#E-42": "E-42", " e-0042 ": "E-42", "E-0": "E-0",
		"42": "", "E-": "", "E": "", "E--42": "", "E-4a": "", "EE-42": "", "F-42": "", "E-42x": "", "": "",
		"E-99999999999999999999": "", "E-١٢": "",
	} {
		got, ok := ParseCaseID(in, "")
		if got != want || ok != (want != "") {
			t.Errorf("ParseCaseID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if got, ok := ParseCaseID("cs-7", "CS"); !ok || got != "CS-7" {
		t.Errorf("custom prefix: %q %v", got, ok)
	}
}

func TestParsePriority(t *testing.T) {
	for in, want := range map[string]int{"low": -1, "Normal": 0, "med": 0, "HIGH": 1, "urgent": 2, "critical": 2, "5": 5, "+3": 3, "-2": -2, "100": 100} {
		if got, err := ParsePriority(in); err != nil || got != want {
			t.Errorf("ParsePriority(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "p1", "1.5", "101", "-101", "very"} {
		if _, err := ParsePriority(in); err == nil {
			t.Errorf("ParsePriority(%q) accepted", in)
		}
	}
	for p, want := range map[int]string{-1: "low", 0: "normal", 1: "high", 2: "urgent", 7: "7", -5: "-5"} {
		if got := PriorityName(p); got != want {
			t.Errorf("PriorityName(%d) = %q", p, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30m": 30 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1h30m": 90 * time.Minute, "90s": 90 * time.Second, "1D": 24 * time.Hour, "90d": 90 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{"": "give a duration", "soon": "not a duration", "0": "positive", "-1h": "positive",
		"91d": "at most 90 days", "13w": "at most 90 days", "99999999d": "not a duration", "1d-2h": "not a duration", "d": "not a duration"} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseDuration(%q) error %v, want %q", in, err, msg)
		}
	}
}

func TestParseMention(t *testing.T) {
	tests := []struct{ in, id, name string }{
		{"<@U123>", "U123", ""}, {"<@U123|ana>", "U123", "ana"}, {"<@!80351110224678912>", "80351110224678912", ""},
		{"<@80351110224678912>", "80351110224678912", ""}, {"@U123", "U123", ""}, {"U123", "U123", ""},
	}
	for _, tt := range tests {
		id, name, ok := ParseMention(tt.in)
		if !ok || id != tt.id || name != tt.name {
			t.Errorf("ParseMention(%q) = %q %q %v", tt.in, id, name, ok)
		}
	}
	for _, in := range []string{"", "<@>", "<@U 1>", "@", "<#C123>", "a/b", "<@U1|x"} {
		if _, _, ok := ParseMention(in); ok {
			t.Errorf("ParseMention(%q) accepted", in)
		}
	}
}

func TestParseTags(t *testing.T) {
	add, remove, err := ParseTags([]string{"+VIP", "-spam", "billing,#Refund", ",", "+a,-b", "+Big  Account", "##x"})
	if err != nil || !slices.Equal(add, []string{"vip", "billing", "refund", "a", "big-account", "x"}) || !slices.Equal(remove, []string{"spam", "b"}) {
		t.Fatalf("add %q remove %q err %v", add, remove, err)
	}
	for _, in := range []string{"+", "-#", strings.Repeat("x", 41)} {
		if _, _, err := ParseTags([]string{in}); err == nil {
			t.Errorf("ParseTags(%q) accepted", in)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", time.Hour: "1h", 125 * time.Minute: "2h 5m",
		48 * time.Hour: "2d", 76 * time.Hour: "3d 4h", -90 * time.Second: "1m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzArgParsers: the small parsers of staff input never panic and keep their promises.
func FuzzArgParsers(f *testing.F) {
	for _, s := range []string{"E-42", "e42", "#E-1", "1d12h", "2w", "urgent", "-3", "<@U1|a>", "<@!1>", "+vip,-x", "\xff", "9999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := ParseCaseID(s, "E"); ok {
			if again, ok2 := ParseCaseID(string(id), "E"); !ok2 || again != id {
				t.Fatalf("case id %q not canonical", id)
			}
		}
		if d, err := ParseDuration(s); err == nil && (d <= 0 || d > maxSnooze) {
			t.Fatalf("duration %q = %v out of bounds", s, d)
		}
		if p, err := ParsePriority(s); err == nil && (p < minPriority || p > maxPriority) {
			t.Fatalf("priority %q = %d out of bounds", s, p)
		}
		if id, _, ok := ParseMention(s); ok && !validUserID(id) {
			t.Fatalf("mention %q gave id %q", s, id)
		}
		add, remove, err := ParseTags([]string{s})
		if err == nil {
			for _, tg := range append(add, remove...) {
				if tg == "" || tg != normTag(tg) {
					t.Fatalf("tag %q from %q", tg, s)
				}
			}
		}
		_ = cleanText(s, 10)
	})
}

// TestListingsGolden pins the listing texts (queue, history, help) as staff read them.
func TestListingsGolden(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	queue := []bridge.CaseSummary{
		{ID: "E-43", Status: bridge.StatusNew, Queue: "support", Priority: 2, Text: "Charged twice!! @everyone <!channel> `rm -rf`", OpenedAt: now.Add(-30 * time.Minute), Due: now.Add(30 * time.Minute)},
		{ID: "E-42", Status: bridge.StatusClaimed, Queue: "support", AssigneeName: "Ana", Text: "My order never arrived and nobody answers my emails, this is the third time I am writing about the very same order", OpenedAt: now.Add(-125 * time.Minute), Due: now.Add(-5 * time.Minute)},
		{ID: "E-44", Status: bridge.StatusWaiting, Queue: "support", AssigneeName: "Bo", Priority: -1, Text: "thanks,\nwill check", OpenedAt: now.Add(-50 * time.Hour)},
		{ID: "E-45", Status: bridge.StatusEscalated, Queue: "support", Priority: 7, Text: "", OpenedAt: now.Add(-10 * time.Second)},
		{ID: "E-1", Status: bridge.StatusResolved, Queue: "support", Text: "not listed", OpenedAt: now.Add(-100 * time.Hour)},
	}
	var many []bridge.CaseSummary
	for i := range 60 {
		many = append(many, bridge.CaseSummary{ID: bridge.CaseID("E-" + strings.Repeat("1", 1+i%3)), Status: bridge.StatusNew, Text: strings.Repeat("long complaint ", 8), OpenedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	cur := bridge.CaseView{Case: bridge.Case{ID: "E-42", Customer: bridge.Author{Handle: "ana@mastodon.social"}}}
	history := []bridge.CaseSummary{
		{ID: "E-42", Status: bridge.StatusClaimed, Text: "current"},
		{ID: "E-30", Status: bridge.StatusResolved, Queue: "billing", AssigneeName: "Lee", Text: "Refund late", OpenedAt: now.Add(-200 * time.Hour), ResolvedAt: now.Add(-190 * time.Hour)},
		{ID: "E-12", Status: bridge.StatusWaiting, Queue: "support", Text: "Password reset", OpenedAt: now.Add(-3 * time.Hour)},
	}
	r, _ := setup(t)
	help := r.Run(t.Context(), text(ana, 0, "!help")).Text
	got := map[string]string{
		"queue":         FormatQueue("support", queue, now),
		"queue_empty":   FormatQueue("support", nil, now),
		"queue_long":    FormatQueue("support", many, now),
		"history":       FormatHistory(cur, history, now),
		"history_empty": FormatHistory(cur, history[:1], now),
		"help":          help,
	}
	if n := len([]rune(got["queue_long"])); n > maxListing+40 {
		t.Errorf("long queue is %d characters", n)
	}
	if !strings.HasSuffix(got["queue_long"], "more") {
		t.Errorf("long queue not cut: %q", got["queue_long"][len(got["queue_long"])-40:])
	}
	path := filepath.Join("testdata", "listings.golden.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for k, v := range got {
		if want[k] != v {
			t.Errorf("%s differs from golden:\n got: %s\nwant: %s", k, v, want[k])
		}
	}
}
