package commands

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	ana      = bridge.Staff{Desk: "slack", ID: "UAGENT", Name: "Ana"}
	bo       = bridge.Staff{Desk: "slack", ID: "UAGENT2", Name: "Bo"}
	lee      = bridge.Staff{Desk: "slack", ID: "ULEAD", Name: "Lee"}
	stranger = bridge.Staff{Desk: "slack", ID: "UXXX", Name: "Xi"}
)

// setup returns a registry over a fake with three cases in support:
// E-42 (thread T42, normal), E-43 (thread T43, urgent), E-7 (resolved, same customer as E-42).
func setup(t *testing.T) (*Registry, *fakeCases) {
	t.Helper()
	return setupQuiet()
}

func setupQuiet() (*Registry, *fakeCases) {
	f := newFake()
	f.add(42, "support", "ana@mastodon.social", "My order never arrived and nobody answers", 0, 2*time.Hour)
	f.add(43, "support", "bob@bsky.social", "Charged twice @everyone <!channel>", 2, 30*time.Minute)
	f.add(7, "support", "ana@mastodon.social", "Login broken", 0, 72*time.Hour)
	f.cases["E-7"].Status = bridge.StatusResolved
	f.cases["E-7"].ResolvedAt = f.now.Add(-48 * time.Hour)
	r := New(f, Options{Now: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return r, f
}

// text builds the invocation the bridge makes of "!verb rest" typed in thread n
// (0: in the queue channel, outside any thread).
func text(by bridge.Staff, n int, line string) bridge.Invocation {
	verb, rest, _ := strings.Cut(strings.TrimPrefix(line, "!"), " ")
	inv := bridge.Invocation{Desk: "slack", Source: bridge.SourceText, Staff: by, Channel: "CSUP", Name: verb, Raw: rest}
	inv.Args, _ = Split(rest)
	if n > 0 {
		inv.Thread = thread(n)
	}
	return inv
}

func run(t *testing.T, r *Registry, inv bridge.Invocation) bridge.Response {
	t.Helper()
	return r.Run(context.Background(), inv)
}

// ok asserts a successful command and returns its text.
func ok(t *testing.T, res bridge.Response, command string) string {
	t.Helper()
	if !res.OK || res.Failed || res.Command != command {
		t.Fatalf("want ok %s, got %+v", command, res)
	}
	return res.Text
}

// refused asserts a private refusal mentioning every want.
func refused(t *testing.T, res bridge.Response, command string, want ...string) {
	t.Helper()
	if res.OK || res.Failed || !res.Private || res.Command != command {
		t.Fatalf("want private refusal of %s, got %+v", command, res)
	}
	for _, w := range want {
		if !strings.Contains(res.Text, w) {
			t.Errorf("refusal %q does not mention %q", res.Text, w)
		}
	}
}

func TestTableIsSound(t *testing.T) {
	seen := map[string]string{}
	for _, c := range table() {
		if c.Name == "" || c.Help == "" || c.Verb == "" || c.Handler == nil {
			t.Errorf("%q: missing name, help, verb or handler", c.Name)
		}
		if !strings.HasPrefix(c.Usage, c.Name) {
			t.Errorf("%s: usage %q does not start with the name", c.Name, c.Usage)
		}
		if c.MaxArgs >= 0 && c.MaxArgs < c.MinArgs {
			t.Errorf("%s: max args below min args", c.Name)
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if prev, dup := seen[n]; dup {
				t.Errorf("name %q used by %s and %s", n, prev, c.Name)
			}
			seen[n] = c.Name
		}
	}
}

func TestClaim(t *testing.T) {
	t.Run("in thread", func(t *testing.T) {
		r, f := setup(t)
		got := ok(t, run(t, r, text(ana, 42, "!claim")), "claim")
		if !strings.Contains(got, "E-42") || f.cases["E-42"].Assignee != ana.Key() {
			t.Fatalf("answer %q, case %+v", got, f.cases["E-42"].Case)
		}
	})
	for _, id := range []string{"E-42", "e-42", "E42", "#E-42", "e42"} {
		t.Run("by id "+id, func(t *testing.T) {
			r, f := setup(t)
			ok(t, run(t, r, text(ana, 0, "!claim "+id)), "claim")
			if f.cases["E-42"].Assignee != ana.Key() {
				t.Fatal("not claimed")
			}
		})
	}
	t.Run("next in channel takes the most urgent", func(t *testing.T) {
		r, f := setup(t)
		got := ok(t, run(t, r, text(ana, 0, "!claim")), "claim")
		if !strings.Contains(got, "E-43") || f.cases["E-43"].Assignee != ana.Key() {
			t.Fatalf("answer %q", got)
		}
		if strings.Contains(got, "@everyone") || strings.Contains(got, "<!channel>") {
			t.Errorf("customer text pings people: %q", got)
		}
		ok(t, run(t, r, text(bo, 0, "!claim next")), "claim")
		if f.cases["E-42"].Assignee != bo.Key() {
			t.Fatal("second next did not take E-42")
		}
		refused(t, run(t, r, text(bo, 0, "!claim")), "claim", "Nothing is waiting")
	})
	t.Run("explicit id in another case's thread wins", func(t *testing.T) {
		r, f := setup(t)
		ok(t, run(t, r, text(ana, 42, "!claim E-43")), "claim")
		if f.cases["E-43"].Assignee != ana.Key() || f.cases["E-42"].Assignee != "" {
			t.Fatal("wrong case claimed")
		}
	})
	t.Run("same id in its own thread is dropped", func(t *testing.T) {
		r, f := setup(t)
		ok(t, run(t, r, text(ana, 42, "!claim e42")), "claim")
		if f.cases["E-42"].Assignee != ana.Key() {
			t.Fatal("not claimed")
		}
	})
	t.Run("a case forgotten under the retention says so", func(t *testing.T) {
		r, f := setup(t)
		f.gone = map[bridge.CaseID]bool{"E-5": true}
		refused(t, run(t, r, text(ana, 0, "!claim e-5")), "claim", "Case E-5 was resolved long enough ago to be forgotten")
	})
	t.Run("refusals", func(t *testing.T) {
		r, _ := setup(t)
		ok(t, run(t, r, text(ana, 42, "!claim")), "claim")
		refused(t, run(t, r, text(bo, 42, "!claim")), "claim", "already claimed by Ana")
		refused(t, run(t, r, text(ana, 42, "!claim")), "claim", "already have E-42")
		refused(t, run(t, r, text(ana, 0, "!claim E-999")), "claim", "no case E-999")
		refused(t, run(t, r, text(ana, 0, "!claim soon")), "claim", `"soon" is not a case id`)
		refused(t, run(t, r, text(ana, 7, "!claim")), "claim", "resolved")
		inv := text(ana, 0, "!claim")
		inv.Channel = "CRANDOM"
		refused(t, run(t, r, inv), "claim", "no queue", "claim E-42")
		refused(t, run(t, r, text(stranger, 42, "!claim")), "claim", "Only staff")
	})
	t.Run("alias and button", func(t *testing.T) {
		r, f := setup(t)
		inv := bridge.Invocation{Desk: "slack", Source: bridge.SourceButton, Staff: bo, Channel: "CSUP", Thread: thread(43), Name: "take"}
		ok(t, run(t, r, inv), "claim")
		if f.cases["E-43"].Assignee != bo.Key() {
			t.Fatal("button claim did not claim")
		}
	})
}

// TestClaimRace: 50 staff press Claim on one case at once; exactly one wins
// and every other gets a clear refusal naming the winner.
func TestClaimRace(t *testing.T) {
	r, f := setup(t)
	const n = 50
	for i := range n {
		f.roles[fmt.Sprintf("slack:U%d", i)] = bridge.RoleAgent
	}
	var wg sync.WaitGroup
	res := make([]bridge.Response, n)
	for i := range n {
		wg.Go(func() {
			by := bridge.Staff{Desk: "slack", ID: fmt.Sprintf("U%d", i), Name: fmt.Sprintf("Agent %d", i)}
			res[i] = r.Run(context.Background(), text(by, 42, "!claim"))
		})
	}
	wg.Wait()
	winners := 0
	for _, x := range res {
		if x.OK {
			winners++
			continue
		}
		if x.Failed || !x.Private || !strings.Contains(x.Text, "already claimed by Agent") {
			t.Errorf("loser got %+v", x)
		}
	}
	if winners != 1 {
		t.Fatalf("%d winners", winners)
	}
}

func TestRelease(t *testing.T) {
	r, f := setup(t)
	ok(t, run(t, r, text(ana, 42, "!claim")), "claim")
	refused(t, run(t, r, text(bo, 42, "!release")), "release", "claimed by Ana", "not you")
	refused(t, run(t, r, text(bo, 42, "!release force")), "release", "Only leads")
	refused(t, run(t, r, text(lee, 42, "!release")), "release", "release E-42 force")
	refused(t, run(t, r, text(ana, 42, "!release now")), "release", "Usage")
	ok(t, run(t, r, text(lee, 42, "!release --force")), "release")
	if f.cases["E-42"].Assignee != "" {
		t.Fatal("force release did not release")
	}
	ok(t, run(t, r, text(ana, 42, "!claim")), "claim")
	got := ok(t, run(t, r, text(ana, 0, "!unclaim E-42")), "release")
	if !strings.Contains(got, "support") {
		t.Errorf("answer %q", got)
	}
	refused(t, run(t, r, text(ana, 42, "!release")), "release", "not claimed")
}

func TestAssign(t *testing.T) {
	for _, who := range []string{"<@UAGENT2>", "<@UAGENT2|bo>", "UAGENT2", "@UAGENT2"} {
		t.Run(who, func(t *testing.T) {
			r, f := setup(t)
			ok(t, run(t, r, text(lee, 42, "!assign "+who)), "assign")
			if f.cases["E-42"].Assignee != bo.Key() {
				t.Fatalf("assigned to %q", f.cases["E-42"].Assignee)
			}
		})
	}
	r, _ := setup(t)
	refused(t, run(t, r, text(ana, 42, "!assign UAGENT2")), "assign", "Only leads can assign cases")
	refused(t, run(t, r, text(lee, 42, "!assign <@U<x>>")), "assign", "could not tell who")
	refused(t, run(t, r, text(lee, 42, "!assign")), "assign", "Usage", "!assign @staff")
	refused(t, run(t, r, text(lee, 42, "!assign UNOBODY")), "assign", "not on the staff list")
}

func TestEscalate(t *testing.T) {
	r, f := setup(t)
	got := ok(t, run(t, r, text(ana, 42, `!escalate billing "VIP, 40k followers"`)), "escalate")
	if !strings.Contains(got, "billing") || f.cases["E-42"].Team != "billing" {
		t.Fatalf("answer %q case %+v", got, f.cases["E-42"].Case)
	}
	if c := f.calls[len(f.calls)-1]; c != "escalate billing VIP, 40k followers E-42 by slack:UAGENT" {
		t.Errorf("call %q", c)
	}
	ok(t, run(t, r, text(ana, 0, "!esc E-43 LEGAL they're threatening to sue")), "escalate")
	if c := f.calls[len(f.calls)-1]; c != "escalate legal they're threatening to sue E-43 by slack:UAGENT" {
		t.Errorf("call %q", c)
	}
	refused(t, run(t, r, text(ana, 42, "!escalate biling")), "escalate", `no team "biling"`, "Did you mean billing?", "Teams: billing, legal")
	refused(t, run(t, r, text(ana, 42, "!escalate")), "escalate", "!escalate team [reason]")
	// The card's team picker sends the team as the only argument.
	inv := bridge.Invocation{Desk: "slack", Source: bridge.SourceButton, Staff: ana, Thread: thread(7), Name: "escalate", Args: []string{"legal"}}
	ok(t, run(t, r, inv), "escalate")
	f.teams = nil
	refused(t, run(t, r, text(ana, 42, "!escalate billing")), "escalate", "No teams")
}

func TestResolveReopen(t *testing.T) {
	r, f := setup(t)
	ok(t, run(t, r, text(ana, 42, "!resolve customer's refund sent,  see ticket")), "resolve")
	if s := f.cases["E-42"].Summary; s != "customer's refund sent,  see ticket" {
		t.Errorf("summary %q", s)
	}
	refused(t, run(t, r, text(ana, 42, "!close")), "resolve", "already resolved")
	refused(t, run(t, r, text(ana, 0, "!resolve")), "resolve", "Which case?", "!resolve E-42 [summary]")
	ok(t, run(t, r, text(ana, 0, "!reopen e-42")), "reopen")
	refused(t, run(t, r, text(ana, 42, "!reopen")), "reopen", "not resolved")
	refused(t, run(t, r, text(ana, 42, "!reopen now please")), "reopen", "Too many arguments", "now please")
	ok(t, run(t, r, text(ana, 42, `!done "fixed"`)), "resolve")
	if s := f.cases["E-42"].Summary; s != "fixed" {
		t.Errorf("quoted summary %q", s)
	}
}

func TestReplyNoteDM(t *testing.T) {
	r, f := setup(t)
	refused(t, run(t, r, text(ana, 42, "!reply hello")), "reply", "Claim E-42 before replying")
	ok(t, run(t, r, text(ana, 42, "!claim")), "claim")
	body := "Hi Ana,\nE-12 was your old case; we're on it.  Thanks!"
	ok(t, run(t, r, text(ana, 42, "!reply "+body)), "reply")
	if got := f.replies["E-42"]; len(got) != 1 || got[0] != body {
		t.Fatalf("reply text %q", got)
	}
	// Outside the thread the id goes first.
	ok(t, run(t, r, text(ana, 0, "!send E-42 second line")), "reply")
	if got := f.replies["E-42"]; got[1] != "second line" {
		t.Fatalf("reply text %q", got)
	}
	refused(t, run(t, r, text(ana, 42, "!reply")), "reply", "Usage")
	ok(t, run(t, r, text(bo, 42, "!note she's a 'VIP")), "note")
	if got := f.notes["E-42"]; got[0] != "she's a 'VIP" {
		t.Fatalf("note %q", got)
	}
	refused(t, run(t, r, text(bo, 42, "!dm")), "dm", "Claim E-42 first")
	ok(t, run(t, r, text(ana, 42, "!dm please send your order number")), "dm")
	if c := f.calls[len(f.calls)-1]; !strings.HasPrefix(c, "dm please send your order number E-42") {
		t.Errorf("call %q", c)
	}
}

func TestQueueHistory(t *testing.T) {
	r, f := setup(t)
	got := ok(t, run(t, r, text(ana, 0, "!queue")), "queue")
	if !strings.Contains(got, "Queue support: 2 open cases") || strings.Index(got, "E-43") > strings.Index(got, "E-42") {
		t.Errorf("queue:\n%s", got)
	}
	if res := run(t, r, text(ana, 0, "!q")); !res.Private {
		t.Error("listing is not private")
	}
	got = ok(t, run(t, r, text(ana, 0, "!queue billing")), "queue")
	if got != "Queue billing: no open cases." {
		t.Errorf("billing: %q", got)
	}
	inv := text(ana, 0, "!queue")
	inv.Channel = "CRANDOM"
	refused(t, run(t, r, inv), "queue", "no queue")
	got = ok(t, run(t, r, text(ana, 42, "!history")), "history")
	if !strings.Contains(got, "E-7") || strings.Contains(got, "• E-42") || !strings.Contains(got, "resolved 2d ago") {
		t.Errorf("history:\n%s", got)
	}
	got = ok(t, run(t, r, text(ana, 43, "!history")), "history")
	if !strings.Contains(got, "no earlier cases") {
		t.Errorf("history:\n%s", got)
	}
	_ = f
}

func TestTriage(t *testing.T) {
	r, f := setup(t)
	res := run(t, r, text(ana, 42, "!priority urgent"))
	ok(t, res, "priority")
	if res.Private || f.cases["E-42"].Priority != 2 {
		t.Errorf("priority answer %+v case %d", res, f.cases["E-42"].Priority)
	}
	ok(t, run(t, r, text(ana, 42, "!prio 5")), "priority")
	if f.cases["E-42"].Priority != 5 {
		t.Error("numeric priority not set")
	}
	res = run(t, r, text(ana, 42, "!priority"))
	if ok(t, res, "priority") != "E-42 priority: 5." || !res.Private {
		t.Errorf("show priority %+v", res)
	}
	refused(t, run(t, r, text(ana, 42, "!priority p1")), "priority", "not a priority")
	refused(t, run(t, r, text(ana, 42, "!priority 1000")), "priority", "out of range")

	got := ok(t, run(t, r, text(ana, 42, "!tag +VIP billing,#refund")), "tag")
	if got != "E-42 tags: vip, billing, refund (changed by Ana)." {
		t.Errorf("tag answer %q", got)
	}
	ok(t, run(t, r, text(ana, 42, "!tag -billing")), "tag")
	if got := ok(t, run(t, r, text(ana, 42, "!tags")), "tag"); got != "E-42 tags: vip, refund." {
		t.Errorf("show tags %q", got)
	}
	refused(t, run(t, r, text(ana, 42, `!tag "vip`)), "tag", "never closed")
	refused(t, run(t, r, text(ana, 42, "!tag +")), "tag", "not a tag")

	got = ok(t, run(t, r, text(ana, 42, "!snooze 1d2h")), "snooze")
	if !strings.Contains(got, "snoozed for 1d 2h, until Tue 14:00 UTC") || !f.cases["E-42"].SnoozedUntil.Equal(f.now.Add(26*time.Hour)) {
		t.Errorf("snooze %q", got)
	}
	ok(t, run(t, r, text(ana, 42, "!snooze off")), "snooze")
	if !f.cases["E-42"].SnoozedUntil.IsZero() {
		t.Error("not woken")
	}
	refused(t, run(t, r, text(ana, 42, "!snooze soon")), "snooze", "not a duration")
	refused(t, run(t, r, text(ana, 42, "!snooze 100d")), "snooze", "at most 90 days")
	refused(t, run(t, r, text(ana, 42, "!snooze")), "snooze", "Usage")
}

func TestRetry(t *testing.T) {
	r, f := setup(t)
	inv := bridge.Invocation{Desk: "slack", Source: bridge.SourceButton, Staff: ana, Thread: thread(42), Name: "retry", Args: []string{"ob-17"},
		Message: bridge.MessageRef{Desk: "slack", Channel: "CSUP", ID: "M1"}}
	ok(t, run(t, r, inv), "retry")
	if len(f.retried) != 1 || f.retried[0] != "ob-17" {
		t.Fatalf("retried %v", f.retried)
	}
	refused(t, run(t, r, text(ana, 42, "!retry zz")), "retry", "nothing to send again")
	refused(t, run(t, r, text(ana, 42, "!retry")), "retry", "Usage", "!retry outbox-id")
	refused(t, run(t, r, text(stranger, 42, "!retry ob-1")), "retry", "Only staff")
}

func TestHelpAndUnknown(t *testing.T) {
	r, _ := setup(t)
	got := ok(t, run(t, r, text(ana, 0, "!help")), "help")
	for _, c := range r.Commands() {
		if !strings.Contains(got, "`!"+c.Usage+"`") {
			t.Errorf("help lacks %s", c.Name)
		}
	}
	got = ok(t, run(t, r, text(stranger, 0, "!help")), "help")
	if !strings.Contains(got, "not on the staff list") {
		t.Errorf("help to a stranger: %q", got)
	}
	got = ok(t, run(t, r, text(ana, 0, "!help assign")), "help")
	if !strings.Contains(got, "Leads only") || !strings.Contains(got, "!assign E-42 @staff") {
		t.Errorf("help assign: %q", got)
	}
	refused(t, run(t, r, text(ana, 0, "!help clam")), "help", "Did you mean `!claim`?")

	for in, want := range map[string]string{"clam": "claim", "cliam": "claim", "reslove": "resolve", "escalte": "escalate", "hist": "", "notee": "note", "tga": "tag"} {
		res := run(t, r, text(ana, 42, "!"+in))
		if want == "" {
			continue // an alias, not unknown
		}
		refused(t, res, "unknown", "There is no `!"+in+"` command", "Did you mean `!"+want+"`?")
	}
	res := run(t, r, text(ana, 42, "!xyzzy"))
	refused(t, res, "unknown", "`!help` lists them all")
	if strings.Contains(res.Text, "Did you mean") {
		t.Errorf("far-fetched suggestion: %q", res.Text)
	}
}

func TestUmbrellaSlashCommand(t *testing.T) {
	r, f := setup(t)
	inv := bridge.Invocation{Desk: "slack", Source: bridge.SourceSlash, Staff: ana, Channel: "CSUP", Name: "/earshot", Raw: `escalate E-42 billing "double charge"`}
	ok(t, run(t, r, inv), "escalate")
	if c := f.calls[len(f.calls)-1]; c != "escalate billing double charge E-42 by slack:UAGENT" {
		t.Errorf("call %q", c)
	}
	inv = bridge.Invocation{Desk: "slack", Source: bridge.SourceSlash, Staff: ana, Channel: "CSUP", Name: "earshot"}
	ok(t, run(t, r, inv), "help")
}

func TestBrokenBridgeFails(t *testing.T) {
	r, f := setup(t)
	f.failAll = errJournal
	res := run(t, r, text(ana, 42, "!claim"))
	if res.OK || !res.Failed || !res.Private || res.Command != "claim" {
		t.Fatalf("got %+v", res)
	}
	if strings.Contains(res.Text, "/data") || strings.Contains(res.Text, "no space") {
		t.Errorf("internal error leaks to staff: %q", res.Text)
	}
	res = run(t, r, text(ana, 42, "!retry ob-1"))
	if !res.Failed {
		t.Fatalf("retry got %+v", res)
	}
	// Unbound registry.
	res = New(nil, Options{}).Run(context.Background(), text(ana, 42, "!claim"))
	if !res.Failed || res.OK {
		t.Fatalf("unbound got %+v", res)
	}
}

func TestPrefixOption(t *testing.T) {
	f := newFake()
	f.add(42, "support", "a", "x", 0, time.Minute)
	r := New(f, Options{Prefix: ".", CaseIDPrefix: "CS"})
	inv := text(ana, 0, ".claim cs-42")
	inv.Name = ".claim"
	res := r.Run(context.Background(), inv)
	refused(t, res, "claim", "no case CS-42") // the fake's ids are E-…; CS-42 is parsed as a case id
	res = r.Run(context.Background(), text(ana, 0, ".clam"))
	refused(t, res, "unknown", "Did you mean `.claim`?")
}

func TestClaimInUnknownThread(t *testing.T) {
	r, f := setup(t)
	refused(t, run(t, r, text(ana, 99, "!claim")), "claim", "not a case", "!claim E-42", "!claim next")
	ok(t, run(t, r, text(ana, 99, "!claim next")), "claim")
	if f.cases["E-43"].Assignee != ana.Key() {
		t.Fatal("next not claimed")
	}
}

// BenchmarkRun measures a whole command: split, lookup, role, case, handler
// (against the in-memory fake, so mostly this package's cost).
func BenchmarkRun(b *testing.B) {
	f := newFake()
	f.add(42, "support", "ana@x", "charged twice", 0, time.Hour)
	r := New(f, Options{Now: func() time.Time { return f.now }})
	inv := text(ana, 0, `!tag E-42 +vip "big account" -spam`)
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Run(context.Background(), inv); !res.OK {
			b.Fatal(res)
		}
	}
}

func BenchmarkRunUnknown(b *testing.B) {
	r := New(newFake(), Options{})
	inv := text(ana, 0, "!reslove fixed")
	b.ReportAllocs()
	for b.Loop() {
		r.Run(context.Background(), inv)
	}
}

// FuzzRun: any name and argument text gives an answer, never a panic, with
// a metric-safe Command label and a non-empty text.
func FuzzRun(f *testing.F) {
	for _, s := range [][2]string{{"claim", ""}, {"escalate", `E-42 billing "x`}, {"earshot", "tag E-43 +a -b"}, {"reply", "E-42 hi"}, {"", ""}, {"!?", "\xff"}, {"snooze", "1d"}, {"help", "clam"}} {
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, name, raw string, inThread bool) {
		r, _ := setupQuiet()
		n := 0
		if inThread {
			n = 42
		}
		inv := text(lee, n, "!x "+raw)
		inv.Name = name
		res := r.Run(context.Background(), inv)
		if res.Text == "" {
			t.Fatalf("empty answer to %q %q", name, raw)
		}
		if c, known := r.byName[res.Command]; (!known || c.Name != res.Command) && res.Command != "unknown" {
			t.Fatalf("label %q", res.Command)
		}
		if res.Failed {
			t.Fatalf("failed: %+v", res)
		}
	})
}

type panicky struct{ *fakeCases }

func (panicky) Claim(context.Context, bridge.CaseID, bridge.Staff) (bridge.CaseView, error) {
	panic("bridge bug")
}

func TestPanicIsContained(t *testing.T) {
	_, f := setup(t)
	r := New(panicky{f}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	res := r.Run(context.Background(), text(ana, 42, "!take"))
	if !res.Failed || res.OK || res.Command != "claim" || strings.Contains(res.Text, "bridge bug") {
		t.Fatalf("got %+v", res)
	}
}

// Every command issue 2 lists is declared, with the usage it gives.
func TestRegistryHasTheIssueCommands(t *testing.T) {
	r, _ := setup(t)
	declared := map[string]*Command{}
	for _, c := range r.Commands() {
		declared[c.Name] = c
	}
	for name, usage := range map[string]string{
		"claim": "claim [case|next]", "release": "release", "assign": "assign @staff",
		"escalate": "escalate team [reason]", "resolve": "resolve [summary]", "reopen": "reopen",
		"dm": "dm [text]", "reply": "reply text", "note": "note text", "queue": "queue",
		"history": "history", "priority": "priority ", "tag": "tag ", "snooze": "snooze ", "help": "help",
	} {
		c := declared[name]
		switch {
		case c == nil:
			t.Errorf("no %s command", name)
		case !strings.HasPrefix(c.Usage, usage):
			t.Errorf("%s: usage %q, want %q", name, c.Usage, usage)
		}
	}
}

// Every command refuses, privately and saying why: someone not on the
// staff list, a case command outside any thread without a case id, a
// command missing its arguments, and one given arguments it takes none of.
func TestEveryCommandRefuses(t *testing.T) {
	r, f := setup(t)
	checked := 0
	for _, c := range r.Commands() {
		t.Run(c.Name, func(t *testing.T) {
			if c.MinRole > bridge.RoleNone {
				refused(t, run(t, r, text(stranger, 42, "!"+c.Name+" x")), c.Name, "Only staff")
				checked++
			}
			if c.Case == NeedsCase {
				refused(t, run(t, r, text(lee, 0, "!"+c.Name)), c.Name, "Which case?", "!"+c.Name+" E-42")
				checked++
			}
			if c.MinArgs > 0 {
				refused(t, run(t, r, text(lee, 42, "!"+c.Name)), c.Name, "Usage", "!"+strings.Fields(c.Usage)[0])
				checked++
			}
			if c.MaxArgs == 0 {
				refused(t, run(t, r, text(lee, 42, "!"+c.Name+" one two")), c.Name, "Too many arguments")
				checked++
			}
		})
	}
	if checked < 25 {
		t.Errorf("only %d refusals checked", checked)
	}
	if len(f.replies) != 0 || len(f.notes) != 0 {
		t.Errorf("a refused command acted: replies %v notes %v", f.replies, f.notes)
	}
}

// A desk mention names the assignee with the name (and groups) the desk
// resolved, whatever the text shows for it (Slack: "@Bo Lima").
func TestAssignByMention(t *testing.T) {
	r, f := setup(t)
	inv := text(lee, 42, "!assign @Bo Lima")
	inv.Mentions = []bridge.DeskMention{{Kind: bridge.MentionUser, ID: "UAGENT2", Name: "Bo Lima", Groups: []string{"S1"}}}
	got := ok(t, run(t, r, inv), "assign")
	if c := f.cases["E-42"]; c.Assignee != bo.Key() || c.AssigneeName != "Bo Lima" || !strings.Contains(got, "Bo Lima") {
		t.Fatalf("assigned to %q named %q (%q)", c.Assignee, c.AssigneeName, got)
	}
	two := text(lee, 42, "!assign @Bo and @Ana")
	two.Mentions = []bridge.DeskMention{{Kind: bridge.MentionUser, ID: "UAGENT2"}, {Kind: bridge.MentionUser, ID: "UAGENT1"}}
	refused(t, run(t, r, two), "assign", "mentions 2 people")
	refused(t, run(t, r, text(lee, 42, "!assign UAGENT2 UAGENT1")), "assign", "Too many arguments")
}
