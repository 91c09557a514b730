package bridge

import (
	"fmt"
	"strings"
	"time"
)

// Config is what the bridge needs to know about queues, rules and staff.
// main fills it from the YAML config file; tests build it directly.
type Config struct {
	// Queues are the desk channels cases land in. Teams (escalation targets)
	// are queues too: escalating hands the case to another queue.
	Queues []QueueConfig
	// Watch says which posts become cases, per network.
	Watch []WatchRule
	// Routes choose the queue, priority and tags of a new case; the first
	// matching rule wins, and the first queue takes the rest.
	Routes []RouteRule
	// Staff lists who may act, by desk user or desk group.
	Staff []StaffRule
	// NotePrefixes mark a claimer's thread message as a note (case-insensitive).
	// Default: "note:", "//".
	NotePrefixes []string
	// CommandPrefix starts a text command in a thread. Default "!".
	CommandPrefix string
	// UndoWindow is the time between a staff message and its publication.
	// Default 10s; set UndoWindowSet with 0 for no window.
	UndoWindow    time.Duration
	UndoWindowSet bool
	// Retry governs publication retries.
	Retry RetryConfig
	// DeskWorkers is the number of concurrent desk calls per desk. Default 4.
	DeskWorkers int
	// CaseIDPrefix is the letter(s) before a case number. Default "E".
	CaseIDPrefix string
	// Retention is how long a resolved case is kept after it was resolved;
	// then it is forgotten with its threads, posts and outbox items (the
	// desk's threads stay as they are). 0 keeps every case. It must not be
	// shorter than any queue's reopen window.
	Retention time.Duration

	// Incidents tunes incident mode (incident.go).
	Incidents IncidentConfig
	// Replies are the saved replies staff send by name, in picker order.
	Replies []SavedReply
	// Pacing caps publications per network (by network name) below the
	// budget the network itself declares (PublishPacer).
	Pacing map[string]Budget
}

// QueueConfig is one queue (a desk channel) with its SLA targets.
type QueueConfig struct {
	Name    string
	Desk    string // "slack", "discord"
	Channel string // the desk's channel id
	// Team marks a queue as an escalation target shown in the team picker.
	Team bool
	SLA  SLAConfig
	// ReopenWindow: a customer post within this time after resolve reopens
	// the case; later ones open a new case linked in its history. Default 72h.
	ReopenWindow time.Duration
	// FirstReplierClaims lets the first staff member who writes a reply in
	// an unclaimed case's thread claim it (opt-in).
	FirstReplierClaims bool
	// Surge overrides the incident detector's settings for this queue.
	Surge SurgeConfig
	// SeparateCases turns off "one customer, one open case": by default a
	// customer's new post (in a new conversation) joins their open case in
	// this queue on the same network instead of opening another.
	SeparateCases bool
}

// SLAConfig holds a queue's targets; zero means no target.
type SLAConfig struct {
	FirstResponse time.Duration
	Resolution    time.Duration
}

// WatchRule says which posts from a network become cases.
type WatchRule struct {
	Network     string
	Mentions    bool     // posts that mention our account
	RepliesToUs bool     // replies to our posts
	Direct      bool     // direct messages to us
	Keywords    []string // case-insensitive words or phrases
	Hashtags    []string // without '#'
	Exclude     []string // a post containing any of these is ignored
}

// RouteRule picks a queue for new cases. Empty fields match everything.
type RouteRule struct {
	Name         string
	Networks     []string
	Keywords     []string
	Languages    []string
	MinFollowers int
	Queue        string
	Priority     int
	Tags         []string
}

// StaffRule grants a role to a desk user or to a desk group.
type StaffRule struct {
	Desk  string
	User  string // desk user id
	Group string // desk group / role id
	Role  Role
}

// RetryConfig governs publication retries.
type RetryConfig struct {
	Attempts int           // total tries before a visible failure; default 5
	Backoff  time.Duration // first wait, doubled each try; default 1s
	MaxWait  time.Duration // cap on one wait; default 1m
}

// withDefaults returns c with every unset field at its default.
func (c Config) withDefaults() Config {
	if len(c.NotePrefixes) == 0 {
		c.NotePrefixes = []string{"note:", "//"}
	}
	if c.CommandPrefix == "" {
		c.CommandPrefix = "!"
	}
	if !c.UndoWindowSet && c.UndoWindow == 0 {
		c.UndoWindow = 10 * time.Second
	}
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = 5
	}
	if c.Retry.Backoff <= 0 {
		c.Retry.Backoff = time.Second
	}
	if c.Retry.MaxWait <= 0 {
		c.Retry.MaxWait = time.Minute
	}
	if c.DeskWorkers <= 0 {
		c.DeskWorkers = 4
	}
	if c.CaseIDPrefix == "" {
		c.CaseIDPrefix = "E"
	}
	qs := make([]QueueConfig, len(c.Queues))
	copy(qs, c.Queues)
	for i := range qs {
		if qs[i].ReopenWindow == 0 {
			qs[i].ReopenWindow = defaultReopenWindow
		}
	}
	c.Queues = qs
	c.Incidents = c.Incidents.withDefaults()
	return c
}

// defaultReopenWindow is QueueConfig.ReopenWindow when none is set.
const defaultReopenWindow = 72 * time.Hour

// Validate lists every problem in c, each naming its place ("queues[1].desk").
func (c Config) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Queues) == 0 {
		add("queues: at least one queue is needed")
	}
	names := map[string]bool{}
	for i, q := range c.Queues {
		if q.Name == "" {
			add("queues[%d].name: required", i)
		} else if names[q.Name] {
			add("queues[%d].name: %q is used twice", i, q.Name)
		}
		names[q.Name] = true
		if q.Desk == "" {
			add("queues[%d].desk: required", i)
		}
		if q.Channel == "" {
			add("queues[%d].channel: required", i)
		}
		if q.SLA.FirstResponse < 0 || q.SLA.Resolution < 0 || q.ReopenWindow < 0 {
			add("queues[%d].sla: durations must not be negative", i)
		}
	}
	for i, r := range c.Routes {
		if r.Queue == "" {
			add("routes[%d].queue: required", i)
		} else if !names[r.Queue] {
			add("routes[%d].queue: no queue named %q", i, r.Queue)
		}
	}
	for i, w := range c.Watch {
		if w.Network == "" {
			add("watch[%d].network: required", i)
		}
		if !w.Mentions && !w.RepliesToUs && !w.Direct && len(w.Keywords) == 0 && len(w.Hashtags) == 0 {
			add("watch[%d]: watches nothing (set mentions, replies_to_us, direct, keywords or hashtags)", i)
		}
	}
	for i, s := range c.Staff {
		if s.Desk == "" {
			add("staff[%d].desk: required", i)
		}
		if (s.User == "") == (s.Group == "") {
			add("staff[%d]: give exactly one of user or group", i)
		}
		if s.Role != RoleAgent && s.Role != RoleLead {
			add("staff[%d].role: must be agent or lead", i)
		}
	}
	if c.UndoWindow < 0 {
		add("outbox.undo_window: must not be negative")
	}
	if c.Retention < 0 {
		add("retention.resolved: must not be negative")
	}
	for i, q := range c.Queues {
		reopen := q.ReopenWindow
		if reopen == 0 {
			reopen = defaultReopenWindow
		}
		if c.Retention > 0 && c.Retention < reopen {
			add("retention.resolved: %s is shorter than queues[%d].reopen_window (%s): a case is kept while the customer can reopen it", c.Retention, i, reopen)
		}
	}
	for i, p := range c.NotePrefixes {
		switch {
		case strings.TrimSpace(p) == "":
			add("note_prefixes[%d]: empty prefix would make every message a note", i)
		case foldKeepingMarks(p) == "":
			add("note_prefixes[%d]: %q is only invisible characters and spaces, which are ignored: it would match nothing", i, p)
		}
	}
	if c.CommandPrefix != "" && foldKeepingMarks(c.CommandPrefix) == "" {
		add("command_prefix: %q is only invisible characters and spaces, which are ignored: no command would be recognised", c.CommandPrefix)
	}
	return append(errs, c.validateIncidents()...)
}

// ParseRole reads "agent" or "lead".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "agent":
		return RoleAgent, nil
	case "lead":
		return RoleLead, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want agent or lead)", s)
}
