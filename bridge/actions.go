package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The staff actions: what commands.Registry calls (it implements the
// commands.Cases interface). Each checks the caller's role, validates the
// change with the case's lifecycle function, journals the event and
// returns the case as it is now. Refusals are *UserError in plain words;
// any other error means the journal failed. Each blocks until the change is
// on disk; the threads and cards follow asynchronously.

// errUnchanged stops a change that turned out to need no event.
var errUnchanged = errors.New("unchanged")

// act runs one staff change on case id: build validates and emits.
func (b *Bridge) act(id CaseID, by Staff, need Role, doing string, build func(w *writeTx, c *Case) error) (CaseView, error) {
	if role := b.RoleOf(by); role < need {
		if role == RoleNone {
			return CaseView{}, Userf("Only staff can %s. Ask a lead to add you to the staff list.", doing)
		}
		return CaseView{}, Userf("Only leads can %s.", doing)
	}
	var caseID CaseID
	_, err := b.change(func(w *writeTx) error {
		c := findCase(w.Txn, id)
		if c == nil {
			return b.noCase(w.Txn, id)
		}
		caseID = c.ID
		return build(w, c)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return CaseView{}, err
	}
	v, _ := b.Case(caseID)
	return v, nil
}

// emitCase validates a lifecycle change of c and emits its event.
func emitCase(w *writeTx, c *Case, check func(Case, time.Time) (Case, error), ev Event) error {
	if _, err := check(*c, w.now); err != nil {
		return err
	}
	ev.Case = c.ID
	_, err := w.emit(ev)
	return err
}

func staffPtr(s Staff) *Staff { return &s }

// Claim gives case id to by. Two staff claiming at once: the first
// transaction wins, the other is told who has it.
func (b *Bridge) Claim(_ context.Context, id CaseID, by Staff) (CaseView, error) {
	return b.act(id, by, RoleAgent, "claim cases", func(w *writeTx, c *Case) error {
		if _, err := c.Claim(by, w.now); err != nil {
			return err
		}
		if err := b.unlinkForAction(w, c, by, "claimed"); err != nil {
			return err
		}
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Claim(by, at) }, Event{Type: EvClaimed, Staff: staffPtr(by)})
	})
}

// ClaimNext claims the most urgent unclaimed case of queue that is not
// snoozed: highest priority first, then the oldest.
func (b *Bridge) ClaimNext(_ context.Context, queue string, by Staff) (CaseView, error) {
	if b.RoleOf(by) < RoleAgent {
		return CaseView{}, Userf("Only staff can claim cases. Ask a lead to add you to the staff list.")
	}
	queue = b.queueName(queue)
	if _, ok := b.queues[queue]; !ok {
		return CaseView{}, Userf("There is no queue %q.", queue)
	}
	var got CaseID
	_, err := b.change(func(w *writeTx) error {
		var free []*Case
		for _, s := range []Status{StatusNew, StatusEscalated} {
			for _, c := range casesIn(w.Txn, queue, s) {
				if c.Assignee == "" && !c.Snoozed(w.now) && c.Incident == "" { // an incident's cases are answered with it
					free = append(free, c)
				}
			}
		}
		if len(free) == 0 {
			return Userf("There are no unclaimed cases waiting in %s.", queue)
		}
		sortUrgent(free)
		got = free[0].ID
		return emitCase(w, free[0], func(c Case, at time.Time) (Case, error) { return c.Claim(by, at) }, Event{Type: EvClaimed, Staff: staffPtr(by)})
	})
	if err != nil {
		return CaseView{}, err
	}
	v, _ := b.Case(got)
	return v, nil
}

// Release gives by's claim back; force (leads only) takes anyone's.
func (b *Bridge) Release(_ context.Context, id CaseID, by Staff, force bool) (CaseView, error) {
	need, doing := RoleAgent, "release cases"
	if force {
		need, doing = RoleLead, "force a release"
	}
	return b.act(id, by, need, doing, func(w *writeTx, c *Case) error {
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Release(by, force, at) },
			Event{Type: EvReleased, Staff: staffPtr(by), Flag: force && c.Assignee != by.Key()})
	})
}

// Assign gives the claim to to (leads only); to must be staff.
func (b *Bridge) Assign(_ context.Context, id CaseID, by, to Staff) (CaseView, error) {
	if to.Desk == "" {
		to.Desk = by.Desk
	}
	if b.RoleOf(to) < RoleAgent {
		return CaseView{}, Userf("%s is not on the staff list, so they cannot hold a case.", to.Display())
	}
	return b.act(id, by, RoleLead, "assign cases", func(w *writeTx, c *Case) error {
		if _, err := c.Assign(to, w.now); err != nil {
			return err
		}
		if err := b.unlinkForAction(w, c, by, "assigned to "+to.Display()); err != nil {
			return err
		}
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Assign(to, at) },
			Event{Type: EvAssigned, Staff: staffPtr(by), To: staffPtr(to)})
	})
}

// Escalate hands the case to team, noting the reason in both threads.
func (b *Bridge) Escalate(_ context.Context, id CaseID, by Staff, team, reason string) (CaseView, error) {
	q, ok := b.queues[b.queueName(team)]
	if !ok || !q.Team {
		return CaseView{}, Userf("There is no team %q. Teams: %s.", team, strings.Join(b.Teams(), ", "))
	}
	return b.act(id, by, RoleAgent, "escalate cases", func(w *writeTx, c *Case) error {
		if _, err := c.Escalate(q.Name, w.now); err != nil {
			return err
		}
		if err := b.unlinkForAction(w, c, by, "escalated to "+q.Name); err != nil {
			return err
		}
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Escalate(q.Name, at) },
			Event{Type: EvEscalated, Staff: staffPtr(by), Team: q.Name, Text: strings.TrimSpace(reason)})
	})
}

// Resolve closes the case; a post of the customer within the queue's
// reopen window reopens it.
func (b *Bridge) Resolve(_ context.Context, id CaseID, by Staff, summary string) (CaseView, error) {
	return b.act(id, by, RoleAgent, "resolve cases", func(w *writeTx, c *Case) error {
		summary := strings.TrimSpace(summary)
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Resolve(summary, at) },
			Event{Type: EvResolved, Staff: staffPtr(by), Text: summary})
	})
}

// Reopen opens a resolved case again.
func (b *Bridge) Reopen(_ context.Context, id CaseID, by Staff) (CaseView, error) {
	return b.act(id, by, RoleAgent, "reopen cases", func(w *writeTx, c *Case) error {
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.Reopen(at) }, Event{Type: EvReopened, Staff: staffPtr(by)})
	})
}

// SetPriority sets the case's priority.
func (b *Bridge) SetPriority(_ context.Context, id CaseID, by Staff, p int) (CaseView, error) {
	return b.act(id, by, RoleAgent, "change priorities", func(w *writeTx, c *Case) error {
		if c.Priority == p {
			return errUnchanged
		}
		_, err := w.emit(Event{Type: EvPriority, Case: c.ID, Staff: staffPtr(by), Num: p})
		return err
	})
}

// Tag adds and removes tags.
func (b *Bridge) Tag(_ context.Context, id CaseID, by Staff, add, remove []string) (CaseView, error) {
	add, remove = normTags(add), normTags(remove)
	return b.act(id, by, RoleAgent, "tag cases", func(w *writeTx, c *Case) error {
		next := c.WithTags(add, remove, w.now)
		if strings.Join(next.Tags, ",") == strings.Join(c.Tags, ",") {
			return errUnchanged
		}
		_, err := w.emit(Event{Type: EvTagged, Case: c.ID, Staff: staffPtr(by), Tags: add, Remove: remove})
		return err
	})
}

// Snooze hides the case from "next" for d; 0 wakes it.
func (b *Bridge) Snooze(_ context.Context, id CaseID, by Staff, d time.Duration) (CaseView, error) {
	if d < 0 {
		return CaseView{}, Userf("A snooze cannot be negative.")
	}
	return b.act(id, by, RoleAgent, "snooze cases", func(w *writeTx, c *Case) error {
		var until time.Time
		if d > 0 {
			until = w.now.Add(d)
		}
		return emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.SnoozeUntil(until, at) },
			Event{Type: EvSnoozed, Staff: staffPtr(by), Until: until})
	})
}

// DMNotice is the public line posted when a case moves to direct messages.
const DMNotice = "We've sent you a direct message so we can look at this together in private."

// MoveToDM continues the case by direct message: a short public line tells
// the customer (DMNotice), then text, if any, goes by DM; later replies go
// by DM too. Only the claimer may, and only where the network has DMs.
func (b *Bridge) MoveToDM(ctx context.Context, id CaseID, by Staff, text string) (CaseView, error) {
	return b.act(id, by, RoleAgent, "move cases to DM", func(w *writeTx, c *Case) error {
		if err := b.mayPublish(c, by); err != nil {
			return err
		}
		if dm, ok := b.networks[c.Network].(DirectMessenger); ok && !dm.DirectMessages() {
			return Userf("%s has no direct messages set up for Earshot, so %s cannot move to DM. Reply publicly, or ask an admin to enable DMs.", networkTitle(c.Network), c.ID)
		}
		if err := emitCase(w, c, func(c Case, at time.Time) (Case, error) { return c.MoveToPrivate(at) }, Event{Type: EvPrivate, Staff: staffPtr(by)}); err != nil {
			return err
		}
		thread := b.activeThread(w, c)
		if _, err := b.enqueue(w, c, itemSpec{by: by, text: DMNotice, thread: thread}); err != nil {
			return err
		}
		if strings.TrimSpace(text) != "" {
			inv, _ := invocationFrom(ctx)
			v := b.Judge(c, Speech{Text: text, Mentions: inv.Mentions, Explicit: true, Private: true})
			if v.Kind != Publish {
				return &UserError{Msg: v.Reason}
			}
			if _, err := b.enqueue(w, c, itemSpec{by: by, text: v.Text, private: true, thread: thread}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Reply publishes text explicitly, with the same rules as a message in the
// thread (the claimer only, the gate of Judge, after the undo window),
// except that it may name another account of the network. msg is the desk
// message of the command, if it has one: its mark shows the fate, and a
// refusal is journaled on it (not sent, with the reason) besides being
// returned.
func (b *Bridge) Reply(ctx context.Context, id CaseID, by Staff, text string, msg MessageRef) error {
	inv, typed := invocationFrom(ctx)
	var refusal string
	_, err := b.act(id, by, RoleAgent, "reply", func(w *writeTx, c *Case) error {
		if existing := itemForMessage(w.Txn, msg); existing != nil {
			return Userf("That message is already on its way (%s).", existing.ID)
		}
		v := b.Judge(c, Speech{Text: text, Mentions: inv.Mentions, Explicit: true, Private: c.Private})
		if err := b.mayPublish(c, by); err != nil && v.Kind != KeptNote {
			v = Verdict{Kind: Refused, Reason: err.Error()}
		}
		if v.Kind != Publish {
			b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
			refusal = v.Reason
			if msg.ID == "" {
				return &UserError{Msg: refusal}
			}
			return b.refuse(w, c, StaffMessage{Message: msg, Thread: b.activeThread(w, c), Staff: by}, refusal)
		}
		spec := itemSpec{by: by, text: v.Text, private: c.Private, msg: msg, thread: b.activeThread(w, c), delay: b.cfg.UndoWindow}
		if typed && inv.Source == SourceText && msg.ID != "" {
			spec.command = b.cfg.CommandPrefix + inv.Name
		}
		_, err := b.enqueue(w, c, spec)
		return err
	})
	if err == nil && refusal != "" {
		return &UserError{Msg: refusal}
	}
	return err
}

// Note leaves a note in the case's thread; it is never published.
func (b *Bridge) Note(ctx context.Context, id CaseID, by Staff, text string) error {
	if b.RoleOf(by) < RoleAgent {
		return Userf("Only staff can write notes.")
	}
	tx := b.read()
	c := findCase(tx, id)
	if c == nil {
		return b.noCase(tx, id)
	}
	if inv, ok := invocationFrom(ctx); ok {
		if row := getThread(tx, inv.Thread.Desk, inv.Thread.ID); row != nil && row.Case == c.ID {
			return nil // typed in the case's own thread: it is there already
		}
	}
	b.notice(c, "", fmt.Sprintf("Note from %s (not published): %s", by.Display(), strings.TrimSpace(text)))
	b.kick(c.ID, c.Priority, c.Seq)
	return nil
}

// Retry sends a failed or uncertain reply again, as a new series of
// attempts. Only its author, still holding the claim, may: a double press
// finds it already queued and is told so.
func (b *Bridge) Retry(ctx context.Context, outboxID string, by Staff) error {
	if b.RoleOf(by) < RoleAgent {
		return Userf("Only staff can send replies.")
	}
	if id, ok := ParseIncidentID(outboxID); ok { // the Retry of an incident's message: its failed ones
		_, err := b.RetryIncident(ctx, id, by)
		return err
	}
	_, err := b.change(func(w *writeTx) error {
		it := getItem(w.Txn, strings.TrimSpace(outboxID))
		if it == nil {
			return Userf("There is no reply %s to send again.", outboxID)
		}
		switch it.State {
		case OutboxQueued, OutboxAttempting:
			return Userf("%s is already on its way.", it.ID)
		case OutboxSent:
			return Userf("%s was published already: %s", it.ID, orSomeone(it.Sent.URL))
		case OutboxCancelled:
			return Userf("%s was cancelled; write it again to send it.", it.ID)
		}
		c, _ := getCase(w.Txn, it.Case)
		if c == nil {
			return Userf("The case of %s is gone.", it.ID)
		}
		if it.Staff.Key() != by.Key() {
			return Userf("Only %s can send %s again: it is their reply.", it.Staff.Display(), it.ID)
		}
		if err := b.mayPublish(c, by); err != nil {
			return err
		}
		_, err := w.emit(Event{Type: EvRequeued, ID: it.ID, Until: w.now, Flag: true})
		return err
	})
	return err
}

// mayPublish says whether by may speak publicly for c now.
func (b *Bridge) mayPublish(c *Case, by Staff) error {
	if c.Status == StatusResolved {
		return Userf("%s is resolved; reopen it to reply.", c.ID)
	}
	if c.Assignee == "" {
		return Userf("Nobody has claimed %s, so nothing is published. Claim it first (the Claim button or `%sclaim`).", c.ID, b.cfg.CommandPrefix)
	}
	if c.Assignee != by.Key() {
		return Userf("%s holds the claim on %s; only the claimer speaks for the case.", orSomeone(c.AssigneeName), c.ID)
	}
	return nil
}

// DirectMessenger is implemented by networks that can tell whether direct
// messages are set up (X needs DM access configured). A network without it
// is assumed to have them; Publish still refuses when it cannot.
type DirectMessenger interface {
	DirectMessages() bool
}

func networkTitle(n string) string {
	switch n {
	case "x":
		return "X"
	case "":
		return "The network"
	}
	return strings.ToUpper(n[:1]) + n[1:]
}
