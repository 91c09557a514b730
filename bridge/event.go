package bridge

import (
	"time"
)

// EventType names one kind of state change. The names are in the journal:
// never rename one, only add.
type EventType string

// The events. Each says which Event fields it uses.
const (
	EvOpened    EventType = "case.opened"       // Case, Post (the opening post), Queue, Num (priority), Tags, Previous
	EvFollowUp  EventType = "case.follow_up"    // Case, Post; Flag: it reopens the resolved case
	EvClaimed   EventType = "case.claimed"      // Case, Staff
	EvReleased  EventType = "case.released"     // Case, Staff; Flag: forced by a lead
	EvAssigned  EventType = "case.assigned"     // Case, Staff (the lead), To
	EvEscalated EventType = "case.escalated"    // Case, Staff, Team, Text (the reason)
	EvResolved  EventType = "case.resolved"     // Case, Staff, Text (the summary)
	EvReopened  EventType = "case.reopened"     // Case, Staff
	EvPrivate   EventType = "case.private"      // Case, Staff
	EvPriority  EventType = "case.priority"     // Case, Staff, Num
	EvTagged    EventType = "case.tagged"       // Case, Staff, Tags (added), Remove
	EvSnoozed   EventType = "case.snoozed"      // Case, Staff, Until (zero: awake)
	EvBreached  EventType = "case.sla_breached" // Case, Text (kind: first_response or resolution)
	EvThread    EventType = "thread.opened"     // Case, Thread, Queue, Version (the card shown), Num (posts shown)
	EvSynced    EventType = "thread.synced"     // Thread, Version (the card shown), Num (posts shown)
	EvQueued    EventType = "outbox.queued"     // Item
	EvEdited    EventType = "outbox.edited"     // ID, Text
	EvCancelled EventType = "outbox.cancelled"  // ID, Text (the reason, "" for a delete); Flag: the rules stopped it
	EvAttempt   EventType = "outbox.attempt"    // ID
	EvSent      EventType = "outbox.sent"       // ID, Ref, Text (the network's warning for staff, if any)
	EvRetrying  EventType = "outbox.retrying"   // ID, Until (next try), Text (the reason)
	EvFailed    EventType = "outbox.failed"     // ID, Text (the reason)
	EvUncertain EventType = "outbox.uncertain"  // ID, Text (the reason)
	EvRequeued  EventType = "outbox.requeued"   // ID, Until (due), Flag: a new series of attempts (staff sent it again)
	EvMarked    EventType = "outbox.marked"     // ID, State (the mark the desk now shows)
	EvPruned    EventType = "case.pruned"       // Case: resolved longer than the retention; forgotten with its threads, posts and outbox items
	EvRefused   EventType = "outbox.refused"    // Item: a staff message not sent (a note, or stopped by the rules), cancelled from the start with its reason, so its mark and explanation survive a crash
	EvOpening   EventType = "thread.opening"    // Case, Thread (desk and channel, no id), Queue, ID (the key the card is posted with): the desk is about to show the card; a restart looks for it before posting another

	// Incidents (incident.go). Each names its incident in Incident.
	EvIncSuggested EventType = "incident.suggested" // Queue, Tags (terms), Num (complaints seen), Text (title), Until (not suggested again for these terms before)
	EvIncDeclared  EventType = "incident.declared"  // Staff, Queue, Tags (terms), Text (title), Case (the case it was started from, if any); a suggested incident becomes open
	EvIncDismissed EventType = "incident.dismissed" // Staff: a suggestion staff said is not an incident
	EvIncLinked    EventType = "incident.linked"    // Case, Staff (nil: linked by its terms)
	EvIncUnlinked  EventType = "incident.unlinked"  // Case, Staff (nil: by a rule), Text (why); Flag: split out by staff
	EvIncOwned     EventType = "incident.owned"     // Staff (who acted), To (the new owner; nil releases); Flag: forced by a lead
	EvIncAck       EventType = "incident.ack"       // Staff, Text (the acknowledgement), Thread + ID (its desk message), Command, Until (end of its undo window)
	EvIncEdited    EventType = "incident.edited"    // Text: the pending acknowledgement or closing message, edited in its undo window
	EvIncWithdrawn EventType = "incident.withdrawn" // Text (why, "" for a delete): the pending message will not go; Flag: the rules stopped it
	EvIncReleased  EventType = "incident.released"  // the pending message's undo window ended: it goes to every linked complainant (outbox.queued events follow)
	EvIncUpdated   EventType = "incident.updated"   // Staff, Text (the status update)
	EvIncResolved  EventType = "incident.resolved"  // Staff, Text (the closing message), Thread + ID (its desk message), Command, Until (end of its undo window); case.resolved events follow
	EvIncLate      EventType = "incident.late"      // Staff; Flag: late joiners get the acknowledgement automatically
	EvIncTerms     EventType = "incident.terms"     // Staff, Tags (the terms now), Text (the title now)
	EvIncPublic    EventType = "incident.public"    // Staff, Text (the first status post): the public status thread starts (outbox.queued events follow)
	EvIncThread    EventType = "incident.thread"    // Thread, Version (the card shown), Num (feed entries shown)
)

// Event is one journaled state change. Fields are used by type (see the
// constants); the rest stay empty. At is when it happened: apply reads no
// clock, so a replay gives the same state. The journal holds it in the
// binary form of codec.go: a field added here is added there too (a test
// fills every field and checks that it comes back).
type Event struct {
	Type     EventType     `json:"t"`
	At       time.Time     `json:"at"`
	Case     CaseID        `json:"c,omitempty"`
	Post     *Post         `json:"post,omitempty"`
	Staff    *Staff        `json:"by,omitempty"`
	To       *Staff        `json:"to,omitempty"`
	Text     string        `json:"text,omitempty"`
	Team     string        `json:"team,omitempty"`
	Queue    string        `json:"queue,omitempty"`
	Flag     bool          `json:"flag,omitempty"`
	Num      int           `json:"n,omitempty"`
	Tags     []string      `json:"tags,omitempty"`
	Remove   []string      `json:"rm,omitempty"`
	Previous []CaseID      `json:"prev,omitempty"`
	Until    time.Time     `json:"until,omitzero"`
	Thread   *ThreadRef    `json:"thread,omitempty"`
	Version  uint64        `json:"v,omitempty"`
	Item     *OutboxItem   `json:"item,omitempty"`
	ID       string        `json:"id,omitempty"`
	Ref      *PostRef      `json:"ref,omitempty"`
	State    DeliveryState `json:"state,omitempty"`
	Incident IncidentID    `json:"inc,omitempty"`
	// Command is the text command a pending incident message was typed
	// with ("!incident resolve"), so an edit keeps it that command.
	Command string `json:"cmd,omitempty"`
}

// OutboxState is where a reply stands in the outbox.
type OutboxState string

const (
	OutboxQueued     OutboxState = "queued"     // waiting for its due time: the undo window, or a retry's backoff
	OutboxAttempting OutboxState = "attempting" // an attempt is journaled and its outcome is not
	OutboxSent       OutboxState = "sent"
	OutboxFailed     OutboxState = "failed"    // the last try failed, or the network refused it; staff may send again
	OutboxUncertain  OutboxState = "uncertain" // an attempt may have gone through; staff check, then may send again
	OutboxCancelled  OutboxState = "cancelled" // deleted or edited away in the undo window, the claim moved, or never sent (a note, a refusal: outbox.refused)
)

// OutboxItem is one reply on its way to a network, and its fate.
type OutboxItem struct {
	ID      string     `json:"id"` // "ob-12"
	Seq     uint64     `json:"seq"`
	Case    CaseID     `json:"case"`
	Network string     `json:"network"`
	Staff   Staff      `json:"staff"`             // who wrote it; they must hold the claim when it goes
	Message MessageRef `json:"message,omitzero"`  // the staff message it came from; empty for a command reply
	Thread  ThreadRef  `json:"thread,omitzero"`   // where it was written
	Text    string     `json:"text"`              // what goes out (the edited text after an edit)
	Private bool       `json:"private,omitempty"` // a direct message
	// Command is the text command the message was typed with ("!reply"),
	// when it came from one: an edit keeps it to stay a reply.
	Command string `json:"command,omitempty"`
	// Key is the idempotency key, stable over every attempt.
	Key      string      `json:"key"`
	State    OutboxState `json:"state"`
	Due      time.Time   `json:"due"`
	Attempts int         `json:"attempts,omitempty"` // tries in the current series
	Reason   string      `json:"reason,omitempty"`   // why it failed, is uncertain, or was cancelled; sent: the network's warning
	Sent     PostRef     `json:"sent,omitzero"`
	// Marked is the delivery state the desk shows for it now; the desk
	// catches up while it differs from the item's.
	Marked    DeliveryState `json:"marked,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	// Incident is set on an incident's items: one acknowledgement or
	// closing message per linked complainant (Purpose "ack", "closing"),
	// or a post of its public status thread (Purpose "status", no Case).
	// The incident's owner speaks for them (see incident.go).
	Incident IncidentID `json:"incident,omitempty"`
	Purpose  string     `json:"purpose,omitempty"`
}

// Delivery is the mark that shows the item's state to staff.
func (it *OutboxItem) Delivery(c *Case) Delivery {
	switch it.State {
	case OutboxQueued:
		return Delivery{State: DeliveryPending, Until: it.Due, Text: it.Text}
	case OutboxAttempting:
		return Delivery{State: DeliveryPending, Text: it.Text}
	case OutboxSent:
		return Delivery{State: DeliverySent, Link: it.Sent.URL, Reason: it.Reason}
	case OutboxFailed:
		return Delivery{State: DeliveryFailed, Reason: it.Reason, Retry: it.ID}
	case OutboxUncertain:
		link := ""
		if c != nil {
			link = c.Last.URL
		}
		return Delivery{State: DeliveryUncertain, Reason: it.Reason, Link: link, Retry: it.ID}
	case OutboxCancelled:
		if it.Reason == "" {
			return Delivery{State: DeliveryCancelled}
		}
		return Delivery{State: DeliveryNotSent, Reason: it.Reason, Private: true}
	}
	return Delivery{}
}

// deliveryState is the mark state of the item's state.
func (it *OutboxItem) deliveryState() DeliveryState {
	return it.Delivery(nil).State
}

// showsAs reports whether a desk that was told of item was (its mark, or
// the line about a command's reply) shows it as it is now: the same
// state, text, reason, link and retry. Only the undo window's end may
// differ (a retry or an attempt moves it), which no desk shows.
func (it *OutboxItem) showsAs(was *OutboxItem) bool {
	now, then := it.Delivery(nil), was.Delivery(nil)
	now.Until, then.Until = time.Time{}, time.Time{}
	return now == then && it.Text == was.Text
}
