package bridge

import (
	"fmt"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
)

// applied is what an event changed, for the live reactions (metrics, desk
// work, the outbox): the case and outbox item before and after.
type applied struct {
	ev         Event
	before     *Case // nil for a new case or an event without one
	after      *Case
	itemBefore *OutboxItem
	item       *OutboxItem
}

// apply changes the tables as ev says. It is pure: it reads nothing but tx
// and ev (no clock, no config), so replaying the journal rebuilds exactly
// the state the live bridge had. The live path validates a change with
// the same lifecycle functions before journaling it, so an error here
// means a damaged or foreign journal.
func apply(tx *memdb.Txn, ev Event) (applied, error) {
	a := applied{ev: ev}
	var err error
	switch ev.Type {
	case EvOpened:
		err = applyOpened(tx, ev, &a)
	case EvThread:
		err = applyThread(tx, ev, &a)
	case EvSynced:
		err = applySynced(tx, ev)
	case EvQueued:
		err = applyQueued(tx, ev, &a)
	case EvEdited, EvCancelled, EvAttempt, EvSent, EvRetrying, EvFailed, EvUncertain, EvRequeued, EvMarked:
		err = applyItem(tx, ev, &a)
	default:
		err = applyCase(tx, ev, &a)
	}
	if err != nil {
		return a, fmt.Errorf("bridge: apply %s: %w", ev.Type, err)
	}
	return a, nil
}

func applyOpened(tx *memdb.Txn, ev Event, a *applied) error {
	if ev.Post == nil || ev.Case == "" {
		return fmt.Errorf("case or post missing")
	}
	if c, _ := getCase(tx, ev.Case); c != nil {
		return fmt.Errorf("case %s exists already", ev.Case)
	}
	seq, ok := caseNumber(ev.Case)
	if !ok {
		return fmt.Errorf("case id %q has no number", ev.Case)
	}
	p := *ev.Post
	opened := ev.At
	if !p.CreatedAt.IsZero() && p.CreatedAt.Before(opened) {
		opened = p.CreatedAt // the customer has waited since they posted
	}
	c := &Case{
		ID: ev.Case, Seq: seq, Network: p.Network, Conversation: p.ConversationKey(), Customer: p.Author,
		Queue: ev.Queue, Origin: ev.Queue, Status: StatusNew, Priority: ev.Num, Tags: ev.Tags,
		First: p, Last: p, Previous: ev.Previous, PostCount: 1, Version: 1,
		OpenedAt: opened, UpdatedAt: ev.At,
	}
	if err := tx.Insert(tableCases, c); err != nil {
		return err
	}
	if err := tx.Insert(tablePosts, &postRow{Network: p.Network, ID: p.ID, Case: c.ID}); err != nil {
		return err
	}
	cust := &customerRow{Network: p.Network, Author: p.Author}
	if old := getCustomer(tx, p.Network, p.Author.ID); old != nil {
		cust.Cases = slices.Clone(old.Cases)
	}
	cust.Cases = append(cust.Cases, c.ID)
	if err := tx.Insert(tableCustomers, cust); err != nil {
		return err
	}
	m := getMeta(tx)
	if seq > m.LastCase {
		m.LastCase = seq
	}
	a.after = c
	return tx.Insert(tableMeta, &m)
}

func applyThread(tx *memdb.Txn, ev Event, a *applied) error {
	if ev.Thread == nil || ev.Thread.ID == "" {
		return fmt.Errorf("thread missing")
	}
	c, err := getCase(tx, ev.Case)
	if err != nil || c == nil {
		return fmt.Errorf("no case %s", ev.Case)
	}
	a.before, a.after = c, c
	t := &threadRow{Desk: ev.Thread.Desk, ID: ev.Thread.ID, Channel: ev.Thread.Channel, Case: ev.Case, Queue: ev.Queue,
		CardVersion: ev.Version, PostsShown: ev.Num}
	return tx.Insert(tableThreads, t)
}

func applySynced(tx *memdb.Txn, ev Event) error {
	if ev.Thread == nil {
		return fmt.Errorf("thread missing")
	}
	old := getThread(tx, ev.Thread.Desk, ev.Thread.ID)
	if old == nil {
		return fmt.Errorf("no thread %s/%s", ev.Thread.Desk, ev.Thread.ID)
	}
	t := *old
	t.CardVersion = max(t.CardVersion, ev.Version)
	t.PostsShown = max(t.PostsShown, ev.Num)
	return tx.Insert(tableThreads, &t)
}

// applyCase applies the events that change one case.
func applyCase(tx *memdb.Txn, ev Event, a *applied) error {
	old, err := getCase(tx, ev.Case)
	if err != nil || old == nil {
		return fmt.Errorf("no case %q", ev.Case)
	}
	c := *old
	var staff Staff
	if ev.Staff != nil {
		staff = *ev.Staff
	}
	switch ev.Type {
	case EvFollowUp:
		if ev.Post == nil {
			return fmt.Errorf("post missing")
		}
		if ev.Flag {
			if c, err = c.Reopen(ev.At); err != nil {
				return err
			}
		}
		n := c.PostCount
		c = c.CustomerWrote(*ev.Post, ev.At)
		if err := tx.Insert(tablePosts, &postRow{Network: ev.Post.Network, ID: ev.Post.ID, Case: c.ID, N: n, Post: ev.Post}); err != nil {
			return err
		}
	case EvClaimed:
		c, err = c.Claim(staff, ev.At)
	case EvReleased:
		c, err = c.Release(staff, ev.Flag, ev.At)
	case EvAssigned:
		if ev.To == nil {
			return fmt.Errorf("assignee missing")
		}
		c, err = c.Assign(*ev.To, ev.At)
	case EvEscalated:
		c, err = c.Escalate(ev.Team, ev.At)
	case EvResolved:
		c, err = c.Resolve(ev.Text, ev.At)
	case EvReopened:
		c, err = c.Reopen(ev.At)
	case EvPrivate:
		c, err = c.MoveToPrivate(ev.At)
	case EvPriority:
		c = c.WithPriority(ev.Num, ev.At)
	case EvTagged:
		c = c.WithTags(ev.Tags, ev.Remove, ev.At)
	case EvSnoozed:
		c, err = c.SnoozeUntil(ev.Until, ev.At)
	case EvBreached:
		switch ev.Text {
		case SLAFirstResponse:
			c.FirstResponseBreached = true
		case SLAResolution:
			c.ResolutionBreached = true
		default:
			return fmt.Errorf("unknown SLA kind %q", ev.Text)
		}
	default:
		return fmt.Errorf("unknown event type")
	}
	if err != nil {
		return err
	}
	a.before, a.after = old, &c
	return tx.Insert(tableCases, &c)
}

func applyQueued(tx *memdb.Txn, ev Event, a *applied) error {
	if ev.Item == nil || ev.Item.ID == "" {
		return fmt.Errorf("item missing")
	}
	if getItem(tx, ev.Item.ID) != nil {
		return fmt.Errorf("outbox item %s exists already", ev.Item.ID)
	}
	it := *ev.Item
	if err := tx.Insert(tableOutbox, &it); err != nil {
		return err
	}
	m := getMeta(tx)
	if it.Seq > m.LastOutbox {
		m.LastOutbox = it.Seq
	}
	a.item = &it
	if c, _ := getCase(tx, it.Case); c != nil {
		a.before, a.after = c, c
	}
	return tx.Insert(tableMeta, &m)
}

// applyItem applies the events that move one outbox item.
func applyItem(tx *memdb.Txn, ev Event, a *applied) error {
	old := getItem(tx, ev.ID)
	if old == nil {
		return fmt.Errorf("no outbox item %q", ev.ID)
	}
	it := *old
	switch ev.Type {
	case EvEdited:
		it.Text = ev.Text
	case EvCancelled:
		it.State, it.Reason = OutboxCancelled, ev.Text
	case EvAttempt:
		it.State = OutboxAttempting
		it.Attempts++
	case EvSent:
		if ev.Ref == nil {
			return fmt.Errorf("post ref missing")
		}
		it.State, it.Sent, it.Reason = OutboxSent, *ev.Ref, ""
	case EvRetrying:
		it.State, it.Due, it.Reason = OutboxQueued, ev.Until, ev.Text
	case EvFailed:
		it.State, it.Reason = OutboxFailed, ev.Text
	case EvUncertain:
		it.State, it.Reason = OutboxUncertain, ev.Text
	case EvRequeued:
		it.State, it.Due = OutboxQueued, ev.Until
		if ev.Flag {
			it.Attempts, it.Reason = 0, ""
		}
	case EvMarked:
		it.Marked = ev.State
	}
	if err := tx.Insert(tableOutbox, &it); err != nil {
		return err
	}
	a.itemBefore, a.item = old, &it
	c, _ := getCase(tx, it.Case)
	if c == nil {
		return nil
	}
	a.before, a.after = c, c
	if ev.Type == EvSent {
		// Our post is recorded: it never comes back as a complaint, and a
		// reply to it joins this case.
		if err := tx.Insert(tablePosts, &postRow{Network: ev.Ref.Network, ID: ev.Ref.ID, Case: it.Case, Own: true}); err != nil {
			return err
		}
		answered := c.Answered(ev.At)
		a.after = &answered
		return tx.Insert(tableCases, &answered)
	}
	return nil
}
