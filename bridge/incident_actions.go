package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// The staff actions on incidents, as actions.go is for cases: each checks
// the caller's role, validates the change with the incident's lifecycle
// function, journals its events and returns the incident as it is now.
// Refusals are *UserError in plain words. Each blocks until the change is
// on disk; cards and threads follow asynchronously.

// actIncident runs one staff change on incident id.
func (b *Bridge) actIncident(id IncidentID, by Staff, need Role, doing string, build func(w *writeTx, i *Incident) error) (IncidentView, error) {
	if err := b.needRole(by, need, doing); err != nil {
		return IncidentView{}, err
	}
	_, err := b.change(func(w *writeTx) error {
		i := getIncident(w.Txn, id)
		if i == nil {
			return Userf("There is no incident %s.", id)
		}
		return build(w, i)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return IncidentView{}, err
	}
	v, _ := b.Incident(string(id))
	return v, nil
}

// needRole refuses by unless they have role need.
func (b *Bridge) needRole(by Staff, need Role, doing string) error {
	if role := b.RoleOf(by); role < need {
		if role == RoleNone {
			return Userf("Only staff can %s. Ask a lead to add you to the staff list.", doing)
		}
		return Userf("Only leads can %s.", doing)
	}
	return nil
}

// Incident returns an incident by id (as staff type it: "inc-3").
func (b *Bridge) Incident(id string) (IncidentView, bool) {
	tx := b.read()
	i := findIncident(tx, id)
	if i == nil {
		return IncidentView{}, false
	}
	return b.incidentView(tx, i), true
}

// IncidentForThread returns the incident whose thread t is.
func (b *Bridge) IncidentForThread(t ThreadRef) (IncidentView, bool) {
	if t.ID == "" {
		return IncidentView{}, false
	}
	row, tx := b.thread(t.Desk, t.ID)
	if row == nil || row.Incident == "" {
		return IncidentView{}, false
	}
	i := getIncident(tx, row.Incident)
	if i == nil {
		return IncidentView{}, false
	}
	return b.incidentView(tx, i), true
}

// Incidents lists a queue's open incidents and pending suggestions ("" lists every queue's).
func (b *Bridge) Incidents(queue string) []IncidentSummary {
	tx := b.read()
	var out []IncidentSummary
	for _, i := range allIncidents(tx) {
		if (queue == "" || i.Queue == b.queueName(queue)) && (i.Live() || i.Status == IncidentSuggested) {
			out = append(out, incidentSummary(tx, i))
		}
	}
	return out
}

func incidentSummary(tx *memdb.Txn, i *Incident) IncidentSummary {
	return IncidentSummary{ID: i.ID, Title: i.Title, Status: i.Status, Cases: len(linkedCases(tx, i.ID))}
}

// DeclareIncident opens an incident in queue by hand: `!incident open
// "Fibre cut near Braga" broadband braga`. Its open, unclaimed cases that
// match the terms are linked, and so are the ones that come later. The
// declarer owns it.
func (b *Bridge) DeclareIncident(_ context.Context, queue string, by Staff, title string, terms []string) (IncidentView, error) {
	if err := b.needRole(by, b.cfg.Incidents.DeclareRole, "declare incidents"); err != nil {
		return IncidentView{}, err
	}
	q, ok := b.queues[b.queueName(queue)]
	if !ok {
		return IncidentView{}, Userf("There is no queue %q.", queue)
	}
	if err := b.incidentsShown(q); err != nil {
		return IncidentView{}, err
	}
	title, terms = strings.TrimSpace(title), NormTerms(terms)
	if title == "" {
		return IncidentView{}, Userf("Give the incident a title: `%sincident open \"Fibre cut near Braga\" broadband braga`.", b.cfg.CommandPrefix)
	}
	if len(terms) == 0 {
		terms = NormTerms([]string{title})
	}
	if len(terms) == 0 {
		return IncidentView{}, Userf("Give the words its complaints share (after the title), so Earshot can link them.")
	}
	var id IncidentID
	_, err := b.change(func(w *writeTx) error {
		id = FormatIncidentID(w.counters().LastIncident + 1)
		return b.declare(w, Event{Type: EvIncDeclared, Incident: id, Staff: staffPtr(by), Queue: q.Name, Tags: terms, Text: title})
	})
	if err != nil {
		return IncidentView{}, err
	}
	v, _ := b.Incident(string(id))
	return v, nil
}

// DeclareFromCase starts an incident from case id (the card's "Start
// incident" button): its queue, a title from the complaint, and the terms
// it shares most with the queue's other open complaints. The case is linked.
func (b *Bridge) DeclareFromCase(_ context.Context, id CaseID, by Staff) (IncidentView, error) {
	if err := b.needRole(by, b.cfg.Incidents.DeclareRole, "declare incidents"); err != nil {
		return IncidentView{}, err
	}
	var inc IncidentID
	_, err := b.change(func(w *writeTx) error {
		c := findCase(w.Txn, id)
		if c == nil {
			return b.noCase(w.Txn, id)
		}
		if c.Incident != "" {
			return Userf("%s is already part of %s.", c.ID, c.Incident)
		}
		if !c.Status.Open() {
			return Userf("%s is resolved; start an incident from an open case.", c.ID)
		}
		if err := b.incidentsShown(b.queues[c.Queue]); err != nil {
			return err
		}
		terms := b.sharedTerms(w.Txn, c)
		inc = FormatIncidentID(w.counters().LastIncident + 1)
		title := "Started from " + string(c.ID) + ": " + shorten(c.First.Text, 60)
		if err := b.declare(w, Event{Type: EvIncDeclared, Incident: inc, Staff: staffPtr(by), Queue: c.Queue, Tags: terms, Text: title, Case: c.ID}); err != nil {
			return err
		}
		c = findCase(w.Txn, c.ID)
		if c.Incident == "" {
			return b.link(w, c, inc, by)
		}
		return nil
	})
	if err != nil {
		return IncidentView{}, err
	}
	v, _ := b.Incident(string(inc))
	return v, nil
}

// DeclareSuggested declares a suggestion (its card's Declare button).
func (b *Bridge) DeclareSuggested(_ context.Context, id IncidentID, by Staff) (IncidentView, error) {
	return b.actIncident(id, by, b.cfg.Incidents.DeclareRole, "declare incidents", func(w *writeTx, i *Incident) error {
		if _, err := i.Declare(by, "", nil, w.now); err != nil {
			return err
		}
		return b.declare(w, Event{Type: EvIncDeclared, Incident: i.ID, Staff: staffPtr(by)})
	})
}

// declare emits ev (a declaration), makes the declarer the owner, and
// links the queue's open, unclaimed, unlinked cases that match its terms.
func (b *Bridge) declare(w *writeTx, ev Event) error {
	a, err := w.emit(ev)
	if err != nil {
		return err
	}
	i := a.inc
	if _, err := w.emit(Event{Type: EvIncOwned, Incident: i.ID, Staff: ev.Staff, To: ev.Staff}); err != nil {
		return err
	}
	var open []*Case
	for _, s := range OpenStatuses {
		open = append(open, casesIn(w.Txn, i.Queue, s)...)
	}
	slices.SortFunc(open, func(x, y *Case) int { return int(x.Seq) - int(y.Seq) })
	for _, c := range open {
		if c.Incident == "" && c.Assignee == "" && c.Team == "" && matchesTerms(i.Terms, caseTerms(c)) {
			if _, err := w.emit(Event{Type: EvIncLinked, Incident: i.ID, Case: c.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

// sharedTerms are the (at most three) terms of c's complaint that most of
// its queue's other open, unlinked complaints share; its first terms when
// none shares any.
func (b *Bridge) sharedTerms(tx *memdb.Txn, c *Case) []string {
	mine := caseTerms(c)
	df := map[string]int{}
	for _, s := range OpenStatuses {
		for _, other := range casesIn(tx, c.Queue, s) {
			if other.ID == c.ID || other.Incident != "" {
				continue
			}
			for _, t := range caseTerms(other) {
				if slices.Contains(mine, t) {
					df[t]++
				}
			}
		}
	}
	ranked := slices.Clone(mine)
	slices.SortStableFunc(ranked, func(x, y string) int { return df[y] - df[x] })
	return ranked[:min(3, len(ranked))]
}

// DismissIncident says a suggestion is not an incident (its card's button).
func (b *Bridge) DismissIncident(_ context.Context, id IncidentID, by Staff) (IncidentView, error) {
	return b.actIncident(id, by, b.cfg.Incidents.DeclareRole, "dismiss suggestions", func(w *writeTx, i *Incident) error {
		if _, err := i.Dismiss(w.now); err != nil {
			return err
		}
		_, err := w.emit(Event{Type: EvIncDismissed, Incident: i.ID, Staff: staffPtr(by)})
		return err
	})
}

// LinkCase links case id to incident inc by hand. A case its linker has
// claimed is released into the incident; someone else's claim is refused.
func (b *Bridge) LinkCase(_ context.Context, id CaseID, inc IncidentID, by Staff) (CaseView, error) {
	return b.act(id, by, RoleAgent, "link cases", func(w *writeTx, c *Case) error {
		return b.link(w, c, inc, by)
	})
}

func (b *Bridge) link(w *writeTx, c *Case, inc IncidentID, by Staff) error {
	i := getIncident(w.Txn, inc)
	switch {
	case i == nil:
		return Userf("There is no incident %s.", inc)
	case !i.Live():
		return Userf("%s is %s; only an open incident takes cases.", i.ID, i.Status)
	case c.Incident == i.ID:
		return Userf("%s is already part of %s.", c.ID, i.ID)
	case c.Incident != "":
		return Userf("%s is part of %s; split it out first (`%sincident split`).", c.ID, c.Incident, b.cfg.CommandPrefix)
	case !c.Status.Open():
		return Userf("%s is resolved; reopen it to link it.", c.ID)
	case c.Queue != i.Queue:
		return Userf("%s is in %s and %s in %s; an incident takes cases of its own queue.", c.ID, c.Queue, i.ID, i.Queue)
	case c.Assignee != "" && c.Assignee != by.Key():
		return Userf("%s holds the claim on %s; they or a lead release it first.", orSomeone(c.AssigneeName), c.ID)
	}
	if c.Assignee != "" {
		if _, err := w.emit(Event{Type: EvReleased, Case: c.ID, Staff: staffPtr(by)}); err != nil {
			return err
		}
	}
	if _, err := w.emit(Event{Type: EvIncLinked, Incident: i.ID, Case: c.ID, Staff: staffPtr(by)}); err != nil {
		return err
	}
	return b.lateAck(w, i.ID, c.ID)
}

// UnlinkCase takes case id out of its incident (split out): it gets its
// own card again, and nothing of the incident is sent to it any more.
func (b *Bridge) UnlinkCase(_ context.Context, id CaseID, by Staff) (CaseView, error) {
	return b.act(id, by, RoleAgent, "split cases out", func(w *writeTx, c *Case) error {
		if c.Incident == "" {
			return Userf("%s is not part of an incident.", c.ID)
		}
		return b.unlink(w, c, &by, true, "split out by "+by.Display())
	})
}

// unlink takes c out of its incident and cancels what the incident still
// had queued for it; split says staff did it (by hand).
func (b *Bridge) unlink(w *writeTx, c *Case, by *Staff, split bool, why string) error {
	if c.Incident == "" {
		return nil
	}
	inc := c.Incident
	if _, err := w.emit(Event{Type: EvIncUnlinked, Incident: inc, Case: c.ID, Staff: by, Flag: split, Text: why}); err != nil {
		return err
	}
	for _, it := range itemsOf(w.Txn, c.ID) {
		if it.Incident == inc && it.State == OutboxQueued {
			reason := fmt.Sprintf("%s left %s (%s) before this went out.", c.ID, inc, why)
			if _, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: reason}); err != nil {
				return err
			}
		}
	}
	return nil
}

// unlinkForAction splits c out of its incident because by works it on
// its own (claims, assigns or escalates it): the claimer speaks for it now.
func (b *Bridge) unlinkForAction(w *writeTx, c *Case, by Staff, doing string) error {
	if c.Incident == "" {
		return nil
	}
	if i := getIncident(w.Txn, c.Incident); i == nil || !i.Live() {
		return nil
	}
	return b.unlink(w, c, &by, true, doing+" by "+by.Display())
}

// OwnIncident gives incident id to by (its Claim button, `!incident claim`).
func (b *Bridge) OwnIncident(_ context.Context, id IncidentID, by Staff) (IncidentView, error) {
	return b.actIncident(id, by, RoleAgent, "own incidents", func(w *writeTx, i *Incident) error {
		if _, err := i.Own(by, &by, false, w.now); err != nil {
			return err
		}
		_, err := w.emit(Event{Type: EvIncOwned, Incident: i.ID, Staff: staffPtr(by), To: staffPtr(by)})
		return err
	})
}

// ReleaseIncident gives by's ownership back; force (leads) takes anyone's.
func (b *Bridge) ReleaseIncident(_ context.Context, id IncidentID, by Staff, force bool) (IncidentView, error) {
	need, doing := RoleAgent, "release incidents"
	if force {
		need, doing = RoleLead, "take an incident from its owner"
	}
	return b.actIncident(id, by, need, doing, func(w *writeTx, i *Incident) error {
		if _, err := i.Own(by, nil, force, w.now); err != nil {
			return err
		}
		_, err := w.emit(Event{Type: EvIncOwned, Incident: i.ID, Staff: staffPtr(by), Flag: force && i.Owner != by.Key()})
		return err
	})
}

// UpdateIncident sets the incident's status text (`!incident update
// ...`): the card shows it, and with a public status thread it is posted
// there, under the last post. Only the owner speaks for the incident.
func (b *Bridge) UpdateIncident(ctx context.Context, id IncidentID, by Staff, text string) (IncidentView, error) {
	text = strings.TrimSpace(text)
	return b.actIncident(id, by, RoleAgent, "update incidents", func(w *writeTx, i *Incident) error {
		if text == "" {
			return Userf("Usage: `%sincident update text`.", b.cfg.CommandPrefix)
		}
		if i.Status != IncidentOpen {
			return Userf("%s is %s; only an open incident takes updates.", i.ID, i.Status)
		}
		if i.Owner != by.Key() {
			return b.notOwner(i)
		}
		text := text
		if i.Public {
			var err error
			if text, err = b.mayBroadcast(ctx, w, i, by, text); err != nil {
				return err
			}
		}
		if _, err := w.emit(Event{Type: EvIncUpdated, Incident: i.ID, Staff: staffPtr(by), Text: text}); err != nil {
			return err
		}
		if i.Public {
			return b.queueStatusPosts(w, i, by, text)
		}
		return nil
	})
}

// StartStatusThread starts the incident's public status thread: text goes
// out as one top-level post on every network; updates reply under it.
func (b *Bridge) StartStatusThread(ctx context.Context, id IncidentID, by Staff, text string) (IncidentView, error) {
	text = strings.TrimSpace(text)
	return b.actIncident(id, by, RoleAgent, "start status threads", func(w *writeTx, i *Incident) error {
		switch {
		case text == "":
			return Userf("Usage: `%sincident status text`: the first post of the public status thread.", b.cfg.CommandPrefix)
		case i.Status != IncidentOpen:
			return Userf("%s is %s; only an open incident gets a status thread.", i.ID, i.Status)
		case i.Public:
			return Userf("%s has its status thread already; `%sincident update text` adds to it.", i.ID, b.cfg.CommandPrefix)
		}
		text, err := b.mayBroadcast(ctx, w, i, by, text)
		if err != nil {
			return err
		}
		if _, err := w.emit(Event{Type: EvIncPublic, Incident: i.ID, Staff: staffPtr(by), Text: text}); err != nil {
			return err
		}
		return b.queueStatusPosts(w, i, by, text)
	})
}

// mayBroadcast checks that by may post text publicly for i on every
// network, through the gate a reply passes (publicText), and returns the
// text to post.
func (b *Bridge) mayBroadcast(ctx context.Context, w *writeTx, i *Incident, by Staff, text string) (string, error) {
	if i.Owner != by.Key() {
		return "", b.notOwner(i)
	}
	if len(b.broadcasters()) == 0 {
		return "", Userf("No network here takes public posts, so there can be no status thread.")
	}
	text, err := b.publicText(ctx, i, text)
	if err != nil {
		return "", err
	}
	for _, name := range b.broadcasters() {
		if r := b.tooLong(&Case{Network: name}, text, false); r != "" {
			return "", &UserError{Msg: "Not posted: " + r}
		}
	}
	return text, nil
}

// notOwner is the refusal for someone speaking for an incident they do not own.
func (b *Bridge) notOwner(i *Incident) error {
	if i.Owner == "" {
		return Userf("Nobody owns %s, so nothing is published. Take it first (its Claim button or `%sincident claim`).", i.ID, b.cfg.CommandPrefix)
	}
	return Userf("%s owns %s; only the owner speaks for the incident.", orSomeone(i.OwnerName), i.ID)
}

// Broadcaster is implemented by networks that can post to everyone, not
// only answer someone: an incident's public status thread goes to them.
type Broadcaster interface {
	Broadcasts() bool
}

// broadcasters lists the networks that take status posts, sorted.
func (b *Bridge) broadcasters() []string {
	var out []string
	for _, name := range b.networkNames() {
		if bc, ok := b.networks[name].(Broadcaster); ok && bc.Broadcasts() {
			out = append(out, name)
		}
	}
	return out
}

// queueStatusPosts queues one post of the status thread per network that
// takes them, under the thread's latest post where there is one.
func (b *Bridge) queueStatusPosts(w *writeTx, i *Incident, by Staff, text string) error {
	for _, name := range b.broadcasters() {
		if _, err := b.enqueue(w, nil, itemSpec{by: by, text: text, network: name, incident: i.ID, purpose: PurposeStatus}); err != nil {
			return err
		}
	}
	return nil
}

// networkNames lists the networks, sorted.
func (b *Bridge) networkNames() []string {
	names := make([]string, 0, len(b.networks))
	for n := range b.networks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ResolveIncident closes the incident: every linked case is resolved
// (each reopens on its own when its customer writes within the reopen
// window), and closing, when given, goes to every linked complainant
// after the undo window (msg is its desk message, if any: an edit or a
// delete in the window counts). Only the owner resolves it.
func (b *Bridge) ResolveIncident(ctx context.Context, id IncidentID, by Staff, closing string, msg MessageRef, command string) (IncidentView, error) {
	closing = strings.TrimSpace(closing)
	return b.actIncident(id, by, RoleAgent, "resolve incidents", func(w *writeTx, i *Incident) error {
		closing := closing
		if _, err := i.Resolve(closing, w.now); err != nil {
			return err
		}
		if closing != "" && i.Owner != by.Key() {
			return b.notOwner(i)
		}
		if closing != "" {
			// A closing message the gate refuses refuses the resolve: the
			// owner resolves again with a text that may go, or with none.
			var err error
			if closing, err = b.publicText(ctx, i, closing); err != nil {
				return err
			}
			if err := b.checkFanOut(w, i, closing); err != nil {
				return err
			}
		}
		if i.Pending.Kind != "" {
			if _, err := w.emit(Event{Type: EvIncWithdrawn, Incident: i.ID, Text: "The incident was resolved before it went; the closing message goes instead.", Flag: true}); err != nil {
				return err
			}
		}
		ev := Event{Type: EvIncResolved, Incident: i.ID, Staff: staffPtr(by), Text: closing, Command: command, Until: w.now.Add(b.cfg.UndoWindow)}
		if msg.ID != "" {
			ev.Thread, ev.ID = &ThreadRef{Desk: msg.Desk, Channel: msg.Channel, ID: msg.Thread}, msg.ID
		}
		if _, err := w.emit(ev); err != nil {
			return err
		}
		for _, c := range linkedCases(w.Txn, i.ID) {
			for _, it := range itemsOf(w.Txn, c.ID) {
				if it.Incident == i.ID && it.Purpose == PurposeAck && it.State == OutboxQueued {
					if _, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: fmt.Sprintf("%s was resolved before this went; the closing message goes instead.", i.ID)}); err != nil {
						return err
					}
				}
			}
			if c.Status.Open() {
				if _, err := w.emit(Event{Type: EvResolved, Case: c.ID, Staff: staffPtr(by), Text: "With " + string(i.ID) + ": " + i.Title}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// SetLateJoiners turns on or off the acknowledgement of complaints linked
// after it went out.
func (b *Bridge) SetLateJoiners(_ context.Context, id IncidentID, by Staff, on bool) (IncidentView, error) {
	return b.actIncident(id, by, RoleAgent, "change incidents", func(w *writeTx, i *Incident) error {
		if i.LateJoiners == on {
			return errUnchanged
		}
		_, err := w.emit(Event{Type: EvIncLate, Incident: i.ID, Staff: staffPtr(by), Flag: on})
		return err
	})
}

// SetIncidentTerms changes the terms new complaints are matched with
// (add, remove) and, when title is not empty, the title.
func (b *Bridge) SetIncidentTerms(_ context.Context, id IncidentID, by Staff, title string, add, remove []string) (IncidentView, error) {
	add, remove = NormTerms(add), NormTerms(remove)
	return b.actIncident(id, by, RoleAgent, "change incidents", func(w *writeTx, i *Incident) error {
		if i.Status == IncidentResolved || i.Status == IncidentDismissed {
			return Userf("%s is %s.", i.ID, i.Status)
		}
		terms := slices.Clone(i.Terms)
		for _, t := range add {
			if !slices.Contains(terms, t) {
				terms = append(terms, t)
			}
		}
		terms = slices.DeleteFunc(terms, func(t string) bool { return slices.Contains(remove, t) })
		if len(terms) == 0 {
			return Userf("An incident needs at least one term to link complaints by.")
		}
		title = strings.TrimSpace(title)
		if slices.Equal(terms, i.Terms) && (title == "" || title == i.Title) {
			return errUnchanged
		}
		_, err := w.emit(Event{Type: EvIncTerms, Incident: i.ID, Staff: staffPtr(by), Tags: terms, Text: title})
		return err
	})
}

// RetryIncident sends the incident's failed items again (its card's Retry
// button): only its owner may, and only those whose case is still linked.
// Uncertain ones are left for staff to check one by one.
func (b *Bridge) RetryIncident(_ context.Context, id IncidentID, by Staff) (int, error) {
	n := 0
	_, err := b.actIncident(id, by, RoleAgent, "send replies", func(w *writeTx, i *Incident) error {
		if i.Owner != by.Key() {
			return b.notOwner(i)
		}
		for _, it := range incidentItems(w.Txn, i.ID) {
			if it.State != OutboxFailed {
				continue
			}
			if it.Case != "" {
				if c, _ := getCase(w.Txn, it.Case); c == nil || c.Incident != i.ID {
					continue
				}
			}
			if _, err := w.emit(Event{Type: EvRequeued, ID: it.ID, Until: w.now, Flag: true}); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return Userf("%s has nothing that failed to send again.", i.ID)
		}
		return nil
	})
	return n, err
}

// incidentsShown refuses a queue whose desk cannot show incident cards.
func (b *Bridge) incidentsShown(q QueueConfig) error {
	if _, ok := b.desks[q.Desk].(IncidentDesk); !ok {
		return Userf("The %s desk cannot show incident cards, so %s has no incidents.", q.Desk, q.Name)
	}
	return nil
}

// markIncidentsDirty queues every incident some desk has to catch up
// with: at start, this redoes whatever a crash interrupted.
func (b *Bridge) markIncidentsDirty() {
	for _, i := range allIncidents(b.read()) {
		b.kickIncident(i.ID, false)
	}
}

// kickIncident asks every desk to catch up with incident id (in the
// staff lane when a staff action caused it).
func (b *Bridge) kickIncident(id IncidentID, staff bool) {
	for _, q := range b.work {
		if staff {
			q.pushStaff(incidentWork(id), 1<<20, 0)
		} else {
			q.push(incidentWork(id), 1<<20, 0)
		}
	}
}

// incidentWake is how long the incident loop sleeps with nothing due.
const incidentWake = time.Minute
