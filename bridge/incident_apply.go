package bridge

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// apply for the incident events: pure, like apply.go (no clock, no
// config), so a replay rebuilds the incidents exactly.

// applyIncident applies one incident.* event.
func applyIncident(tx tables, ev Event, a *applied) error {
	if ev.Incident == "" {
		return fmt.Errorf("incident missing")
	}
	old := tx.lookupIncident(ev.Incident)
	switch ev.Type {
	case EvIncSuggested:
		return newIncident(tx, ev, a, IncidentSuggested)
	case EvIncDeclared:
		if old == nil {
			return newIncident(tx, ev, a, IncidentOpen)
		}
	case EvIncThread:
		return applyIncidentThread(tx, ev, a, old)
	}
	if old == nil {
		return fmt.Errorf("no incident %s", ev.Incident)
	}
	i := *old
	var err error
	var staff Staff
	if ev.Staff != nil {
		staff = *ev.Staff
	}
	switch ev.Type {
	case EvIncDeclared:
		i, err = i.Declare(staff, ev.Text, ev.Tags, ev.At)
	case EvIncDismissed:
		i, err = i.Dismiss(ev.At)
	case EvIncLinked, EvIncUnlinked:
		return applyLink(tx, ev, a, old)
	case EvIncOwned:
		i, err = i.Own(staff, ev.To, ev.Flag, ev.At)
	case EvIncAck:
		if i.Status != IncidentOpen {
			return fmt.Errorf("incident %s is %s", i.ID, i.Status)
		}
		if i.Pending.Kind != "" {
			return fmt.Errorf("incident %s has a message pending already", i.ID)
		}
		i.Pending = pendingOf(pendingAck, ev, staff)
		i = i.touched(ev.At)
	case EvIncEdited:
		if i.Pending.Kind == "" {
			return fmt.Errorf("incident %s has no pending message", i.ID)
		}
		i.Pending.Text = ev.Text
		i = i.touched(ev.At)
	case EvIncWithdrawn:
		if i.Pending.Kind == "" {
			return fmt.Errorf("incident %s has no pending message", i.ID)
		}
		i.Pending = PendingSend{}
		i = i.touched(ev.At)
	case EvIncReleased:
		switch i.Pending.Kind {
		case pendingAck:
			i.Ack, i.AckBy, i.AckAt = i.Pending.Text, i.Pending.By, ev.At
		case pendingClosing:
			i.Closing = i.Pending.Text
		default:
			return fmt.Errorf("incident %s has no pending message", i.ID)
		}
		i.Sent, i.SentKind = i.Pending.Message, i.Pending.Kind
		i.Pending = PendingSend{}
		i = i.touched(ev.At)
	case EvIncUpdated:
		i.StatusText = ev.Text
		i = i.touched(ev.At)
	case EvIncResolved:
		if i, err = i.Resolve(ev.Text, ev.At); err == nil && ev.Text != "" {
			i.Pending = pendingOf(pendingClosing, ev, staff)
		}
	case EvIncLate:
		i.LateJoiners = ev.Flag
		i = i.touched(ev.At)
	case EvIncTerms:
		i.Terms = slices.Clone(ev.Tags)
		if ev.Text != "" {
			i.Title = ev.Text
		}
		i = i.touched(ev.At)
	case EvIncPublic:
		i.Public = true
		if ev.Text != "" {
			i.StatusText = ev.Text
		}
		i = i.touched(ev.At)
	default:
		return fmt.Errorf("unknown incident event")
	}
	if err != nil {
		return err
	}
	a.incBefore, a.inc = old, &i
	return tx.insert(tableIncidents, &i)
}

// pendingOf is the pending message an ack or resolve event carries.
func pendingOf(kind string, ev Event, by Staff) PendingSend {
	p := PendingSend{Kind: kind, Text: ev.Text, By: by, Due: ev.Until, Command: ev.Command}
	if ev.Thread != nil && ev.ID != "" {
		p.Message = MessageRef{Desk: ev.Thread.Desk, Channel: ev.Thread.Channel, Thread: ev.Thread.ID, ID: ev.ID, Author: by.ID}
	}
	return p
}

// newIncident inserts the incident a suggestion or a declaration makes.
func newIncident(tx tables, ev Event, a *applied, status IncidentStatus) error {
	if tx.lookupIncident(ev.Incident) != nil {
		return fmt.Errorf("incident %s exists already", ev.Incident)
	}
	seq, ok := incidentNumber(ev.Incident)
	if !ok {
		return fmt.Errorf("incident id %q has no number", ev.Incident)
	}
	i := &Incident{ID: ev.Incident, Seq: seq, Title: ev.Text, Queue: ev.Queue, Terms: slices.Clone(ev.Tags), Status: status,
		Origin: ev.Case, Version: 1, CreatedAt: ev.At, UpdatedAt: ev.At}
	if status == IncidentSuggested {
		i.Suggested, i.SuggestedUntil = ev.Num, ev.Until
	} else {
		if ev.Staff != nil {
			i.DeclaredBy = ev.Staff.Display()
		}
		i.DeclaredAt, i.LateJoiners = ev.At, true
	}
	if err := tx.insert(tableIncidents, i); err != nil {
		return err
	}
	m := tx.lookupMeta()
	if seq > m.LastIncident {
		m.LastIncident = seq
	}
	a.inc = i
	return tx.insert(tableMeta, &m)
}

// applyLink links a case to an open incident (it joins the end of the
// thread's feed) or unlinks it.
func applyLink(tx tables, ev Event, a *applied, old *Incident) error {
	c0 := tx.lookupCase(ev.Case)
	if c0 == nil {
		return fmt.Errorf("no case %q", ev.Case)
	}
	c := *c0
	i := *old
	if ev.Type == EvIncLinked {
		if !i.Live() {
			return fmt.Errorf("incident %s is %s", i.ID, i.Status)
		}
		if c.Incident != "" {
			return fmt.Errorf("case %s is linked to %s already", c.ID, c.Incident)
		}
		i.Feed++
		c.Incident, c.IncidentN = i.ID, i.Feed
	} else {
		if c.Incident != i.ID {
			return fmt.Errorf("case %s is not linked to %s", c.ID, i.ID)
		}
		c.Incident, c.IncidentN = "", 0
	}
	i.UpdatedAt = ev.At
	if err := tx.insert(tableIncidents, &i); err != nil {
		return err
	}
	row := tx.caseRow(c0)
	*row = c.touched(ev.At)
	a.before, a.after, a.incBefore, a.inc = c0, row, old, &i
	return tx.insert(tableCases, row)
}

// applyIncidentThread records an incident's thread in a desk.
func applyIncidentThread(tx tables, ev Event, a *applied, old *Incident) error {
	if old == nil {
		return fmt.Errorf("no incident %s", ev.Incident)
	}
	if ev.Thread == nil || ev.Thread.ID == "" {
		return fmt.Errorf("thread missing")
	}
	t := &threadRow{Desk: ev.Thread.Desk, ID: ev.Thread.ID, Channel: ev.Thread.Channel, Incident: ev.Incident, Queue: old.Queue,
		CardVersion: ev.Version, PostsShown: ev.Num}
	if err := tx.insert(tableThreads, t); err != nil {
		return err
	}
	i := *old
	i.Threads = append(slices.Clip(i.Threads), *ev.Thread)
	a.incBefore, a.inc = old, &i
	return tx.insert(tableIncidents, &i)
}

// linkFollowUp places a follow-up of a linked customer in the incident
// thread's feed (row is the post's row, about to be inserted). A case
// linked to an incident that is over and that the customer reopens is
// unlinked: it gets its own card again.
func linkFollowUp(tx tables, c *Case, row *postRow, reopens bool) error {
	if c.Incident == "" {
		return nil
	}
	old := tx.lookupIncident(c.Incident)
	if old == nil || !old.Live() {
		if reopens {
			c.Incident, c.IncidentN = "", 0
		}
		return nil
	}
	i := *old
	i.Feed++
	row.Incident, row.IN = i.ID, i.Feed
	return tx.insert(tableIncidents, &i)
}

// unlinkReopened unlinks a case reopened by staff from an incident that is over.
func unlinkReopened(tx tables, c *Case) {
	if c.Incident == "" {
		return
	}
	if i := tx.lookupIncident(c.Incident); i == nil || !i.Live() {
		c.Incident, c.IncidentN = "", 0
	}
}

// recordStatusPost keeps the latest post of an incident's public status
// thread per network, so the next update replies under it.
func recordStatusPost(tx tables, it *OutboxItem, ref PostRef, at time.Time) error {
	if it.Purpose != PurposeStatus || it.Incident == "" {
		return nil
	}
	old := tx.lookupIncident(it.Incident)
	if old == nil {
		return nil
	}
	i := *old
	i.StatusPosts = setRef(i.StatusPosts, ref, true)
	i.StatusRoots = setRef(i.StatusRoots, ref, false)
	i = i.touched(at) // the card links the thread
	return tx.insert(tableIncidents, &i)
}

// setRef is refs with ref as its network's entry (replacing one there only
// when replace), sorted by network.
func setRef(refs []PostRef, ref PostRef, replace bool) []PostRef {
	if !replace && slices.ContainsFunc(refs, func(p PostRef) bool { return p.Network == ref.Network }) {
		return refs
	}
	out := slices.DeleteFunc(slices.Clone(refs), func(p PostRef) bool { return p.Network == ref.Network })
	out = append(out, ref)
	slices.SortFunc(out, func(x, y PostRef) int { return strings.Compare(x.Network, y.Network) })
	return out
}
