// Package commands is Earshot's platform-neutral set of staff commands
// (claim, release, assign, escalate, resolve, ...). Desks and the bridge turn
// slash commands, buttons and "!verb" thread messages into a
// bridge.Invocation; Registry.Run finds the command, checks the caller's role,
// finds the case, parses the arguments and calls the bridge through the Cases
// interface. Every command is declared once in the table in table.go.
//
// Rules staff can rely on:
//   - Arguments are split by Split (quotes, escapes, Unicode spaces) from
//     Invocation.Raw when the desk gave it, else Invocation.Args are used as
//     they are (buttons). Free text (reply, note, dm, resolve summary,
//     escalate reason) is taken from Raw as typed, newlines included.
//   - The case is the thread's; outside a thread the first argument names it.
//     Case ids are read case-insensitively with or without the dash and a
//     leading '#': "E-42", "e-42", "E42", "#E-42" (ParseCaseID). A bare number
//     is never a case id. Inside a thread a leading id naming another case
//     wins, except for reply, note and dm, whose text is never read as an id.
//   - Without a case, claim outside a thread takes the next case of the
//     channel's queue; other commands refuse with their usage.
//   - Refusals, listings and confirmations are private; triage changes
//     (priority, tag, snooze) are public so the team sees them. The bridge
//     posts its own notices (claimed, resolved) in the thread.
//   - Response.Command is always a declared name or "unknown" (a metric label);
//     Response.Failed is set only when the bridge broke, and the staff member
//     then reads a generic apology while the error goes to the log.
//
// The package does no I/O of its own: everything that waits happens in the
// Cases implementation (the bridge journals each change).
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Cases is what the commands need from the bridge; *bridge.Bridge implements
// it. Refusals come back as *bridge.UserError in plain words; any other error
// means the command broke (a journal write failed).
type Cases interface {
	RoleOf(s bridge.Staff) bridge.Role
	Case(id bridge.CaseID) (bridge.CaseView, bool)
	CaseForThread(t bridge.ThreadRef) (bridge.CaseView, bool)
	// Forgotten reports whether a case existed and was forgotten under the retention.
	Forgotten(id bridge.CaseID) bool
	QueueForChannel(desk, channel string) (bridge.QueueConfig, bool)
	Teams() []string

	Claim(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.CaseView, error)
	ClaimNext(ctx context.Context, queue string, by bridge.Staff) (bridge.CaseView, error)
	Release(ctx context.Context, id bridge.CaseID, by bridge.Staff, force bool) (bridge.CaseView, error)
	Assign(ctx context.Context, id bridge.CaseID, by, to bridge.Staff) (bridge.CaseView, error)
	Escalate(ctx context.Context, id bridge.CaseID, by bridge.Staff, team, reason string) (bridge.CaseView, error)
	Resolve(ctx context.Context, id bridge.CaseID, by bridge.Staff, summary string) (bridge.CaseView, error)
	Reopen(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.CaseView, error)
	MoveToDM(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string) (bridge.CaseView, error)
	Reply(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string, msg bridge.MessageRef) error
	Note(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string) error
	QueueList(queue string) []bridge.CaseSummary
	History(id bridge.CaseID) []bridge.CaseSummary
	SetPriority(ctx context.Context, id bridge.CaseID, by bridge.Staff, p int) (bridge.CaseView, error)
	Tag(ctx context.Context, id bridge.CaseID, by bridge.Staff, add, remove []string) (bridge.CaseView, error)
	Snooze(ctx context.Context, id bridge.CaseID, by bridge.Staff, d time.Duration) (bridge.CaseView, error)
	Retry(ctx context.Context, outboxID string, by bridge.Staff) error
}

// Options tune a Registry. The zero value works.
type Options struct {
	// Prefix is the text-command prefix shown in help and usage ("!").
	Prefix string
	// CaseIDPrefix is the letters of case ids ("E" for E-42), so that a case
	// id can be told from other arguments. Default "E".
	CaseIDPrefix string
	// Now is the clock for listings; nil means time.Now.
	Now func() time.Time
	// Logger receives commands that broke (never their text); nil means slog.Default().
	Logger *slog.Logger
}

// Registry runs staff commands; it implements bridge.Commander and is safe
// for concurrent use.
type Registry struct {
	cases  atomic.Pointer[Cases]
	opts   Options
	cmds   []*Command
	byName map[string]*Command
	names  []string // every name and alias, sorted, for suggestions
}

var (
	_ bridge.Commander     = (*Registry)(nil)
	_ bridge.CommandLister = (*Registry)(nil)
)

// New returns a registry acting on cases. cases may be nil when the bridge
// is built after the registry (bridge.Options takes the Commander); call
// Bind before the first Run.
func New(cases Cases, opts Options) *Registry {
	if opts.Prefix == "" {
		opts.Prefix = "!"
	}
	if opts.CaseIDPrefix == "" {
		opts.CaseIDPrefix = "E"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Registry{opts: opts, byName: map[string]*Command{}}
	for _, c := range table() {
		r.cmds = append(r.cmds, c)
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, dup := r.byName[n]; dup {
				// The table is ours; a duplicate is a programming error caught by tests.
				opts.Logger.Error("commands: duplicate command name", "name", n)
				continue
			}
			r.byName[n] = c
		}
	}
	for n := range r.byName {
		r.names = append(r.names, n)
	}
	slices.Sort(r.names) // deterministic ties between suggestions
	if cases != nil {
		r.Bind(cases)
	}
	return r
}

// Bind sets (or replaces) the bridge the registry acts on.
func (r *Registry) Bind(cases Cases) { r.cases.Store(&cases) }

// Commands returns the declared commands in help order.
func (r *Registry) Commands() []*Command { return r.cmds }

// CommandNames lists the declared commands' names (the values of the
// command label of earshot_commands_total, with "unknown").
func (r *Registry) CommandNames() []string {
	names := make([]string, len(r.cmds))
	for i, c := range r.cmds {
		names[i] = c.Name
	}
	return names
}

// Lookup finds a command by name or alias, case-insensitively, with or
// without the text prefix or a slash.
func (r *Registry) Lookup(name string) (*Command, bool) {
	c, ok := r.byName[canonName(name, r.opts.Prefix)]
	return c, ok
}

func canonName(name, prefix string) string {
	name = strings.TrimSpace(name)
	name = strings.TrimPrefix(name, prefix)
	name = strings.TrimPrefix(name, "/")
	return strings.ToLower(name)
}

// umbrella names the desks' catch-all slash command ("/earshot claim E-42").
const umbrella = "earshot"

// Run runs one command and returns what to answer. It blocks while the
// bridge journals the change. It never panics on bad input.
func (r *Registry) Run(ctx context.Context, inv bridge.Invocation) (res bridge.Response) {
	defer func() {
		// A bug in a handler or the bridge must not take a desk's listener down.
		if p := recover(); p != nil {
			r.opts.Logger.Error("commands: command panicked", "name", inv.Name, "panic", fmt.Sprint(p))
			cmd := "unknown"
			if c, ok := r.Lookup(inv.Name); ok {
				cmd = c.Name
			}
			res = bridge.Response{Text: "Sorry, that did not work because of a problem on our side. Tell an admin.", Private: true, Command: cmd, Failed: true}
		}
	}()
	cp := r.cases.Load()
	if cp == nil || *cp == nil {
		return bridge.Response{Text: "Earshot is still starting; try again in a moment.", Private: true, Command: "unknown", Failed: true}
	}
	cases := *cp

	raw, hasRaw := inv.Raw, inv.Raw != ""
	name := canonName(inv.Name, r.opts.Prefix)
	args := inv.Args
	if hasRaw {
		// Our own parser is the authority on quoting; desks split only as a convenience.
		if a, err := Split(raw); err == nil {
			args = a
		} else {
			args = splitLenient(raw)
		}
	}
	if name == umbrella || name == "" {
		if len(args) == 0 {
			name = "help"
		} else {
			name = canonName(args[0], r.opts.Prefix)
			args = args[1:]
			if hasRaw {
				raw, _ = skipTokens(raw, 1)
			}
		}
	}
	cmd, ok := r.byName[name]
	if !ok {
		return r.unknown(name)
	}
	call := &Call{
		Ctx:   ctx,
		Inv:   inv,
		Cmd:   cmd,
		Cases: cases,
		reg:   r,
		args:  args,
		raw:   raw,
		has:   hasRaw,
	}
	call.Role = cases.RoleOf(inv.Staff)
	if call.Role < cmd.MinRole {
		return call.refuse(r.roleRefusal(call.Role, cmd))
	}
	if hasRaw && !cmd.FreeText {
		if _, err := Split(raw); err != nil {
			return call.refuse("I could not read that: " + err.Error() + ". Usage: " + r.usage(cmd))
		}
	}
	if res, ok := r.inIncidentThread(call); ok {
		return res // a case verb in an incident's thread (incident.go)
	}
	if cmd.Case != NoCase {
		if msg := call.findCase(); msg != "" {
			return call.refuse(msg)
		}
	}
	if len(call.args) < cmd.MinArgs {
		return call.refuse("Usage: " + r.usage(cmd))
	}
	if cmd.MaxArgs >= 0 && len(call.args) > cmd.MaxArgs {
		return call.refuse(fmt.Sprintf("Too many arguments (%s). Usage: %s", quoteList(call.args[cmd.MaxArgs:]), r.usage(cmd)))
	}
	call.Public = cmd.Public
	text, err := cmd.Handler(call)
	if err != nil {
		if bridge.IsUserError(err) {
			return call.refuse(userMessage(err))
		}
		r.opts.Logger.Error("commands: command failed", "command", cmd.Name, "case", string(call.View.ID), "desk", inv.Desk, "staff", inv.Staff.Key(), "err", err)
		return bridge.Response{
			Text:    fmt.Sprintf("Sorry, %s did not work because of a problem on our side; nothing was changed. Try again, and tell an admin if it keeps failing.", r.opts.Prefix+cmd.Name),
			Private: true,
			Command: cmd.Name,
			Failed:  true,
		}
	}
	return bridge.Response{Text: text, Private: !call.Public, OK: true, Command: cmd.Name}
}

// userMessage is the staff-facing text of a refusal from the bridge.
func userMessage(err error) string {
	var ue *bridge.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return err.Error()
}

func quoteList(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// usage is a command's usage line with the prefix: "!claim [case]".
func (r *Registry) usage(c *Command) string {
	return "`" + r.opts.Prefix + c.Usage + "`"
}

func (r *Registry) roleRefusal(role bridge.Role, c *Command) string {
	if role == bridge.RoleNone {
		return "Only staff can use Earshot commands. Ask a lead to add you to the staff list."
	}
	return fmt.Sprintf("Only leads can %s. Ask a lead, or see %shelp %s.", c.Verb, r.opts.Prefix, c.Name)
}

func (r *Registry) unknown(name string) bridge.Response {
	text := fmt.Sprintf("There is no %s command.", "`"+r.opts.Prefix+name+"`")
	if name == "" {
		text = "Which command?"
	}
	if s := r.suggest(name); s != "" {
		text += fmt.Sprintf(" Did you mean `%s%s`?", r.opts.Prefix, s)
	}
	text += fmt.Sprintf(" `%shelp` lists them all.", r.opts.Prefix)
	return bridge.Response{Text: text, Private: true, Command: "unknown"}
}

// Call is one command being run: what the handler reads.
type Call struct {
	Ctx   context.Context
	Inv   bridge.Invocation
	Cmd   *Command
	Cases Cases
	Role  bridge.Role
	// View is the case the command acts on, when it has one (HasCase).
	View    bridge.CaseView
	HasCase bool
	// Public makes the answer visible to the channel; it starts as Cmd.Public.
	Public bool

	reg  *Registry
	args []string // the arguments left after the verb and the case id
	raw  string   // the argument text left, when the desk gave raw text
	has  bool     // raw is meaningful
}

// Args are the arguments after the verb and any case id.
func (c *Call) Args() []string { return c.args }

// Text returns the free text after the first n arguments as typed
// (newlines and spacing kept). When the rest is exactly one quoted argument
// its quotes are taken off.
func (c *Call) Text(n int) string {
	if n >= len(c.args) {
		return ""
	}
	if c.has {
		if rest, ok := skipTokens(c.raw, n); ok {
			if toks, err := Split(rest); err == nil && len(toks) == 1 && rest != "" {
				if first := []rune(rest)[0]; closers(first) != "" {
					return toks[0]
				}
			}
			return rest
		}
	}
	return strings.Join(c.args[n:], " ")
}

// Staff is who runs the command.
func (c *Call) Staff() bridge.Staff { return c.Inv.Staff }

// Now is the registry's clock.
func (c *Call) Now() time.Time { return c.reg.opts.Now() }

// Prefix is the text-command prefix, for messages.
func (c *Call) Prefix() string { return c.reg.opts.Prefix }

func (c *Call) refuse(text string) bridge.Response {
	return bridge.Response{Text: text, Private: true, Command: c.Cmd.Name}
}

// findCase sets View from the thread or a leading case id and consumes that
// id from the arguments. It returns a refusal, or "" when all is well.
//
// Rules: outside a thread the first argument names the case. Inside a case
// thread the thread's case is used; a leading id naming that same case is
// dropped, and a leading id naming another existing case wins (the caller
// said which case). Commands whose arguments are text for the customer or
// the team (reply, note, dm) never take an id from their text inside a
// thread, so "!reply E-12 was your old case" answers the thread's customer.
func (c *Call) findCase() string {
	prefix := c.reg.opts.CaseIDPrefix
	var explicit bridge.CaseID
	if len(c.args) > 0 {
		explicit, _ = ParseCaseID(c.args[0], prefix)
	}
	if !c.Inv.Thread.IsZero() {
		if v, ok := c.Cases.CaseForThread(c.Inv.Thread); ok {
			c.View, c.HasCase = v, true
			if explicit == "" || c.Cmd.Text {
				return ""
			}
			if strings.EqualFold(string(explicit), string(v.ID)) {
				c.consume()
				return ""
			}
			if other, ok := c.Cases.Case(explicit); ok {
				c.View = other
				c.consume()
			}
			return ""
		}
	}
	if explicit != "" {
		v, ok := c.Cases.Case(explicit)
		if !ok {
			if c.Cases.Forgotten(explicit) {
				return bridge.ForgottenText(explicit)
			}
			return fmt.Sprintf("There is no case %s.", explicit)
		}
		c.View, c.HasCase = v, true
		c.consume()
		return ""
	}
	if c.Cmd.Case == OptionalCase {
		if !c.Inv.Thread.IsZero() && (len(c.args) == 0 || !strings.EqualFold(c.args[0], "next")) {
			// A thread that is not a case's: taking the queue's next case from
			// here would surprise; say so instead.
			return fmt.Sprintf("This thread is not a case. Give a case id (`%s%s %s-42`) or `%s%s next`.", c.reg.opts.Prefix, c.Cmd.Name, prefix, c.reg.opts.Prefix, c.Cmd.Name)
		}
		return ""
	}
	return fmt.Sprintf("Which case? Run this in the case's thread, or give its id: `%s%s`.", c.reg.opts.Prefix, strings.Replace(c.Cmd.Usage, c.Cmd.Name, c.Cmd.Name+" "+prefix+"-42", 1))
}

// consume drops the first argument (the case id).
func (c *Call) consume() {
	c.args = c.args[1:]
	if c.has {
		c.raw, _ = skipTokens(c.raw, 1)
	}
}
