package bridge

import (
	"errors"
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
	// incBefore and inc are the incident before and after (incident events).
	incBefore *Incident
	inc       *Incident
}

// apply changes the tables as ev says. It is pure: it reads nothing but tx
// (the store, or the replay's staging tables) and ev (no clock, no config), so replaying the journal rebuilds exactly
// the state the live bridge had. The live path validates a change with
// the same lifecycle functions before journaling it, so an error here
// means a damaged or foreign journal.
func apply(tx tables, ev Event) (applied, error) {
	a := applied{ev: ev}
	var err error
	switch ev.Type {
	case EvOpened:
		err = applyOpened(tx, ev, &a)
	case EvThread:
		err = applyThread(tx, ev, &a)
	case EvSynced:
		err = applySynced(tx, ev)
	case EvQueued, EvRefused:
		err = applyQueued(tx, ev, &a)
	case EvOpening:
		err = applyOpening(tx, ev, &a)
	case EvPruned:
		err = applyPruned(tx, ev, &a)
	case EvEdited, EvCancelled, EvAttempt, EvSent, EvRetrying, EvFailed, EvUncertain, EvRequeued, EvMarked:
		err = applyItem(tx, ev, &a)
	case EvIncSuggested, EvIncDeclared, EvIncDismissed, EvIncLinked, EvIncUnlinked, EvIncOwned, EvIncAck, EvIncEdited,
		EvIncWithdrawn, EvIncReleased, EvIncUpdated, EvIncResolved, EvIncLate, EvIncTerms, EvIncPublic, EvIncThread:
		err = applyIncident(tx, ev, &a)
	default:
		err = applyCase(tx, ev, &a)
	}
	if err != nil {
		return a, fmt.Errorf("bridge: apply %s: %w", ev.Type, err)
	}
	return a, nil
}

func applyOpened(tx tables, ev Event, a *applied) error {
	if ev.Post == nil || ev.Case == "" {
		return fmt.Errorf("case or post missing")
	}
	if c := tx.lookupCase(ev.Case); c != nil {
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
		First: p, Last: p, Previous: ev.Previous, PostCount: 1, Version: 1, Private: p.Direct,
		OpenedAt: opened, UpdatedAt: ev.At,
	}
	if err := tx.insert(tableCases, c); err != nil {
		return err
	}
	if err := tx.insert(tablePosts, &postRow{Network: p.Network, ID: p.ID, Case: c.ID}); err != nil {
		return err
	}
	m := tx.lookupMeta()
	if seq > m.LastCase {
		m.LastCase = seq
	}
	a.after = c
	return tx.insert(tableMeta, &m)
}

// applyPruned forgets a resolved case and everything of it (retention.go
// decides when). Its id is never made again: the counter only grows.
func applyPruned(tx tables, ev Event, a *applied) error {
	c := tx.lookupCase(ev.Case)
	if c == nil {
		return fmt.Errorf("no case %s", ev.Case)
	}
	if c.Status != StatusResolved {
		return fmt.Errorf("case %s is %s, not resolved", c.ID, c.Status)
	}
	a.before = c
	return tx.prune(c)
}

func applyThread(tx tables, ev Event, a *applied) error {
	if ev.Thread == nil || ev.Thread.ID == "" {
		return fmt.Errorf("thread missing")
	}
	old := tx.lookupCase(ev.Case)
	if old == nil {
		return fmt.Errorf("no case %s", ev.Case)
	}
	t := &threadRow{Desk: ev.Thread.Desk, ID: ev.Thread.ID, Channel: ev.Thread.Channel, Case: ev.Case, Queue: ev.Queue,
		CardVersion: ev.Version, PostsShown: ev.Num}
	if err := tx.insert(tableThreads, t); err != nil {
		return err
	}
	if o := tx.lookupOpen(ev.Case, ev.Thread.Desk, ev.Queue); o != nil {
		if err := tx.remove(tableOpens, o); err != nil {
			return err
		}
	}
	// Listing the thread on the case is no change the card shows: no new version.
	c := *old
	c.Threads = append(slices.Clip(c.Threads), *ev.Thread)
	a.before, a.after = old, &c
	return tx.insert(tableCases, &c)
}

// applyOpening records that a desk is about to show case's card in a
// queue: the key it posts the card with, and when.
func applyOpening(tx tables, ev Event, a *applied) error {
	if ev.Thread == nil || ev.Thread.Desk == "" || ev.ID == "" {
		return fmt.Errorf("desk or key missing")
	}
	c := tx.lookupCase(ev.Case)
	if c == nil {
		return fmt.Errorf("no case %s", ev.Case)
	}
	a.before, a.after = c, c
	return tx.insert(tableOpens, &openRow{Case: ev.Case, Desk: ev.Thread.Desk, Queue: ev.Queue, Channel: ev.Thread.Channel, Key: ev.ID, At: ev.At})
}

func applySynced(tx tables, ev Event) error {
	if ev.Thread == nil {
		return fmt.Errorf("thread missing")
	}
	old := tx.lookupThread(ev.Thread.Desk, ev.Thread.ID)
	if old == nil {
		return fmt.Errorf("no thread %s/%s", ev.Thread.Desk, ev.Thread.ID)
	}
	t := *old
	t.CardVersion = max(t.CardVersion, ev.Version)
	t.PostsShown = max(t.PostsShown, ev.Num)
	return tx.insert(tableThreads, &t)
}

// applyCase applies the events that change one case.
func applyCase(tx tables, ev Event, a *applied) error {
	old := tx.lookupCase(ev.Case)
	if old == nil {
		return fmt.Errorf("no case %q", ev.Case)
	}
	var err error
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
		post := &postRow{Network: ev.Post.Network, ID: ev.Post.ID, Case: c.ID, N: n, Post: ev.Post}
		if err := linkFollowUp(tx, &c, post, ev.Flag); err != nil {
			return err
		}
		if err := tx.insert(tablePosts, post); err != nil {
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
		unlinkReopened(tx, &c)
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
	row := tx.caseRow(old)
	*row = c
	a.before, a.after = old, row
	return tx.insert(tableCases, row)
}

func applyQueued(tx tables, ev Event, a *applied) error {
	if ev.Item == nil || ev.Item.ID == "" {
		return fmt.Errorf("item missing")
	}
	if tx.lookupItem(ev.Item.ID) != nil {
		return fmt.Errorf("outbox item %s exists already", ev.Item.ID)
	}
	if ev.Type == EvRefused && ev.Item.State != OutboxCancelled {
		return fmt.Errorf("a refused item is %s, not cancelled", ev.Item.State)
	}
	it := *ev.Item
	if err := tx.insert(tableOutbox, &it); err != nil {
		return err
	}
	m := tx.lookupMeta()
	if it.Seq > m.LastOutbox {
		m.LastOutbox = it.Seq
	}
	a.item = &it
	if c := tx.lookupCase(it.Case); c != nil {
		a.before, a.after = c, c
	}
	return tx.insert(tableMeta, &m)
}

// applyItem applies the events that move one outbox item.
func applyItem(tx tables, ev Event, a *applied) error {
	old := tx.lookupItem(ev.ID)
	if old == nil {
		return fmt.Errorf("no outbox item %q", ev.ID)
	}
	it := *old
	switch ev.Type {
	case EvEdited:
		// The pending mark shows the text that will go: show it again.
		it.Text, it.Marked = ev.Text, ""
	case EvCancelled:
		it.State, it.Reason = OutboxCancelled, ev.Text
	case EvAttempt:
		it.State = OutboxAttempting
		it.Attempts++
	case EvSent:
		if ev.Ref == nil {
			return fmt.Errorf("post ref missing")
		}
		it.State, it.Sent, it.Reason = OutboxSent, *ev.Ref, ev.Text // the network's warning, if any
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
	if err := tx.insert(tableOutbox, &it); err != nil {
		return err
	}
	a.itemBefore, a.item = old, &it
	if ev.Type == EvSent {
		if err := recordStatusPost(tx, &it, *ev.Ref, ev.At); err != nil {
			return err
		}
	}
	c := tx.lookupCase(it.Case)
	if c == nil {
		return nil
	}
	a.before, a.after = c, c
	if ev.Type == EvSent {
		// Our post is recorded: it never comes back as a complaint, and a
		// reply to it joins this case.
		if err := tx.insert(tablePosts, &postRow{Network: ev.Ref.Network, ID: ev.Ref.ID, Case: it.Case, Own: true}); err != nil {
			return err
		}
		answered := c.Answered(ev.At)
		row := tx.caseRow(c)
		*row = answered
		a.after = row
		return tx.insert(tableCases, row)
	}
	return nil
}

// tables is what apply reads and writes: point lookups by primary key,
// and inserts (which replace a row with the same key). A live change runs
// apply on the store's write transaction (storeTables); start-up replays
// the journal into plain maps (staging) and loads the result into the
// store once, which is several times faster than changing the store's
// indexes event by event.
type tables interface {
	lookupCase(id CaseID) *Case
	lookupPost(network, id string) *postRow
	lookupThread(desk, id string) *threadRow
	lookupItem(id string) *OutboxItem
	lookupOpen(id CaseID, desk, queue string) *openRow
	lookupIncident(id IncidentID) *Incident
	lookupMeta() metaRow
	insert(table string, obj any) error
	// remove deletes a row (only the opens table's rows are ever removed
	// alone; a pruned case goes with prune).
	remove(table string, obj any) error
	// prune removes case c and every row of it: its threads, its posts (the
	// customer's and ours), its outbox items and its cards being opened.
	prune(c *Case) error
	// caseRow is where a changed version of case old goes before it is
	// inserted: a new row in the store, whose rows readers share and which
	// never change; old itself in the replay's staging, which nobody else
	// sees (there an applied's before and after are the same row, and
	// replay reads neither). Most events change a case: reusing its row
	// spares replay an allocation of a whole case per event.
	caseRow(old *Case) *Case
}

// storeTables are the store's tables inside a write transaction. With
// counters set, the meta row (the id counters, which every new case
// changes) is held there and inserted once when the change commits
// (writeTx.flushCounters) instead of once per event.
type storeTables struct {
	tx       *memdb.Txn
	counters **metaRow
}

func (s storeTables) lookupCase(id CaseID) *Case              { c, _ := getCase(s.tx, id); return c }
func (s storeTables) lookupPost(network, id string) *postRow  { return getPost(s.tx, network, id) }
func (s storeTables) lookupThread(desk, id string) *threadRow { return getThread(s.tx, desk, id) }
func (s storeTables) lookupItem(id string) *OutboxItem        { return getItem(s.tx, id) }
func (s storeTables) lookupOpen(id CaseID, desk, queue string) *openRow {
	return getOpen(s.tx, id, desk, queue)
}
func (s storeTables) lookupIncident(id IncidentID) *Incident { return getIncident(s.tx, id) }
func (s storeTables) lookupMeta() metaRow {
	if s.counters != nil && *s.counters != nil {
		return **s.counters
	}
	return getMeta(s.tx)
}

func (s storeTables) insert(table string, obj any) error {
	if m, ok := obj.(*metaRow); ok && table == tableMeta && s.counters != nil {
		*s.counters = m
		return nil
	}
	return s.tx.Insert(table, obj)
}

func (s storeTables) caseRow(*Case) *Case { return new(Case) }

func (s storeTables) remove(table string, obj any) error { return s.tx.Delete(table, obj) }

func (s storeTables) prune(c *Case) error {
	del := func(table string, obj any) error {
		if err := s.tx.Delete(table, obj); err != nil && !errors.Is(err, memdb.ErrNotFound) {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
		return nil
	}
	for _, t := range c.Threads {
		if row := getThread(s.tx, t.Desk, t.ID); row != nil {
			if err := del(tableThreads, row); err != nil {
				return err
			}
		}
	}
	posts := followUpPosts(s.tx, c.ID, 0)
	if p := getPost(s.tx, c.First.Network, c.First.ID); p != nil && p.Case == c.ID {
		posts = append(posts, p)
	}
	for _, it := range itemsOf(s.tx, c.ID) {
		if it.Sent.ID != "" {
			if p := getPost(s.tx, it.Sent.Network, it.Sent.ID); p != nil && p.Case == c.ID {
				posts = append(posts, p)
			}
		}
		if err := del(tableOutbox, it); err != nil {
			return err
		}
	}
	for _, p := range posts {
		if err := del(tablePosts, p); err != nil {
			return err
		}
	}
	for _, o := range opensOf(s.tx, c.ID) {
		if err := del(tableOpens, o); err != nil {
			return err
		}
	}
	return del(tableCases, c)
}

// staging holds the tables as maps while the journal is replayed.
type staging struct {
	cases   map[CaseID]*Case
	posts   map[[2]string]*postRow
	threads map[[2]string]*threadRow
	items   map[string]*OutboxItem
	opens   map[[3]string]*openRow
	inc     map[IncidentID]*Incident
	meta    *metaRow
	order   []CaseID // cases in the order they were made, so loading is deterministic
	// pruned are the cases a case.pruned event removed. Their rows stay in
	// the maps (finding them would need indexes the staging does not
	// keep), hidden from every lookup and left out of the load.
	pruned map[CaseID]bool
}

func newStaging() *staging {
	return &staging{cases: map[CaseID]*Case{}, posts: map[[2]string]*postRow{},
		threads: map[[2]string]*threadRow{}, items: map[string]*OutboxItem{}, opens: map[[3]string]*openRow{},
		inc: map[IncidentID]*Incident{}, pruned: map[CaseID]bool{}}
}

func (s *staging) lookupCase(id CaseID) *Case { return s.cases[id] }
func (s *staging) lookupPost(network, id string) *postRow {
	return unlessPruned(s, s.posts[[2]string{network, id}], func(p *postRow) CaseID { return p.Case })
}
func (s *staging) lookupThread(desk, id string) *threadRow {
	return unlessPruned(s, s.threads[[2]string{desk, id}], func(t *threadRow) CaseID { return t.Case })
}
func (s *staging) lookupItem(id string) *OutboxItem {
	return unlessPruned(s, s.items[id], func(it *OutboxItem) CaseID { return it.Case })
}
func (s *staging) lookupOpen(id CaseID, desk, queue string) *openRow {
	return unlessPruned(s, s.opens[[3]string{string(id), desk, queue}], func(o *openRow) CaseID { return o.Case })
}
func (s *staging) caseRow(old *Case) *Case { return old }

func (s *staging) remove(table string, obj any) error {
	if o, ok := obj.(*openRow); ok && table == tableOpens {
		delete(s.opens, o.key())
		return nil
	}
	return fmt.Errorf("remove from %s: not supported", table)
}
func (s *staging) lookupIncident(id IncidentID) *Incident { return s.inc[id] }

// unlessPruned is row, or nil when it belongs to a pruned case.
func unlessPruned[T any](s *staging, row *T, caseOf func(*T) CaseID) *T {
	if row == nil || len(s.pruned) > 0 && s.pruned[caseOf(row)] {
		return nil
	}
	return row
}

func (s *staging) prune(c *Case) error {
	delete(s.cases, c.ID)
	s.pruned[c.ID] = true
	return nil
}
func (s *staging) lookupMeta() metaRow {
	if s.meta == nil {
		return metaRow{ID: metaID}
	}
	return *s.meta
}

func (s *staging) insert(table string, obj any) error {
	switch table {
	case tableCases:
		c := obj.(*Case)
		if _, ok := s.cases[c.ID]; !ok {
			s.order = append(s.order, c.ID)
		}
		s.cases[c.ID] = c
	case tablePosts:
		p := obj.(*postRow)
		s.posts[[2]string{p.Network, p.ID}] = p
	case tableThreads:
		t := obj.(*threadRow)
		s.threads[[2]string{t.Desk, t.ID}] = t
	case tableOutbox:
		it := obj.(*OutboxItem)
		s.items[it.ID] = it
	case tableOpens:
		o := obj.(*openRow)
		s.opens[o.key()] = o
	case tableMeta:
		s.meta = obj.(*metaRow)
	case tableIncidents:
		i := obj.(*Incident)
		s.inc[i.ID] = i
	default:
		return fmt.Errorf("unknown table %q", table)
	}
	return nil
}

// load inserts every staged row into the store.
func (s *staging) load(tx *memdb.Txn) error {
	put := func(table string, obj any) error {
		if err := tx.Insert(table, obj); err != nil {
			return fmt.Errorf("bridge: load %s: %w", table, err)
		}
		return nil
	}
	for _, id := range s.order {
		if c := s.cases[id]; c != nil {
			if err := put(tableCases, c); err != nil {
				return err
			}
		}
	}
	for _, p := range s.posts {
		if !s.pruned[p.Case] {
			if err := put(tablePosts, p); err != nil {
				return err
			}
		}
	}
	for _, t := range s.threads {
		if !s.pruned[t.Case] {
			if err := put(tableThreads, t); err != nil {
				return err
			}
		}
	}
	for _, it := range s.items {
		if !s.pruned[it.Case] {
			if err := put(tableOutbox, it); err != nil {
				return err
			}
		}
	}
	for _, o := range s.opens {
		if !s.pruned[o.Case] {
			if err := put(tableOpens, o); err != nil {
				return err
			}
		}
	}
	for _, i := range s.inc {
		if err := put(tableIncidents, i); err != nil {
			return err
		}
	}
	if s.meta != nil {
		return put(tableMeta, s.meta)
	}
	return nil
}
