package bridge

import (
	"fmt"
	"sync"
)

// react runs the live consequences of durable changes: lines in the
// threads, desk work and the outbox (metrics are counted just before, by
// observe). It runs after the journal has the events and readers see
// them, never on replay.
func (b *Bridge) react(fx []applied) {
	poke := false
	for _, a := range fx {
		ev := a.ev
		c := a.after
		switch ev.Type {
		case EvQueued, EvRequeued, EvRetrying, EvEdited:
			poke = true
		}
		if c == nil {
			continue
		}
		by := ""
		if ev.Staff != nil {
			by = ev.Staff.Display()
		}
		switch ev.Type {
		case EvClaimed:
			b.notice(c, "", fmt.Sprintf("Claimed by %s.", by))
		case EvReleased:
			if ev.Flag {
				b.notice(c, "", fmt.Sprintf("%s took the claim back from %s; the case is unclaimed.", by, orSomeone(a.before.AssigneeName)))
			} else {
				b.notice(c, "", fmt.Sprintf("Released by %s; the case is back in the queue.", by))
			}
		case EvAssigned:
			b.notice(c, "", fmt.Sprintf("Assigned to %s by %s.", c.AssigneeName, by))
		case EvEscalated:
			reason := ""
			if ev.Text != "" {
				reason = ": " + ev.Text
			}
			b.notice(c, a.before.Queue, fmt.Sprintf("Escalated to %s by %s%s", ev.Team, by, reason))
			b.notice(c, ev.Team, fmt.Sprintf("Escalated from %s by %s%s", a.before.Queue, by, reason))
		case EvResolved:
			if ev.Text != "" {
				b.notice(c, "", fmt.Sprintf("Resolved by %s: %s", by, ev.Text))
			} else {
				b.notice(c, "", fmt.Sprintf("Resolved by %s.", by))
			}
		case EvReopened:
			b.notice(c, "", fmt.Sprintf("Reopened by %s.", by))
		case EvFollowUp:
			if ev.Flag {
				b.notice(c, "", "Reopened: the customer wrote again.")
			}
		case EvPrivate:
			b.notice(c, "", fmt.Sprintf("%s moved this case to direct messages: replies now go by DM.", by))
		case EvBreached:
			b.notice(c, "", slaNotice(ev.Text))
		}
		switch {
		case a.item != nil && a.item.Incident != "":
			// An incident's items have no mark of their own: its card
			// counts them (reactIncident).
		case ev.Staff != nil || a.item != nil:
			b.kick(c.ID, c.Priority, c.Seq) // a staff action, or the fate of a staff reply
		default:
			b.kickBulk(c.ID, c.Priority, c.Seq)
		}
	}
	b.reactIncidents(fx)
	if poke {
		b.outbox.poke()
	}
}

// observe counts what the metrics contract counts per event.
func (b *Bridge) observe(a applied) {
	m, ev, c := b.metrics, a.ev, a.after
	switch ev.Type {
	case EvClaimed, EvAssigned:
		if a.before != nil && a.before.ClaimedAt.IsZero() && !c.ClaimedAt.IsZero() {
			m.claim.WithLabelValues(c.Queue).Observe(c.ClaimedAt.Sub(c.OpenedAt).Seconds())
		}
	case EvResolved:
		m.resolution.WithLabelValues(c.Queue).Observe(c.ResolvedAt.Sub(c.OpenedAt).Seconds())
	case EvBreached:
		m.breaches.WithLabelValues(c.Queue, ev.Text).Inc()
	case EvSent:
		m.replies.WithLabelValues(a.item.Network, ReplySent).Inc()
		if c != nil && a.before != nil && a.before.RespondedAt.IsZero() {
			m.firstResponse.WithLabelValues(c.Queue, c.Network).Observe(c.RespondedAt.Sub(c.OpenedAt).Seconds())
		}
	case EvFailed:
		m.replies.WithLabelValues(a.item.Network, ReplyFailed).Inc()
	case EvUncertain:
		m.replies.WithLabelValues(a.item.Network, ReplyUncertain).Inc()
	case EvCancelled:
		result := ReplyCancelled // its author deleted it or edited it away
		if ev.Flag {
			result = ReplyRefused // the rules stopped it (the claim moved, too long)
		}
		m.replies.WithLabelValues(a.item.Network, result).Inc()
	}
}

func slaNotice(kind string) string {
	if kind == SLAFirstResponse {
		return "SLA: the first response is overdue."
	}
	return "SLA: resolution is overdue."
}

// notice queues a line from Earshot for the case's thread in queue (""
// means the queue the case is in now).
func (b *Bridge) notice(c *Case, queue, text string) {
	if queue == "" {
		queue = c.Queue
	}
	q, ok := b.queues[queue]
	if !ok {
		return
	}
	b.ops.add(q.Desk, c.ID, deskOp{kind: opNotice, queue: queue, msg: DeskMessage{Kind: DeskNotice, Text: text}})
}

// noticeIn queues a line for one known thread.
func (b *Bridge) noticeIn(c *Case, t ThreadRef, text string) {
	b.ops.add(t.Desk, c.ID, deskOp{kind: opNotice, thread: t, msg: DeskMessage{Kind: DeskNotice, Text: text}})
}

// notify queues a private line for one staff member in thread t (a line
// in the thread where the desk cannot be private).
func (b *Bridge) notify(c *Case, t ThreadRef, staffID, text string) {
	b.ops.add(t.Desk, c.ID, deskOp{kind: opNotify, thread: t, staffID: staffID, msg: DeskMessage{Kind: DeskNotice, Text: text}})
}

// kick asks every desk that shows case id to catch up with it, in the
// staff lane (lane.go): callers are staff actions' consequences.
func (b *Bridge) kick(id CaseID, priority int, seq uint64) {
	for _, q := range b.work {
		q.pushStaff(id, priority, seq)
	}
}

// opKind says what a desk op does.
type opKind int

const (
	opNotice opKind = iota // post a line in a thread
	opNotify               // say something privately to one staff member
	opMark                 // mark an incident's message (its pending acknowledgement or closing message, a refusal)
)

// deskOp is one best-effort desk action waiting for its case's thread:
// lines and answers to commands that need no journal (a crash may lose
// them; nothing public depends on them). The marks and explanations of
// staff messages in case threads are not among them: every one that is
// not sent is journaled with its reason (an outbox item, see refuse).
// Messages in an incident's thread are marked by op (opMark).
type deskOp struct {
	kind     opKind
	queue    string    // notices: the thread of the case in this queue
	thread   ThreadRef // or this thread
	staffID  string
	msg      DeskMessage
	message  MessageRef // opMark: the message
	delivery Delivery   // opMark: its mark
}

type opKey struct {
	desk string
	id   CaseID
}

// pendingOps holds desk ops per desk and case, in order.
type pendingOps struct {
	mu sync.Mutex
	m  map[opKey][]deskOp
}

func newPendingOps() *pendingOps { return &pendingOps{m: map[opKey][]deskOp{}} }

// maxOpsPerCase bounds a case's waiting ops (a desk down for long).
const maxOpsPerCase = 200

func (p *pendingOps) add(desk string, id CaseID, op deskOp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := opKey{desk, id}
	ops := append(p.m[k], op)
	if len(ops) > maxOpsPerCase {
		ops = ops[len(ops)-maxOpsPerCase:]
	}
	p.m[k] = ops
}

// take removes and returns the ops of one desk and case.
func (p *pendingOps) take(desk string, id CaseID) []deskOp {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := opKey{desk, id}
	ops := p.m[k]
	delete(p.m, k)
	return ops
}

// putBack returns ops not done yet, ahead of any added meanwhile.
func (p *pendingOps) putBack(desk string, id CaseID, ops []deskOp) {
	if len(ops) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := opKey{desk, id}
	p.m[k] = append(ops, p.m[k]...)
}

func (p *pendingOps) has(desk string, id CaseID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m[opKey{desk, id}]) > 0
}
