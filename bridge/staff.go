package bridge

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
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
// it decides before it returns (a reply queued, or why the message is not
// sent); marks and answers follow through the desk.
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
		return nil // delivered twice (a desk retry): it is queued or explained already
	}
	if line, ok := cutFolded(m.Text, b.cfg.CommandPrefix); ok {
		b.textCommand(ctx, m, line)
		return nil
	}
	_, err := b.change(func(w *writeTx) error {
		if itemForMessage(w.Txn, m.Message) != nil {
			return nil // two deliveries at once: the first one took it
		}
		c := findCase(w.Txn, row.Case)
		v, claim := b.classify(w, c, m)
		if v.Kind != Publish {
			return b.refuse(w, c, m, v.Reason)
		}
		if claim {
			if _, err := w.emit(Event{Type: EvClaimed, Case: c.ID, Staff: staffPtr(m.Staff)}); err != nil {
				return err
			}
		}
		_, err := b.enqueue(w, c, itemSpec{by: m.Staff, text: v.Text, private: c.Private, msg: m.Message, thread: m.Thread, delay: b.cfg.UndoWindow})
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: staff message: %w", err)
	}
	return nil
}

// classify applies the rules to a new message in case c: the gate's
// verdict (Publish with the exact text, or why not), and whether its
// author claims the case by writing (first replier claims). A note prefix
// or nothing to send wins over who is writing; who is writing wins over
// the rest of the gate (a colleague's "@Mei can you look?" is a note
// because Mei's colleague does not hold the claim, not because of the
// mention).
func (b *Bridge) classify(w *writeTx, c *Case, m StaffMessage) (v Verdict, claim bool) {
	if b.RoleOf(m.Staff) == RoleNone {
		return Verdict{Kind: KeptNote, Reason: "You are not on Earshot's staff list, so this stays a note in the thread. A lead can add you."}, false
	}
	v = b.Judge(c, Speech{Text: m.Text, Mentions: m.Mentions, Private: c.Private})
	if v.Kind == KeptNote || v.Kind == Nothing {
		return v, false
	}
	refused := func(reason string) (Verdict, bool) {
		b.metrics.replies.WithLabelValues(c.Network, ReplyRefused).Inc()
		return Verdict{Kind: Refused, Reason: reason}, false
	}
	switch {
	case c.Status == StatusResolved:
		return refused(fmt.Sprintf("%s is resolved. Reopen it (`%sreopen`) to reply.", c.ID, b.cfg.CommandPrefix))
	case c.Assignee == "":
		if b.queues[c.Queue].FirstReplierClaims {
			if _, err := c.Claim(m.Staff, w.now); err == nil {
				if v.Kind == Refused {
					return refused(v.Reason)
				}
				return v, true
			}
		}
		return refused(fmt.Sprintf("Nobody has claimed %s, so this stays a note. Claim it (the Claim button or `%sclaim`), then send your reply again.", c.ID, b.cfg.CommandPrefix))
	case c.Assignee != m.Staff.Key():
		return Verdict{Kind: KeptNote, Reason: fmt.Sprintf("A note: %s holds the claim on %s and only the claimer replies, so this was not published.", orSomeone(c.AssigneeName), c.ID)}, false
	}
	if v.Kind == Refused {
		return refused(v.Reason)
	}
	return v, false
}

// refuse journals that staff message m in case c is not sent, and why:
// an outbox item cancelled from the start, which the desk marks (not
// sent, and the reason privately to its author) like any reply, after a
// restart too. A desk delivering m again finds it and does nothing.
func (b *Bridge) refuse(w *writeTx, c *Case, m StaffMessage, reason string) error {
	seq := w.counters().LastOutbox + 1
	it := &OutboxItem{
		ID: fmt.Sprintf("ob-%d", seq), Seq: seq, Case: c.ID, Network: c.Network, Staff: m.Staff,
		Message: m.Message, Thread: m.Thread, State: OutboxCancelled, Reason: reason, Due: w.now, CreatedAt: w.now,
	}
	_, err := w.emit(Event{Type: EvRefused, Item: it})
	return err
}

// textCommand runs "!verb args" typed in a thread (line is what follows
// the prefix) and answers its author.
func (b *Bridge) textCommand(ctx context.Context, m StaffMessage, line string) {
	verb, rest := line, ""
	if i := strings.IndexFunc(line, isSpace); i >= 0 {
		verb, rest = line[:i], line[i:]
	}
	// "**!claim**": the formatting around the verb is not part of it.
	verb = strings.TrimRight(fold(verb), "*_~`|")
	inv := Invocation{Desk: m.Thread.Desk, Source: SourceText, Staff: m.Staff, Channel: m.Thread.Channel,
		Thread: m.Thread, Message: m.Message, Name: verb, Raw: strings.TrimSpace(rest), Mentions: m.Mentions}
	if inv.Raw != "" {
		inv.Args = strings.Fields(inv.Raw)
	}
	res := b.Command(ctx, inv)
	if res.Text == "" {
		return
	}
	if it := itemForMessage(b.read(), m.Message); it != nil && it.State == OutboxCancelled {
		return // the command refused the message itself: its mark explains (journaled)
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

// staffEdit applies an edit inside the undo window: the new text goes
// instead, read by the same gate as a new message. An edit can make a
// reply a note (then nothing goes) but never makes a note a reply; after
// the window it changes nothing public, and the author is told.
func (b *Bridge) staffEdit(m StaffMessage) error {
	if handled, err := b.incidentEdit(m); handled {
		return err
	}
	var c *Case
	var tell string
	where := m.Thread
	_, err := b.change(func(w *writeTx) error {
		it := itemForMessage(w.Txn, m.Message)
		if it == nil {
			return nil // a command edited: nothing to do
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
			return nil // a note, a refusal or a cancelled reply stays so
		}
		if c == nil {
			return nil
		}
		cancel := func(reason string, refused bool) error {
			_, err := w.emit(Event{Type: EvCancelled, ID: it.ID, Text: reason, Flag: refused})
			return err
		}
		text := m.Text
		if it.Command != "" {
			// Typed as "!reply text": the edit must still be that command.
			rest, ok := commandRest(text, it.Command)
			if !ok {
				if v, note := b.prefixVerdict(text); note && !hasFoldedPrefix(text, b.cfg.CommandPrefix) {
					return cancel("Edited into a note, so nothing will be published. "+v.Reason, false)
				}
				return cancel(fmt.Sprintf("Edited so it is no longer %s: nothing will be published.", it.Command), false)
			}
			text = rest
		}
		v := b.Judge(c, Speech{Text: text, Mentions: m.Mentions, Explicit: it.Command != "", Private: it.Private})
		switch v.Kind {
		case KeptNote:
			return cancel("Edited into a note, so nothing will be published. "+v.Reason, false)
		case Nothing:
			return cancel("Edited so there is no reply left: nothing will be published.", false)
		case Refused:
			return cancel("The edit was not taken, so nothing will be published. "+v.Reason, true)
		}
		if v.Text == it.Text {
			return nil
		}
		_, err := w.emit(Event{Type: EvEdited, ID: it.ID, Text: v.Text})
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

// commandRest returns the text after command ("!reply") as typed,
// formatting around the command and spaces taken off; ok is false when
// text does not start (folded) with the command as a word.
func commandRest(text, command string) (string, bool) {
	rest, ok := cutFolded(text, command)
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, "*_~`|")
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" && !isSpace(r) {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
