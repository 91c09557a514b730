package bridge

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// Staff messages in case threads: replies, notes, commands, and the edits
// and deletes of the undo window. The rules (DESIGN.md, public-speech
// safety) in the order they are applied:
//
//  1. A message starting with the command prefix ("!claim") is a command,
//     never a reply.
//  2. A message from someone who is not staff, or starting with a note
//     prefix ("note:", "//", any case), is a note.
//  3. Only the staff member holding the claim replies; in an unclaimed
//     case nothing is published (unless the queue lets the first replier
//     claim it).
//  4. Text over the network's limit is not cut and not sent.
//
// Every message that is not sent gets a private explanation saying why and
// how to send; every reply gets a delivery mark that follows its fate.

// invocationKey carries the Invocation through ctx to the bridge's own
// actions (Note needs to know where it was typed).
type invocationKey struct{}

func invocationFrom(ctx context.Context) (Invocation, bool) {
	inv, ok := ctx.Value(invocationKey{}).(Invocation)
	return inv, ok
}

// Command runs a staff command through the Commander and counts it.
func (b *Bridge) Command(ctx context.Context, inv Invocation) Response {
	var res Response
	if b.commands == nil {
		res = Response{Text: "Commands are not set up in this Earshot.", Private: true, Command: "unknown", Failed: true}
	} else {
		res = b.commands.Run(context.WithValue(ctx, invocationKey{}, inv), inv)
	}
	if res.Command == "" {
		res.Command = "unknown"
	}
	result := "ok"
	switch {
	case res.Failed:
		result = "error"
	case !res.OK:
		result = "refused"
	}
	b.metrics.commands.WithLabelValues(inv.Desk, res.Command, result).Inc()
	return res
}

// StaffMessage takes a new, edited or deleted message from a case thread.
// Messages in threads that are not a case's are ignored. It journals what
// it decides before it returns; marks and answers follow through the desk.
func (b *Bridge) StaffMessage(ctx context.Context, m StaffMessage) error {
	if m.Thread.Desk == "" {
		m.Thread.Desk = m.Message.Desk
	}
	if m.Message.Desk == "" {
		m.Message.Desk = m.Thread.Desk
	}
	if m.Staff.Desk == "" {
		m.Staff.Desk = m.Thread.Desk
	}
	switch m.Kind {
	case MessageEdited:
		return b.staffEdit(m)
	case MessageDeleted:
		return b.staffDelete(m)
	}
	row, tx := b.thread(m.Thread.Desk, m.Thread.ID)
	if row == nil {
		return nil
	}
	if row.Incident != "" {
		return b.incidentMessage(ctx, m, row) // incident_send.go
	}
	c, _ := getCase(tx, row.Case)
	if c == nil {
		return nil
	}
	if itemForMessage(tx, m.Message) != nil {
		return nil // delivered twice (a desk retry): it is queued already
	}
	text := strings.TrimSpace(m.Text)
	if p := b.cfg.CommandPrefix; hasPrefixFold(text, p) && len(text) > len(p) {
		b.textCommand(ctx, m, text[len(p):])
		return nil
	}
	var refused string
	_, err := b.change(func(w *writeTx) error {
		if itemForMessage(w.Txn, m.Message) != nil {
			return nil // two deliveries at once: the first one queued it
		}
		c := findCase(w.Txn, row.Case)
		reason, claim := b.classify(w, c, m, text)
		if reason != "" {
			refused = reason
			return nil
		}
		if claim {
			if _, err := w.emit(Event{Type: EvClaimed, Case: c.ID, Staff: staffPtr(m.Staff)}); err != nil {
				return err
			}
		}
		_, err := b.enqueue(w, c, itemSpec{by: m.Staff, text: text, private: c.Private, msg: m.Message, thread: m.Thread, delay: b.cfg.UndoWindow})
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: staff message: %w", err)
	}
	if refused != "" {
		b.explain(c, m.Message, refused)
	}
	return nil
}

// classify applies rules 2 to 4 to a new message: a reason it is not a
// reply (a note, or refused), or "" and whether its author claims the case
// by writing (first replier claims).
func (b *Bridge) classify(w *writeTx, c *Case, m StaffMessage, text string) (reason string, claim bool) {
	role := b.RoleOf(m.Staff)
	if role == RoleNone {
		return "You are not on Earshot's staff list, so this stays a note in the thread. A lead can add you.", false
	}
	for _, p := range b.cfg.NotePrefixes {
		if hasPrefixFold(text, p) {
			return fmt.Sprintf("A note (it starts with “%s”): kept in the thread, never published.", p), false
		}
	}
	if text == "" {
		return "There is no text to publish (attachments are not sent).", false
	}
	switch {
	case c.Status == StatusResolved:
		b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
		return fmt.Sprintf("%s is resolved. Reopen it (`%sreopen`) to reply.", c.ID, b.cfg.CommandPrefix), false
	case c.Assignee == "":
		if b.queues[c.Queue].FirstReplierClaims {
			claimed, err := c.Claim(m.Staff, w.now)
			if err == nil {
				if r := b.tooLong(&claimed, text, c.Private); r != "" {
					b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
					return r, false
				}
				return "", true
			}
		}
		b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
		return fmt.Sprintf("Nobody has claimed %s, so this stays a note. Claim it (the Claim button or `%sclaim`), then send your reply again.", c.ID, b.cfg.CommandPrefix), false
	case c.Assignee != m.Staff.Key():
		return fmt.Sprintf("A note: %s holds the claim on %s and only the claimer replies, so this was not published.", orSomeone(c.AssigneeName), c.ID), false
	}
	if r := b.tooLong(c, text, c.Private); r != "" {
		b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
		return r, false
	}
	return "", false
}

// textCommand runs "!verb args" typed in a thread and answers its author.
func (b *Bridge) textCommand(ctx context.Context, m StaffMessage, line string) {
	verb, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexAny(verb, "\n\t"); i >= 0 {
		verb, rest = verb[:i], verb[i+1:]+" "+rest
	}
	inv := Invocation{Desk: m.Thread.Desk, Source: SourceText, Staff: m.Staff, Channel: m.Thread.Channel,
		Thread: m.Thread, Message: m.Message, Name: verb, Raw: strings.TrimSpace(rest)}
	if inv.Raw != "" {
		inv.Args = strings.Fields(inv.Raw)
	}
	res := b.Command(ctx, inv)
	if res.Text == "" {
		return
	}
	c, ok := b.CaseForThread(m.Thread)
	if !ok {
		b.answerInIncident(m, res)
		return
	}
	if res.Private {
		b.notify(&c.Case, m.Thread, m.Staff.ID, res.Text)
	} else {
		b.noticeIn(&c.Case, m.Thread, res.Text)
	}
	b.kick(c.ID, c.Priority, c.Seq)
}

// explain tells a message's author privately why it was not sent.
func (b *Bridge) explain(c *Case, msg MessageRef, reason string) {
	b.ops.add(msg.Desk, c.ID, deskOp{kind: opMark, message: msg, delivery: Delivery{State: DeliveryNotSent, Reason: reason, Private: true}})
	b.kick(c.ID, c.Priority, c.Seq)
}

// staffEdit applies an edit inside the undo window: the new text goes
// instead. An edit can make a reply a note (then nothing goes) but never
// makes a note a reply; after the window it changes nothing public, and the
// author is told.
func (b *Bridge) staffEdit(m StaffMessage) error {
	if handled, err := b.incidentEdit(m); handled {
		return err
	}
	text := strings.TrimSpace(m.Text)
	var c *Case
	var tell string
	where := m.Thread
	_, err := b.change(func(w *writeTx) error {
		it := itemForMessage(w.Txn, m.Message)
		if it == nil {
			return nil // a note or command edited: nothing to do
		}
		c, _ = getCase(w.Txn, it.Case)
		if where.IsZero() {
			where = it.Thread
		}
		switch it.State {
		case OutboxQueued:
		case OutboxSent:
			tell = "Edited after publication: the public post keeps the text that was sent."
			return nil
		case OutboxAttempting:
			tell = "Edited too late: the reply was already being published with its earlier text."
			return nil
		default:
			return nil
		}
		for _, p := range b.cfg.NotePrefixes {
			if hasPrefixFold(text, p) {
				_, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: fmt.Sprintf("Edited into a note (“%s”): nothing will be published.", p)})
				return err
			}
		}
		if it.Command != "" {
			// Typed as "!reply text": the edit must still be that command.
			rest, ok := cutCommand(text, it.Command)
			if !ok {
				_, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: fmt.Sprintf("Edited so it is no longer %s: nothing will be published.", it.Command)})
				return err
			}
			text = rest
		}
		if text == "" || hasPrefixFold(text, b.cfg.CommandPrefix) {
			_, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: "Edited so there is no reply left: nothing will be published."})
			return err
		}
		if c != nil {
			if r := b.tooLong(c, text, it.Private); r != "" {
				_, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: "The edit made it too long, so nothing will be published. " + r, Flag: true})
				return err
			}
		}
		if text == it.Text {
			return nil
		}
		_, err := w.emit(Event{Type: EvEdited, ID: it.ID, Text: text})
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: staff edit: %w", err)
	}
	if tell != "" && c != nil {
		b.notify(c, where, m.Staff.ID, tell)
		b.kick(c.ID, c.Priority, c.Seq)
	}
	return nil
}

// staffDelete cancels a reply inside the undo window. A reply already out
// cannot be taken back: the thread says so, with the link, for everyone.
func (b *Bridge) staffDelete(m StaffMessage) error {
	if handled, err := b.incidentDelete(m); handled {
		return err
	}
	var c *Case
	var late *OutboxItem
	_, err := b.change(func(w *writeTx) error {
		it := itemForMessage(w.Txn, m.Message)
		if it == nil {
			return nil
		}
		c, _ = getCase(w.Txn, it.Case)
		switch it.State {
		case OutboxQueued:
			if _, err := w.emit(Event{Type: EvCancelled, ID: it.ID}); err != nil {
				return err
			}
			// The message is gone from the desk: there is nothing to mark.
			_, err := w.emit(Event{Type: EvMarked, ID: it.ID, State: DeliveryCancelled})
			return err
		case OutboxSent, OutboxAttempting:
			late = it
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bridge: staff delete: %w", err)
	}
	if late != nil && c != nil {
		text := fmt.Sprintf("%s deleted a reply that was already being published; deleting here does not remove it from %s.", late.Staff.Display(), networkTitle(late.Network))
		if late.Sent.URL != "" {
			text = fmt.Sprintf("%s deleted a reply that was already published; it is still public on %s: %s", late.Staff.Display(), networkTitle(late.Network), late.Sent.URL)
		}
		where := m.Thread
		if where.IsZero() {
			where = late.Thread
		}
		b.noticeIn(c, where, text)
		b.kick(c.ID, c.Priority, c.Seq)
	}
	return nil
}

// cutCommand returns the text after command ("!reply") and whitespace.
func cutCommand(text, command string) (string, bool) {
	if !hasPrefixFold(text, command) {
		return "", false
	}
	rest := text[len(command):]
	if rest != "" && !unicode.IsSpace([]rune(rest)[0]) {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
