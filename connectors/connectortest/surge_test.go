package connectortest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// failures is a testing.TB that records what would fail the test.
type failures struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *failures) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }

// run runs check against a recording TB and returns what it reported.
func run(t *testing.T, check func(tb testing.TB)) string {
	f := &failures{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); check(f) }()
	<-done
	return strings.Join(f.msgs, "\n")
}

func TestCheckSurgeOrder(t *testing.T) {
	ids := func(nums ...int) []string {
		var out []string
		for _, n := range nums {
			out = append(out, fmt.Sprintf("E-%d", n))
		}
		return out
	}
	for _, c := range []struct {
		name  string
		order []string
		want  string // "" for no failure
	}{
		{"urgent first", ids(1, 4, 5, 2, 3), ""},
		{"urgent last", ids(1, 2, 4, 3, 5), "the last urgent card landed at 4, after the last ordinary one (3)"},
		{"twice", ids(1, 4, 5, 2, 2), "card E-2 posted twice"},
		{"lost", ids(1, 4, 5, 2), "4 cards landed, want 5"},
	} {
		if got := run(t, func(tb testing.TB) { CheckSurgeOrder(tb, c.order, 5, 2, "card") }); !strings.Contains(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("%s: CheckSurgeOrder reported %q, want %q", c.name, got, c.want)
		}
	}
}
