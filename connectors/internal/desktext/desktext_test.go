package desktext

import "testing"

func TestLink(t *testing.T) {
	for _, c := range []struct{ target, label, want string }{
		{"https://status.example.com/fix", "", "https://status.example.com/fix"},
		{"https://status.example.com/fix", "the fix", "the fix (https://status.example.com/fix)"},
		{"http://example.com", "example.com", "example.com"},
		{"https://example.com/", "https://example.com", "https://example.com"},
		{"mailto:ops@example.com", "ops@example.com", "ops@example.com"},
		{"mailto:ops@example.com", "write to ops", "write to ops (ops@example.com)"},
		{"https://evil.example", "https://good.example", "https://evil.example"},
		{"https://evil.example", "good.example", "https://evil.example"},
		{"https://evil.example", "help@good.example", "https://evil.example"},
		{"https://x.example", "v1.2", "v1.2 (https://x.example)"},
	} {
		if got := Link(c.target, c.label); got != c.want {
			t.Errorf("Link(%q, %q) = %q, want %q", c.target, c.label, got, c.want)
		}
	}
}
