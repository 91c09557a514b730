package bridge

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The case lifecycle as pure functions: each takes a case by value and
// returns the changed case, or a *UserError saying in plain words why the
// change is not allowed. They do no I/O and read no clock: the time of the
// change is an argument. The bridge validates a change with them before it
// journals the event, and apply runs the same function when the event is
// applied (live or on replay), so both always agree.
//
//	new ──claim──▶ claimed ──reply sent──▶ waiting ──customer writes──▶ claimed
//	 │  ◀─release─┘   │                                    (escalated when with a team)
//	 └──escalate──────┴──▶ escalated (a team's queue; claimable there)
//	any open ──resolve──▶ resolved ──reopen / customer writes within the window──▶ new
//
// Every change bumps Version (the card shows an older version: re-render)
// and sets UpdatedAt.

// FormatCaseID makes the human id of case number seq: "E-1042".
func FormatCaseID(prefix string, seq uint64) CaseID {
	return CaseID(prefix + "-" + strconv.FormatUint(seq, 10))
}

func (c Case) touched(at time.Time) Case {
	c.Version++
	c.UpdatedAt = at
	return c
}

func (c Case) refuseClosed(doing string) error {
	if c.Status == StatusResolved {
		return Userf("%s is resolved; reopen it first to %s.", c.ID, doing)
	}
	return nil
}

// unclaimedStatus is where a case stands with nobody holding it.
func (c Case) unclaimedStatus() Status {
	if c.Team != "" {
		return StatusEscalated
	}
	return StatusNew
}

// claimedStatus is where a case stands while someone works it.
func (c Case) claimedStatus() Status {
	if c.Team != "" {
		return StatusEscalated
	}
	return StatusClaimed
}

// Claim gives the case to by. Only an unclaimed open case can be claimed:
// a claim is never taken from someone by claiming.
func (c Case) Claim(by Staff, at time.Time) (Case, error) {
	if err := c.refuseClosed("claim it"); err != nil {
		return c, err
	}
	if c.Assignee == by.Key() {
		return c, Userf("You already have %s.", c.ID)
	}
	if c.Assignee != "" {
		return c, Userf("%s is already claimed by %s.", c.ID, orSomeone(c.AssigneeName))
	}
	c.Assignee, c.AssigneeName = by.Key(), by.Display()
	c.Status = c.claimedStatus()
	if c.ClaimedAt.IsZero() {
		c.ClaimedAt = at
	}
	return c.touched(at), nil
}

// Release gives the claim back. Someone else's claim needs force (leads:
// the caller checks the role).
func (c Case) Release(by Staff, force bool, at time.Time) (Case, error) {
	if c.Assignee == "" {
		return c, Userf("%s is not claimed by anyone.", c.ID)
	}
	if c.Assignee != by.Key() && !force {
		return c, Userf("%s is claimed by %s, not you; only they or a lead can release it.", c.ID, orSomeone(c.AssigneeName))
	}
	c.Assignee, c.AssigneeName = "", ""
	if c.Status.Open() {
		c.Status = c.unclaimedStatus()
	}
	return c.touched(at), nil
}

// Assign gives the claim to to, whoever held it.
func (c Case) Assign(to Staff, at time.Time) (Case, error) {
	if err := c.refuseClosed("assign it"); err != nil {
		return c, err
	}
	if c.Assignee == to.Key() {
		return c, Userf("%s is already %s's.", c.ID, to.Display())
	}
	c.Assignee, c.AssigneeName = to.Key(), to.Display()
	if c.Status != StatusWaiting {
		c.Status = c.claimedStatus()
	}
	if c.ClaimedAt.IsZero() {
		c.ClaimedAt = at
	}
	return c.touched(at), nil
}

// Escalate hands the case to team (another queue). The claim is given
// back: someone of the team claims it there.
func (c Case) Escalate(team string, at time.Time) (Case, error) {
	if err := c.refuseClosed("escalate it"); err != nil {
		return c, err
	}
	if strings.EqualFold(c.Queue, team) {
		return c, Userf("%s is already with %s.", c.ID, team)
	}
	c.Queue, c.Team = team, team
	c.Assignee, c.AssigneeName = "", ""
	c.Status = StatusEscalated
	return c.touched(at), nil
}

// Resolve closes the case. The claimer stays recorded (who handled it).
func (c Case) Resolve(summary string, at time.Time) (Case, error) {
	if c.Status == StatusResolved {
		return c, Userf("%s is already resolved.", c.ID)
	}
	c.Status = StatusResolved
	c.ResolvedAt = at
	c.Summary = summary
	c.SnoozedUntil = time.Time{}
	return c.touched(at), nil
}

// Reopen opens a resolved case again, unclaimed, in the queue it was
// resolved in.
func (c Case) Reopen(at time.Time) (Case, error) {
	if c.Status != StatusResolved {
		return c, Userf("%s is not resolved, so there is nothing to reopen.", c.ID)
	}
	c.Assignee, c.AssigneeName = "", ""
	c.Status = c.unclaimedStatus()
	c.ResolvedAt = time.Time{}
	c.Reopens++
	return c.touched(at), nil
}

// Answered records a public answer (or DM) that reached the customer: the
// first one is the first response, and a worked case now waits on the customer.
func (c Case) Answered(at time.Time) Case {
	if c.RespondedAt.IsZero() {
		c.RespondedAt = at
	}
	if c.Status == StatusClaimed || c.Status == StatusEscalated && c.Assignee != "" {
		c.Status = StatusWaiting
	}
	return c.touched(at)
}

// CustomerWrote records a post of the customer in the case: a public post
// is the one public replies answer now (a direct message is not: replies
// to it go by DM), and a case waiting on the customer is worked again.
func (c Case) CustomerWrote(p Post, at time.Time) Case {
	if !p.Direct {
		c.Last = p
	}
	c.PostCount++
	if c.Status == StatusWaiting {
		c.Status = c.claimedStatus()
	}
	return c.touched(at)
}

// MoveToPrivate continues the case by direct message.
func (c Case) MoveToPrivate(at time.Time) (Case, error) {
	if err := c.refuseClosed("move it to DM"); err != nil {
		return c, err
	}
	if c.Private {
		return c, Userf("%s already continues by direct message.", c.ID)
	}
	c.Private = true
	return c.touched(at), nil
}

// WithPriority sets the priority (higher is more urgent).
func (c Case) WithPriority(p int, at time.Time) Case {
	c.Priority = p
	return c.touched(at)
}

// WithTags adds and removes tags; tags are kept sorted and unique.
func (c Case) WithTags(add, remove []string, at time.Time) Case {
	tags := slices.Clone(c.Tags)
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(remove, t) })
	slices.Sort(tags)
	if len(tags) == 0 {
		tags = nil
	}
	c.Tags = tags
	return c.touched(at)
}

// SnoozeUntil hides the case from "next" until t; a zero t wakes it.
func (c Case) SnoozeUntil(t, at time.Time) (Case, error) {
	if err := c.refuseClosed("snooze it"); err != nil {
		return c, err
	}
	c.SnoozedUntil = t
	return c.touched(at), nil
}

// Snoozed reports whether the case is hidden from "next" at now.
func (c Case) Snoozed(now time.Time) bool { return c.SnoozedUntil.After(now) }

// Summary is the case as one line of a listing.
func (c Case) summary(due time.Time) CaseSummary {
	return CaseSummary{
		ID: c.ID, Status: c.Status, Queue: c.Queue, AssigneeName: c.AssigneeName, Priority: c.Priority,
		Text: shorten(c.First.Text, 120), OpenedAt: c.OpenedAt, ResolvedAt: c.ResolvedAt, Due: due,
	}
}

func orSomeone(name string) string {
	if name == "" {
		return "someone else"
	}
	return name
}

// shorten cuts s to at most n runes on a word boundary, with an ellipsis.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}

// caseNumber reads the number of a case id made by FormatCaseID.
func caseNumber(id CaseID) (uint64, bool) {
	_, num, ok := strings.Cut(string(id), "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}
