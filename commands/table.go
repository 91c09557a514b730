package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// CaseNeed says whether a command acts on a case.
type CaseNeed int

const (
	NoCase       CaseNeed = iota // queue, help, retry
	NeedsCase                    // from the thread or a leading case id; refused without
	OptionalCase                 // claim: without a case, the next one in this channel's queue
)

// Command is one declared staff command, in the style of mautrix's
// FullHandler: everything about a verb in one place.
type Command struct {
	Name    string   // canonical verb, also the metric label
	Aliases []string // other names staff may type
	Usage   string   // "escalate team [reason]", without prefix or case id
	Help    string   // one line for help
	Verb    string   // what it does, for refusals: "Only leads can <Verb>."
	MinRole bridge.Role
	Case    CaseNeed
	MinArgs int // after the case id
	MaxArgs int // after the case id; -1 for no limit
	// FreeText: the arguments end in free text, so an unbalanced quote
	// (an apostrophe) is read literally instead of refused.
	FreeText bool
	// Text: the arguments are text for a customer or the team; inside a
	// thread they never name a case.
	Text bool
	// Public answers are shown to the channel: triage the team should see.
	Public  bool
	Handler func(c *Call) (string, error)
}

// table declares every command. The order is the order of help.
func table() []*Command {
	return []*Command{
		{Name: "claim", Aliases: []string{"take", "mine"}, Usage: "claim [case|next]", Verb: "claim cases",
			Help:    "take the case; outside a thread without an id (or with next), take the next one in this channel's queue",
			MinRole: bridge.RoleAgent, Case: OptionalCase, MaxArgs: 1, Handler: runClaim},
		{Name: "release", Aliases: []string{"unclaim", "drop"}, Usage: "release [force]", Verb: "release someone else's claim",
			Help:    "give your claim back; a lead may add force to take back someone else's",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: 1, Handler: runRelease},
		{Name: "assign", Aliases: []string{"give"}, Usage: "assign @staff", Verb: "assign cases",
			Help:    "give the case to someone (leads)",
			MinRole: bridge.RoleLead, Case: NeedsCase, MinArgs: 1, MaxArgs: -1, FreeText: true, Handler: runAssign},
		{Name: "escalate", Aliases: []string{"esc", "handoff"}, Usage: "escalate team [reason]", Verb: "escalate cases",
			Help:    "hand the case to a team, with the reason noted in both threads",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MinArgs: 1, MaxArgs: -1, FreeText: true, Handler: runEscalate},
		{Name: "resolve", Aliases: []string{"close", "done", "solve"}, Usage: "resolve [summary]", Verb: "resolve cases",
			Help:    "close the case; the customer posting again soon reopens it",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: -1, FreeText: true, Handler: runResolve},
		{Name: "reopen", Aliases: []string{"unresolve"}, Usage: "reopen", Verb: "reopen cases",
			Help:    "open a resolved case again",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: 0, Handler: runReopen},
		{Name: "dm", Aliases: []string{"private", "todm"}, Usage: "dm [text]", Verb: "move cases to DM",
			Help:    "continue by direct message: posts a short public line, then the text (if any) by DM",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: -1, FreeText: true, Text: true, Handler: runDM},
		{Name: "reply", Aliases: []string{"send"}, Usage: "reply text", Verb: "reply",
			Help:    "publish text to the customer (same rules as writing in the thread)",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MinArgs: 1, MaxArgs: -1, FreeText: true, Text: true, Handler: runReply},
		{Name: "note", Aliases: []string{"internal"}, Usage: "note text", Verb: "write notes",
			Help:    "leave a note for the team; never published",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MinArgs: 1, MaxArgs: -1, FreeText: true, Text: true, Handler: runNote},
		{Name: "queue", Aliases: []string{"q", "list", "cases"}, Usage: "queue [name]", Verb: "list queues",
			Help:    "list the open cases of this channel's queue (or the named one): age, status, assignee, SLA",
			MinRole: bridge.RoleAgent, Case: NoCase, MaxArgs: 1, Handler: runQueue},
		{Name: "history", Aliases: []string{"hist", "past"}, Usage: "history", Verb: "read history",
			Help:    "list the customer's other cases",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: 0, Handler: runHistory},
		{Name: "priority", Aliases: []string{"prio", "pri"}, Usage: "priority low|normal|high|urgent|number", Verb: "change priorities",
			Help:    "show or set the priority (higher is more urgent)",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: 1, Public: true, Handler: runPriority},
		{Name: "tag", Aliases: []string{"tags", "label"}, Usage: "tag +add -remove", Verb: "tag cases",
			Help:    "show tags, or add (+vip or vip) and remove (-vip) them",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MaxArgs: -1, Public: true, Handler: runTag},
		{Name: "snooze", Aliases: []string{"later"}, Usage: "snooze 30m|2h|1d|off", Verb: "snooze cases",
			Help:    "hide the case from the queue for a while (off to wake it)",
			MinRole: bridge.RoleAgent, Case: NeedsCase, MinArgs: 1, MaxArgs: 1, Public: true, Handler: runSnooze},
		{Name: "say", Aliases: []string{"saved"}, Usage: "say NAME", Verb: "send saved replies",
			Help:    "send a saved reply (in an incident's thread: its acknowledgement to every complainant)",
			MinRole: bridge.RoleAgent, Case: NoCase, MinArgs: 1, MaxArgs: 2, Handler: runSay},
		{Name: "incident", Aliases: []string{"inc", "outage"}, Usage: "incident open|from|link|split|claim|ack|update|status|resolve|late|terms|retry|list|show …", Verb: "work incidents",
			Help:    "many complaints with one cause: one card, one acknowledgement to everyone (`incident help` for the verbs)",
			MinRole: bridge.RoleAgent, Case: NoCase, MaxArgs: -1, FreeText: true, Handler: runIncident},
		{Name: "retry", Aliases: []string{"resend", "send-again"}, Usage: "retry outbox-id", Verb: "retry sends",
			Help:    "send a failed or uncertain reply again (the Retry button does this)",
			MinRole: bridge.RoleAgent, Case: NoCase, MinArgs: 1, MaxArgs: 1, Handler: runRetry},
		{Name: "help", Aliases: []string{"h", "?", "commands"}, Usage: "help [command]", Verb: "read help",
			Help:    "this list, or details of one command",
			MinRole: bridge.RoleNone, Case: NoCase, MaxArgs: 1, Handler: runHelp},
	}
}

// who names a case's customer for confirmations.
func who(v bridge.CaseView) string {
	if h := cleanText(v.Customer.Handle, 60); h != "" {
		return h
	}
	return "the customer"
}

func runClaim(c *Call) (string, error) {
	by := c.Staff()
	next := false
	if len(c.Args()) == 1 {
		if !strings.EqualFold(c.Args()[0], "next") {
			return "", bridge.Userf("%q is not a case id. Usage: `%sclaim [case|next]`.", c.Args()[0], c.Prefix())
		}
		next = true
	}
	if c.HasCase && !next {
		if c.View.Status == bridge.StatusClaimed && c.View.Assignee == by.Key() {
			return "", bridge.Userf("You already have %s.", c.View.ID)
		}
		v, err := c.Cases.Claim(c.Ctx, c.View.ID, by)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("You claimed %s (%s).", v.ID, who(v)), nil
	}
	q, ok := c.Cases.QueueForChannel(c.Inv.Desk, c.Inv.Channel)
	if !ok {
		return "", bridge.Userf("This channel has no queue, so there is no next case to take here. Give a case id: `%sclaim %s-42`.", c.Prefix(), c.reg.opts.CaseIDPrefix)
	}
	v, err := c.Cases.ClaimNext(c.Ctx, q.Name, by)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("You claimed %s, next in %s (%s): “%s”.", v.ID, q.Name, who(v), cleanText(v.First.Text, maxQuoteText)), nil
}

func isForce(s string) bool {
	switch strings.ToLower(s) {
	case "force", "--force", "-f", "!":
		return true
	}
	return false
}

func runRelease(c *Call) (string, error) {
	by := c.Staff()
	force := false
	if len(c.Args()) == 1 {
		if !isForce(c.Args()[0]) {
			return "", bridge.Userf("Usage: `%srelease [force]`.", c.Prefix())
		}
		force = true
	}
	if force && c.Role < bridge.RoleLead {
		return "", bridge.Userf("Only leads can force a release. Ask %s or a lead.", orSomeone(c.View.AssigneeName))
	}
	if !force && c.View.Assignee != "" && c.View.Assignee != by.Key() {
		if c.Role >= bridge.RoleLead {
			return "", bridge.Userf("%s is claimed by %s. To take it from them, run `%srelease %s force`.", c.View.ID, orSomeone(c.View.AssigneeName), c.Prefix(), c.View.ID)
		}
		return "", bridge.Userf("%s is claimed by %s, not you; only they or a lead can release it.", c.View.ID, orSomeone(c.View.AssigneeName))
	}
	v, err := c.Cases.Release(c.Ctx, c.View.ID, by, force)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Released %s; it is back in the %s queue.", v.ID, v.Queue), nil
}

func orSomeone(name string) string {
	if name == "" {
		return "someone else"
	}
	return cleanText(name, 40)
}

func runAssign(c *Call) (string, error) {
	to, err := assignee(c)
	if err != nil {
		return "", err
	}
	v, err := c.Cases.Assign(c.Ctx, c.View.ID, c.Staff(), to)
	if err != nil {
		return "", err
	}
	shown := v.AssigneeName
	if shown == "" {
		shown = to.Display()
	}
	return fmt.Sprintf("%s is now assigned to %s.", v.ID, cleanText(shown, 40)), nil
}

// assignee is who "assign" names: the one colleague the desk found
// mentioned (with the name and groups the desk knows), else a mention
// token or user id typed as the one argument.
func assignee(c *Call) (bridge.Staff, error) {
	var users []bridge.DeskMention
	for _, m := range c.Inv.Mentions {
		if m.Kind == bridge.MentionUser && !slices.ContainsFunc(users, func(u bridge.DeskMention) bool { return u.ID == m.ID }) {
			users = append(users, m)
		}
	}
	switch {
	case len(users) == 1:
		u := users[0]
		return bridge.Staff{Desk: c.Inv.Desk, ID: u.ID, Name: u.Name, Groups: u.Groups}, nil
	case len(users) > 1:
		return bridge.Staff{}, bridge.Userf("That mentions %d people; mention the one to assign %s to.", len(users), c.View.ID)
	}
	if len(c.Args()) > 1 {
		return bridge.Staff{}, bridge.Userf("Too many arguments (%s). Usage: %s", quoteList(c.Args()[1:]), c.reg.usage(c.Cmd))
	}
	id, name, ok := ParseMention(c.Args()[0])
	if !ok {
		return bridge.Staff{}, bridge.Userf("I could not tell who %q is. Mention them (@name, picked from the list) or give their user id.", c.Args()[0])
	}
	return bridge.Staff{Desk: c.Inv.Desk, ID: id, Name: name}, nil
}

func runEscalate(c *Call) (string, error) {
	teams := c.Cases.Teams()
	if len(teams) == 0 {
		return "", bridge.Userf("No teams are set up to escalate to (mark a queue with team: true in the config).")
	}
	want := c.Args()[0]
	team := ""
	for _, t := range teams {
		if strings.EqualFold(t, want) {
			team = t
			break
		}
	}
	if team == "" {
		msg := fmt.Sprintf("There is no team %q.", want)
		if s := closest(strings.ToLower(want), lower(teams)); s != "" {
			msg += fmt.Sprintf(" Did you mean %s?", teams[slices.Index(lower(teams), s)])
		}
		return "", bridge.Userf("%s Teams: %s.", msg, strings.Join(teams, ", "))
	}
	reason := c.Text(1)
	v, err := c.Cases.Escalate(c.Ctx, c.View.ID, c.Staff(), team, reason)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Escalated %s to %s.", v.ID, team), nil
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

func runResolve(c *Call) (string, error) {
	v, err := c.Cases.Resolve(c.Ctx, c.View.ID, c.Staff(), c.Text(0))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Resolved %s.", v.ID), nil
}

func runReopen(c *Call) (string, error) {
	v, err := c.Cases.Reopen(c.Ctx, c.View.ID, c.Staff())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Reopened %s.", v.ID), nil
}

func runDM(c *Call) (string, error) {
	v, err := c.Cases.MoveToDM(c.Ctx, c.View.ID, c.Staff(), c.Text(0))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s continues by direct message with %s.", v.ID, who(v)), nil
}

func runReply(c *Call) (string, error) {
	text := c.Text(0)
	if strings.TrimSpace(text) == "" {
		return "", bridge.Userf("Usage: `%sreply text`.", c.Prefix())
	}
	if err := c.Cases.Reply(c.Ctx, c.View.ID, c.Staff(), text, c.Inv.Message); err != nil {
		return "", err
	}
	return fmt.Sprintf("Your reply to %s is on its way.", c.View.ID), nil
}

func runNote(c *Call) (string, error) {
	text := c.Text(0)
	if strings.TrimSpace(text) == "" {
		return "", bridge.Userf("Usage: `%snote text`.", c.Prefix())
	}
	if err := c.Cases.Note(c.Ctx, c.View.ID, c.Staff(), text); err != nil {
		return "", err
	}
	return fmt.Sprintf("Noted on %s.", c.View.ID), nil
}

func runQueue(c *Call) (string, error) {
	name := ""
	if len(c.Args()) == 1 {
		name = c.Args()[0]
	} else if q, ok := c.Cases.QueueForChannel(c.Inv.Desk, c.Inv.Channel); ok {
		name = q.Name
	} else if v, ok := c.Cases.CaseForThread(c.Inv.Thread); ok && !c.Inv.Thread.IsZero() {
		name = v.Queue
	}
	if name == "" {
		return "", bridge.Userf("This channel has no queue. Name one: `%squeue support`.", c.Prefix())
	}
	return FormatQueue(name, c.Cases.QueueList(name), c.Now()), nil
}

func runHistory(c *Call) (string, error) {
	return FormatHistory(c.View, c.Cases.History(c.View.ID), c.Now()), nil
}

func runPriority(c *Call) (string, error) {
	if len(c.Args()) == 0 {
		c.Public = false
		return fmt.Sprintf("%s priority: %s.", c.View.ID, PriorityName(c.View.Priority)), nil
	}
	p, err := ParsePriority(c.Args()[0])
	if err != nil {
		return "", &bridge.UserError{Msg: capitalize(err.Error()) + "."}
	}
	v, err := c.Cases.SetPriority(c.Ctx, c.View.ID, c.Staff(), p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s priority set to %s by %s.", v.ID, PriorityName(v.Priority), cleanText(c.Staff().Display(), 40)), nil
}

func runTag(c *Call) (string, error) {
	if len(c.Args()) == 0 {
		c.Public = false
		return fmt.Sprintf("%s tags: %s.", c.View.ID, tagList(c.View.Tags)), nil
	}
	add, remove, err := ParseTags(c.Args())
	if err != nil {
		return "", &bridge.UserError{Msg: capitalize(err.Error()) + "."}
	}
	if len(add) == 0 && len(remove) == 0 {
		return "", bridge.Userf("Usage: `%stag +add -remove`.", c.Prefix())
	}
	v, err := c.Cases.Tag(c.Ctx, c.View.ID, c.Staff(), add, remove)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s tags: %s (changed by %s).", v.ID, tagList(v.Tags), cleanText(c.Staff().Display(), 40)), nil
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return cleanText(strings.Join(tags, ", "), 300)
}

func runSnooze(c *Call) (string, error) {
	var d time.Duration
	switch strings.ToLower(c.Args()[0]) {
	case "off", "none", "wake", "0", "stop":
	default:
		var err error
		if d, err = ParseDuration(c.Args()[0]); err != nil {
			return "", &bridge.UserError{Msg: capitalize(err.Error()) + "."}
		}
	}
	v, err := c.Cases.Snooze(c.Ctx, c.View.ID, c.Staff(), d)
	if err != nil {
		return "", err
	}
	if d == 0 {
		return fmt.Sprintf("%s is awake again (by %s).", v.ID, cleanText(c.Staff().Display(), 40)), nil
	}
	until := c.Now().Add(d).UTC().Format("Mon 15:04 UTC")
	return fmt.Sprintf("%s snoozed for %s, until %s (by %s).", v.ID, FormatDuration(d), until, cleanText(c.Staff().Display(), 40)), nil
}

func runRetry(c *Call) (string, error) {
	if err := c.Cases.Retry(c.Ctx, c.Args()[0], c.Staff()); err != nil {
		return "", err
	}
	return "Sending it again; the message's mark shows how it goes.", nil
}

func runHelp(c *Call) (string, error) {
	r := c.reg
	if len(c.Args()) == 1 {
		cmd, ok := r.Lookup(c.Args()[0])
		if !ok {
			msg := fmt.Sprintf("There is no %s command.", "`"+r.opts.Prefix+canonName(c.Args()[0], r.opts.Prefix)+"`")
			if s := r.suggest(canonName(c.Args()[0], r.opts.Prefix)); s != "" {
				msg += fmt.Sprintf(" Did you mean `%s%s`?", r.opts.Prefix, s)
			}
			return "", &bridge.UserError{Msg: msg}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s — %s.", r.usage(cmd), cmd.Help)
		if len(cmd.Aliases) > 0 {
			fmt.Fprintf(&b, "\nAlso: %s.", strings.Join(cmd.Aliases, ", "))
		}
		if cmd.Case == NeedsCase {
			fmt.Fprintf(&b, "\nRun it in the case's thread, or put the case id first: `%s%s`.", r.opts.Prefix, strings.Replace(cmd.Usage, cmd.Name, cmd.Name+" "+r.opts.CaseIDPrefix+"-42", 1))
		}
		if cmd.MinRole >= bridge.RoleLead {
			b.WriteString("\nLeads only.")
		}
		return b.String(), nil
	}
	var b strings.Builder
	b.WriteString("Earshot commands. Type them in a case's thread, or elsewhere with the case id first (")
	fmt.Fprintf(&b, "`%sresolve %s-42 fixed`).", r.opts.Prefix, r.opts.CaseIDPrefix)
	if c.Role == bridge.RoleNone {
		b.WriteString(" You are not on the staff list yet, so a lead has to add you before they work for you.")
	}
	for _, cmd := range r.cmds {
		fmt.Fprintf(&b, "\n• %s — %s", r.usage(cmd), cmd.Help)
	}
	fmt.Fprintf(&b, "\n`%shelp command` tells more about one.", r.opts.Prefix)
	return b.String(), nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// suggest returns the canonical name of the command closest to name, or "".
func (r *Registry) suggest(name string) string {
	if name == "" {
		return ""
	}
	best := closest(name, r.names)
	if best == "" {
		return ""
	}
	return r.byName[best].Name
}

// closest returns the candidate nearest to s: a candidate s is a prefix of
// (at least two letters), or one within a small edit distance; "" if none.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := distance(s, c)
		if len(s) >= 2 && strings.HasPrefix(c, s) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	if n := len([]rune(s)); n >= 5 {
		limit = 2
	}
	if bestD > limit || bestD >= len([]rune(s)) {
		return ""
	}
	return best
}

// distance is the Damerau–Levenshtein (optimal string alignment) distance
// between a and b, counted in runes; transposed letters cost 1.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
