package bridge

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// IncidentConfig tunes incident mode; zero values take the defaults.
type IncidentConfig struct {
	// DeclareRole is the least role that may declare an incident (and
	// dismiss a suggestion). Default agent.
	DeclareRole Role
	// Surge is the detector's default for every queue (QueueConfig.Surge
	// overrides it per queue).
	Surge SurgeConfig
	// BatchEvery is the least time between two lines listing newly linked
	// complaints in an incident's thread. Default 5s.
	BatchEvery time.Duration
	// CardEvery is the least time between two re-renders of an incident
	// card for counts and progress alone (a staff action re-renders it at
	// once). Default 3s.
	CardEvery time.Duration
}

// SurgeConfig is when the detector suggests an incident: Threshold new
// cases within Window sharing terms.
type SurgeConfig struct {
	Threshold int           // default 15
	Window    time.Duration // default 10m
	Off       bool          // no suggestions in this queue
}

// Budget is how many publications a network takes per period: Requests
// per Per, with a burst of Requests (a window's budget).
type Budget struct {
	Requests int
	Per      time.Duration
}

// IsZero reports whether b sets no budget.
func (b Budget) IsZero() bool { return b.Requests <= 0 || b.Per <= 0 }

// String reads "300 per 5m0s".
func (b Budget) String() string { return fmt.Sprintf("%d per %s", b.Requests, b.Per) }

// PublishPacer is implemented by networks that know the budget their
// platform gives one account for publishing (Mastodon 300 requests per 5
// minutes, Bluesky's createRecord points, X's posts per 15 minutes). The
// outbox paces every network's publications within it (and within
// Config.Pacing when that is lower).
type PublishPacer interface {
	PublishBudget() Budget
}

// SavedReply is a reply staff send by name (`!say sorry-delay`); Text may
// use {name}, {handle}, {network}, {case}, {incident} and {status_url}.
type SavedReply struct {
	Name string
	Text string
}

// replyName is what a saved reply may be called: one word staff can type.
var replyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// placeholders are the fields a template may use.
var placeholders = []string{"name", "handle", "network", "case", "incident", "status_url"}

func (c IncidentConfig) withDefaults() IncidentConfig {
	if c.DeclareRole == RoleNone {
		c.DeclareRole = RoleAgent
	}
	c.Surge = c.Surge.withDefaults(SurgeConfig{Threshold: 15, Window: 10 * time.Minute})
	if c.BatchEvery <= 0 {
		c.BatchEvery = 5 * time.Second
	}
	if c.CardEvery <= 0 {
		c.CardEvery = 3 * time.Second
	}
	return c
}

// withDefaults fills what s leaves unset from def.
func (s SurgeConfig) withDefaults(def SurgeConfig) SurgeConfig {
	if s.Threshold <= 0 {
		s.Threshold = def.Threshold
	}
	if s.Window <= 0 {
		s.Window = def.Window
	}
	s.Off = s.Off || def.Off
	return s
}

// validateIncidents lists the problems of the incident, saved reply and
// pacing settings, each with its place in the config file.
func (c Config) validateIncidents() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	i := c.Incidents
	if i.DeclareRole != RoleNone && i.DeclareRole != RoleAgent && i.DeclareRole != RoleLead {
		add("incidents.declare_role: must be agent or lead")
	}
	checkSurge := func(path string, s SurgeConfig) {
		if s.Threshold < 0 || s.Threshold == 1 {
			add("%s.threshold: must be at least 2 (complaints in the window)", path)
		}
		if s.Window < 0 {
			add("%s.window: must not be negative", path)
		}
	}
	checkSurge("incidents.surge", i.Surge)
	for n, q := range c.Queues {
		checkSurge(fmt.Sprintf("queues[%d].surge", n), q.Surge)
	}
	if i.BatchEvery < 0 || i.CardEvery < 0 {
		add("incidents: batch_every and card_every must not be negative")
	}
	seen := map[string]bool{}
	for n, r := range c.Replies {
		switch {
		case !replyName.MatchString(r.Name):
			add("replies[%d]: name %q must be one lower-case word (letters, digits, - and _; at most 40)", n, r.Name)
		case seen[r.Name]:
			add("replies[%d]: name %q is used twice", n, r.Name)
		}
		seen[r.Name] = true
		if strings.TrimSpace(r.Text) == "" {
			add("replies[%d] (%s): text is empty", n, r.Name)
		}
		if bad := unknownPlaceholder(r.Text); bad != "" {
			add("replies[%d] (%s): unknown placeholder {%s} (known: {%s})", n, r.Name, bad, strings.Join(placeholders, "}, {"))
		}
	}
	for name, b := range c.Pacing {
		if b.Requests <= 0 || b.Per <= 0 {
			add("outbox.pacing.%s: requests and per must both be positive", name)
		}
	}
	return errs
}

// unknownPlaceholder returns the first {field} of text that is not a
// placeholder, or "".
func unknownPlaceholder(text string) string {
	for rest := text; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return ""
		}
		name := rest[i+1 : i+j]
		known := false
		for _, p := range placeholders {
			known = known || p == name
		}
		if !known && replyName.MatchString(name) {
			return name
		}
		rest = rest[i+j+1:]
	}
}
