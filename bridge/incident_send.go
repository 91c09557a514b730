package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Acknowledging everyone. The owner writes the acknowledgement once, in
// the incident's thread (or with `!incident ack`, `!say NAME`): it passes
// the same gate as a reply in a case's thread (staff, note prefixes, the
// claim — here the incident's ownership —, the network's limits), then
// waits out the undo window as one pending message (an edit changes it, a
// delete withdraws it). When the window ends it is released: one ordinary
// outbox item per linked complainant, starting with their handle, in
// reply to their post, so every guarantee of the outbox holds for each
// (journaled attempt, at most once, idempotent where the network is,
// uncertain otherwise, failures shown with a retry), and the outbox paces
// them per network (pace.go). The closing message of a resolve goes the
// same way. At the last moment each item is checked again: its author
// still owns the incident, its case is still linked.

// incidentMessage takes a new staff message in an incident's thread.
func (b *Bridge) incidentMessage(ctx context.Context, m StaffMessage, row *threadRow) error {
	if line, ok := cutFolded(m.Text, b.cfg.CommandPrefix); ok {
		b.textCommand(ctx, m, line)
		return nil
	}
	var refused string
	var inc IncidentID
	_, err := b.change(func(w *writeTx) error {
		i := getIncident(w.Txn, row.Incident)
		if i == nil || i.Pending.Message.ID == m.Message.ID && i.Pending.Message.Channel == m.Message.Channel ||
			i.Sent.ID == m.Message.ID && i.Sent.Channel == m.Message.Channel {
			return nil // gone, or delivered twice (a desk retry)
		}
		inc = i.ID
		var err error
		refused, err = b.acknowledge(w, i, m.Staff, Speech{Text: m.Text, Mentions: m.Mentions}, m.Message, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge: staff message: %w", err)
	}
	if refused != "" {
		b.explainIncident(inc, m.Message, refused)
	}
	return nil
}

// AcknowledgeIncident makes text the acknowledgement of incident id, by
// command (`!incident ack text`, `!say NAME` in its thread): the same
// rules as writing it in the thread. msg is the command's desk message,
// if any (an edit or delete of it in the undo window counts), command the
// text command typed ("!incident ack"), if any.
func (b *Bridge) AcknowledgeIncident(ctx context.Context, id IncidentID, by Staff, text string, msg MessageRef, command string) (IncidentView, error) {
	return b.actIncident(id, by, RoleAgent, "acknowledge incidents", func(w *writeTx, i *Incident) error {
		refused, err := b.acknowledge(w, i, by, Speech{Text: text, Mentions: invocationMentions(ctx)}, msg, command)
		if err == nil && refused != "" {
			return &UserError{Msg: refused}
		}
		return err
	})
}

// acknowledge gates s as i's acknowledgement and journals it pending;
// it returns why not, or "".
func (b *Bridge) acknowledge(w *writeTx, i *Incident, by Staff, s Speech, msg MessageRef, command string) (string, error) {
	switch i.Status {
	case IncidentSuggested:
		return fmt.Sprintf("%s is only a suggestion, so this stays a note. Declare it first (its Declare button).", i.ID), nil
	case IncidentDismissed:
		return fmt.Sprintf("%s was dismissed, so this stays a note.", i.ID), nil
	case IncidentResolved:
		return fmt.Sprintf("%s is resolved, so this stays a note. Its customers' new posts open cases of their own.", i.ID), nil
	}
	// The same gate as a reply in a case's thread, with the incident
	// standing in for the case: its owner holds the claim, and the text
	// must fit the tightest network (each complainant's is checked below).
	proxy := b.incidentProxy(i)
	v, claim := b.classify(w, &proxy, StaffMessage{Staff: by, Message: msg, Text: s.Text, Mentions: s.Mentions})
	if v.Kind != Publish {
		return strings.ReplaceAll(v.Reason, b.cfg.CommandPrefix+"claim", b.cfg.CommandPrefix+"incident claim"), nil
	}
	text := v.Text
	if i.Pending.Kind != "" {
		return fmt.Sprintf("%s's %s is waiting to go out already (until %s): edit or delete it instead.",
			i.Pending.By.Display(), pendingWhat(i.Pending.Kind), i.Pending.Due.UTC().Format("15:04:05 MST")), nil
	}
	if err := b.checkFanOut(w, i, text); err != nil {
		return userMessage(err), nil
	}
	if claim {
		if _, err := w.emit(Event{Type: EvIncOwned, Incident: i.ID, Staff: staffPtr(by), To: staffPtr(by)}); err != nil {
			return "", err
		}
	}
	ev := Event{Type: EvIncAck, Incident: i.ID, Staff: staffPtr(by), Text: text, Command: command, Until: w.now.Add(b.cfg.UndoWindow)}
	if msg.ID != "" {
		ev.Thread, ev.ID = &ThreadRef{Desk: msg.Desk, Channel: msg.Channel, ID: msg.Thread}, msg.ID
	}
	if _, err := w.emit(ev); err != nil {
		return "", err
	}
	return "", nil
}

// invocationMentions are the desk mentions of the command ctx carries
// (none outside a command).
func invocationMentions(ctx context.Context) []DeskMention {
	inv, _ := invocationFrom(ctx)
	return inv.Mentions
}

// publicText reads text that goes out for incident i to everyone (its
// closing message, its status posts) through the gate a reply passes
// (Judge, with its owner as the claimer): the text to publish, or a
// refusal saying why nothing goes (a note prefix, nothing visible, desk
// markup, a mention, another account).
func (b *Bridge) publicText(ctx context.Context, i *Incident, text string) (string, error) {
	proxy := b.incidentProxy(i)
	v := b.Judge(&proxy, Speech{Text: text, Mentions: invocationMentions(ctx)})
	if v.Kind != Publish {
		return "", &UserError{Msg: "Not sent: " + v.Reason}
	}
	return v.Text, nil
}

func pendingWhat(kind string) string {
	if kind == pendingClosing {
		return "closing message"
	}
	return "acknowledgement"
}

// incidentProxy is incident i as the case the thread gate reads: its
// queue, its owner as the claimer, the network with the tightest limit.
func (b *Bridge) incidentProxy(i *Incident) Case {
	c := Case{ID: CaseID(i.ID), Queue: i.Queue, Status: StatusNew, Assignee: i.Owner, AssigneeName: i.OwnerName}
	if i.Owner != "" {
		c.Status = StatusClaimed
	}
	tightest := -1
	for _, name := range b.networkNames() {
		if max := b.networks[name].Limits().Max; tightest < 0 || max > 0 && max < tightest {
			c.Network, tightest = name, max
		}
	}
	return c
}

// userMessage is the text of a refusal.
func userMessage(err error) string {
	if ue, ok := err.(*UserError); ok {
		return ue.Msg
	}
	return err.Error()
}

// checkFanOut checks a template for every complainant it would go to:
// known placeholders only, a status link only where the status thread
// has one, and each personal text within its network's limit.
func (b *Bridge) checkFanOut(w *writeTx, i *Incident, tmpl string) error {
	if bad := unknownPlaceholder(tmpl); bad != "" {
		return Userf("Not sent: {%s} is not a placeholder (use {%s}).", bad, strings.Join(placeholders, "}, {"))
	}
	n, first, why := 0, "", ""
	cases := linkedCases(w.Txn, i.ID)
	for _, c := range cases {
		if strings.Contains(tmpl, "{status_url}") && i.StatusURL(c.Network) == "" {
			return Userf("Not sent: it links the status thread ({status_url}), and %s has none on %s yet. Start it with `%sincident status text`.",
				i.ID, networkTitle(c.Network), b.cfg.CommandPrefix)
		}
		if r := b.tooLong(c, personalize(tmpl, c, i), c.Private); r != "" {
			if n == 0 {
				first, why = "@"+strings.TrimPrefix(c.Customer.Handle, "@")+" on "+networkTitle(c.Network), r
			}
			n++
		}
	}
	if n > 0 {
		return Userf("Not sent: with the handle in front it is too long for %d of %d complainants (first %s: %s)", n, len(cases), first, why)
	}
	return nil
}

// personalize is tmpl for case c of incident i: the placeholders filled
// in, starting with the customer's handle (a public reply) unless the
// text mentions it already.
func personalize(tmpl string, c *Case, i *Incident) string {
	text := fillIn(tmpl, c, i)
	if handle := strings.TrimPrefix(c.Customer.Handle, "@"); handle != "" && !c.Private && !strings.Contains(strings.ToLower(text), "@"+strings.ToLower(handle)) {
		text = "@" + handle + " " + text
	}
	return text
}

// fillIn is tmpl with the placeholders of case c (of incident i, or none)
// filled in: {name}, {handle}, {network}, {case}, {incident}, {status_url}.
func fillIn(tmpl string, c *Case, i *Incident) string {
	handle := strings.TrimPrefix(c.Customer.Handle, "@")
	name := c.Customer.Name
	if name == "" {
		name = handle
	}
	statusURL, incident := "", ""
	if i != nil {
		statusURL, incident = i.StatusURL(c.Network), string(i.ID)
	}
	return strings.TrimSpace(strings.NewReplacer("{name}", name, "{handle}", "@"+handle, "{network}", networkTitle(c.Network),
		"{case}", string(c.ID), "{incident}", incident, "{status_url}", statusURL).Replace(tmpl))
}

// hasItem reports whether case c has an item of incident i for purpose
// that went or may have gone (or waits to): at most one each.
func hasItem(w *writeTx, c *Case, i IncidentID, purpose string) bool {
	for _, it := range itemsOf(w.Txn, c.ID) {
		if it.Incident == i && it.Purpose == purpose {
			switch it.State {
			case OutboxQueued, OutboxAttempting, OutboxSent, OutboxUncertain:
				return true
			}
		}
	}
	return false
}

// lateAck queues the incident's acknowledgement for case id, just linked,
// when the incident has one, late joiners get it, and its author still
// owns the incident (else staff write it again).
func (b *Bridge) lateAck(w *writeTx, inc IncidentID, id CaseID) error {
	i := getIncident(w.Txn, inc)
	c, _ := getCase(w.Txn, id)
	if i == nil || c == nil || i.Ack == "" || !i.LateJoiners || !i.Live() || i.Owner != i.AckBy.Key() ||
		!c.Status.Open() || hasItem(w, c, i.ID, PurposeAck) {
		return nil
	}
	_, err := b.enqueue(w, c, itemSpec{by: i.AckBy, text: personalize(i.Ack, c, i), private: c.Private, incident: i.ID, purpose: PurposeAck})
	return err
}

// joinIncident links case c, just opened, to the oldest open incident of
// its queue whose terms its complaint has; a late joiner gets the
// acknowledgement.
func (b *Bridge) joinIncident(w *writeTx, c *Case) error {
	if c == nil || c.Incident != "" {
		return nil
	}
	incidents := incidentsIn(w.Txn, c.Queue, IncidentOpen)
	if len(incidents) == 0 {
		return nil
	}
	terms := caseTerms(c)
	for _, i := range incidents {
		if matchesTerms(i.Terms, terms) {
			if _, err := w.emit(Event{Type: EvIncLinked, Incident: i.ID, Case: c.ID}); err != nil {
				return err
			}
			return b.lateAck(w, i.ID, c.ID)
		}
	}
	return nil
}

// release sends incident id's pending message, its undo window over: one
// item per linked complainant who has not had it. It does journal I/O.
func (b *Bridge) release(id IncidentID) error {
	_, err := b.change(func(w *writeTx) error {
		i := getIncident(w.Txn, id)
		if i == nil || i.Pending.Kind == "" {
			return errUnchanged
		}
		p := i.Pending
		withdraw := func(reason string) error {
			_, err := w.emit(Event{Type: EvIncWithdrawn, Incident: i.ID, Text: reason, Flag: true})
			return err
		}
		switch {
		case i.Owner != p.By.Key():
			return withdraw(fmt.Sprintf("%s no longer owns %s, so nothing was published.", p.By.Display(), i.ID))
		case p.Kind == pendingAck && !i.Live():
			return withdraw(fmt.Sprintf("%s is %s, so the acknowledgement was not published.", i.ID, i.Status))
		}
		if err := b.checkFanOut(w, i, p.Text); err != nil {
			return withdraw(userMessage(err))
		}
		if _, err := w.emit(Event{Type: EvIncReleased, Incident: i.ID}); err != nil {
			return err
		}
		purpose := PurposeAck
		if p.Kind == pendingClosing {
			purpose = PurposeClosing
		}
		for _, c := range linkedCases(w.Txn, i.ID) {
			if purpose == PurposeAck && !c.Status.Open() || hasItem(w, c, i.ID, purpose) {
				continue
			}
			if _, err := b.enqueue(w, c, itemSpec{by: p.By, text: personalize(p.Text, c, i), private: c.Private, incident: i.ID, purpose: purpose}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == errUnchanged {
		return nil
	}
	return err
}

// incidentAttempt journals the attempt of an incident's item and returns
// what to publish, or journals why it does not go (then net is nil).
// Checked at the last moment: its author owns the incident, its case is
// still linked (and open, for an acknowledgement), the text fits.
func (b *Bridge) incidentAttempt(w *writeTx, it *OutboxItem) (OutboxItem, Reply, Network, error) {
	var none OutboxItem
	stop := func(typ EventType, reason string) (OutboxItem, Reply, Network, error) {
		_, err := w.emit(Event{Type: typ, ID: it.ID, Text: reason, Flag: typ == EvCancelled})
		return none, Reply{}, nil, err
	}
	i := getIncident(w.Txn, it.Incident)
	if i == nil {
		return stop(EvFailed, "The incident is gone.")
	}
	if i.Owner != it.Staff.Key() {
		if i.Owner == "" {
			return stop(EvCancelled, fmt.Sprintf("Nobody owns %s now, so nothing was published.", i.ID))
		}
		return stop(EvCancelled, fmt.Sprintf("%s owns %s now, so nothing was published.", orSomeone(i.OwnerName), i.ID))
	}
	net := b.networks[it.Network]
	if net == nil {
		return stop(EvFailed, networkTitle(it.Network)+" is not connected.")
	}
	reply := Reply{Network: it.Network, Text: strings.TrimSpace(it.Text), Private: it.Private, IdempotencyKey: it.Key}
	if it.Purpose == PurposeStatus {
		reply.Broadcast = true
		for _, p := range i.StatusPosts {
			if p.Network == it.Network {
				reply.InReplyTo, reply.InRef = p.ID, map[string]string{"uri": p.ID}
			}
		}
		for _, p := range i.StatusRoots {
			if p.Network == it.Network && reply.InRef != nil {
				reply.InRef["root_uri"] = p.ID
			}
		}
		if r := b.tooLong(&Case{Network: it.Network}, it.Text, false); r != "" {
			return stop(EvCancelled, r)
		}
	} else {
		c, _ := getCase(w.Txn, it.Case)
		switch {
		case c == nil:
			return stop(EvFailed, "The case is gone.")
		case c.Incident != i.ID:
			return stop(EvCancelled, fmt.Sprintf("%s is no longer part of %s, so nothing was published.", c.ID, i.ID))
		case it.Purpose == PurposeAck && !i.Live():
			return stop(EvCancelled, fmt.Sprintf("%s was resolved before this went out.", i.ID))
		case it.Purpose == PurposeAck && !c.Status.Open():
			return stop(EvCancelled, fmt.Sprintf("%s was resolved before this went out.", c.ID))
		case c.Assignee != "":
			return stop(EvCancelled, fmt.Sprintf("%s holds the claim on %s; its claimer speaks for it.", orSomeone(c.AssigneeName), c.ID))
		}
		if r := b.tooLong(c, it.Text, it.Private); r != "" {
			return stop(EvCancelled, r)
		}
		reply.Case, reply.InReplyTo, reply.InRef, reply.To = c.ID, c.Last.ID, c.Last.Ref, c.Customer
	}
	a, err := w.emit(Event{Type: EvAttempt, ID: it.ID})
	if err != nil {
		return none, Reply{}, nil, err
	}
	return *a.item, reply, net, nil
}

// incidentEdit applies an edit of an incident's pending message inside
// its undo window; handled is false when m is not one.
func (b *Bridge) incidentEdit(m StaffMessage) (handled bool, err error) {
	id, ok := b.pendingFor(m.Message)
	if !ok {
		return false, nil
	}
	_, err = b.change(func(w *writeTx) error {
		i := getIncident(w.Txn, id)
		if i == nil || i.Pending.Message.ID != m.Message.ID {
			return nil // released or withdrawn meanwhile
		}
		withdraw := func(reason string, rules bool) error {
			_, err := w.emit(Event{Type: EvIncWithdrawn, Incident: i.ID, Text: reason, Flag: rules})
			return err
		}
		// The same gate as the message itself (and as an edit of a reply
		// in a case's thread): a note prefix, nothing visible, desk markup
		// or a mention withdraw it.
		text := m.Text
		if i.Pending.Command != "" {
			rest, ok := commandRest(text, i.Pending.Command)
			if !ok {
				if v, note := b.prefixVerdict(text); note && !hasFoldedPrefix(text, b.cfg.CommandPrefix) {
					return withdraw("Edited into a note, so nothing will be published. "+v.Reason, false)
				}
				return withdraw(fmt.Sprintf("Edited so it is no longer %s: nothing will be published.", i.Pending.Command), false)
			}
			text = rest
		}
		proxy := b.incidentProxy(i)
		v := b.Judge(&proxy, Speech{Text: text, Mentions: m.Mentions})
		switch v.Kind {
		case KeptNote:
			return withdraw("Edited into a note, so nothing will be published. "+v.Reason, false)
		case Nothing:
			return withdraw("Edited so there is nothing left to send: nothing will be published.", false)
		case Refused:
			return withdraw("The edit cannot go out, so nothing will be published. "+v.Reason, true)
		}
		text = v.Text
		if err := b.checkFanOut(w, i, text); err != nil {
			return withdraw("The edit cannot go out, so nothing will be published. "+userMessage(err), true)
		}
		if text == i.Pending.Text {
			return nil
		}
		_, err := w.emit(Event{Type: EvIncEdited, Incident: i.ID, Text: text})
		return err
	})
	if err != nil {
		return true, fmt.Errorf("bridge: staff edit: %w", err)
	}
	return true, nil
}

// incidentDelete withdraws an incident's pending message deleted inside
// its undo window; handled is false when m is not one.
func (b *Bridge) incidentDelete(m StaffMessage) (handled bool, err error) {
	id, ok := b.pendingFor(m.Message)
	if !ok {
		return false, nil
	}
	_, err = b.change(func(w *writeTx) error {
		i := getIncident(w.Txn, id)
		if i == nil || i.Pending.Message.ID != m.Message.ID {
			return nil
		}
		_, err := w.emit(Event{Type: EvIncWithdrawn, Incident: i.ID})
		return err
	})
	if err != nil {
		return true, fmt.Errorf("bridge: staff delete: %w", err)
	}
	return true, nil
}

// pendingFor finds the incident whose pending message m is.
func (b *Bridge) pendingFor(m MessageRef) (IncidentID, bool) {
	if m.ID == "" {
		return "", false
	}
	for _, i := range allIncidents(b.read()) {
		if p := i.Pending.Message; i.Pending.Kind != "" && p.ID == m.ID && p.Channel == m.Channel && p.Desk == m.Desk {
			return i.ID, true
		}
	}
	return "", false
}

// explainIncident tells a message's author privately why it was not sent.
func (b *Bridge) explainIncident(id IncidentID, msg MessageRef, reason string) {
	b.ops.add(msg.Desk, incidentWork(id), deskOp{kind: opMark, message: msg, delivery: Delivery{State: DeliveryNotSent, Reason: reason, Private: true}})
	b.kickIncident(id, true)
}

// answerInIncident shows a text command's answer in the incident thread it
// was typed in (textCommand's answer for a thread that is no case's).
func (b *Bridge) answerInIncident(m StaffMessage, res Response) {
	i, ok := b.IncidentForThread(m.Thread)
	if !ok {
		return
	}
	op := deskOp{kind: opNotice, thread: m.Thread, msg: DeskMessage{Kind: DeskNotice, Text: res.Text}}
	if res.Private {
		op.kind, op.staffID = opNotify, m.Staff.ID
	}
	b.ops.add(m.Thread.Desk, incidentWork(i.ID), op)
	b.kickIncident(i.ID, true)
}

// ---- the incident loop ----

// runIncidents releases pending incident messages when their undo window
// ends and journals the detector's suggestions, until ctx ends.
func (b *Bridge) runIncidents(ctx context.Context) {
	start := b.clock.Now()
	b.incidents.detect.rebuild(b, start)
	for {
		next := b.releaseDue(start)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = b.clock.At(next) // one reading of the clock (Clock.At)
		} else {
			timer = b.clock.After(incidentWake)
		}
		select {
		case <-ctx.Done():
			return
		case c := <-b.incidents.detect.in:
			b.incidents.detect.observe(b, c)
		case s := <-b.incidents.detect.found:
			if err := b.suggest(s); err != nil {
				b.log.Warn("bridge: incident suggestion not journaled", "queue", s.queue, "err", err)
			}
		case <-b.incidents.poke:
		case <-timer:
		}
	}
}

// releaseDue releases every pending message whose undo window is over and
// returns when the next one ends (zero: none waits). A window that ended
// while Earshot was down (before start) gets a fresh one from start, so a
// delete made meanwhile, delivered late, still counts.
func (b *Bridge) releaseDue(start time.Time) time.Time {
	now := b.clock.Now()
	var next time.Time
	for _, i := range allIncidents(b.read()) {
		if i.Pending.Kind == "" {
			continue
		}
		due := i.Pending.Due
		if due.Before(start) {
			due = start.Add(b.cfg.UndoWindow)
		}
		if due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		if err := b.release(i.ID); err != nil {
			b.log.Error("bridge: incident message not released; trying again", "incident", string(i.ID), "err", err)
			if retry := now.Add(time.Second); next.IsZero() || retry.Before(next) {
				next = retry
			}
		}
	}
	return next
}

// wakeIncidents makes the incident loop look again (a pending message was
// written).
func (b *Bridge) wakeIncidents() {
	select {
	case b.incidents.poke <- struct{}{}:
	default:
	}
}
