package bridge

import (
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// The read side: what desks render and commands list. Every function here
// reads one consistent view of the store and does no I/O.

// maxHistory bounds the earlier cases a card lists.
const maxHistory = 10

// view renders c for a card.
func (b *Bridge) view(tx *memdb.Txn, c *Case) CaseView {
	v := CaseView{Case: *c, Posts: c.PostCount}
	v.FirstResponseDue, v.ResolutionDue = b.dues(c)
	v.History = b.history(tx, c)
	for _, q := range b.cfg.Queues {
		if q.Team && q.Name != c.Queue {
			v.Teams = append(v.Teams, q.Name)
		}
	}
	b.caseIncident(tx, c, &v)
	return v
}

// dues are the case's SLA deadlines (zero where its queue sets none).
func (b *Bridge) dues(c *Case) (firstResponse, resolution time.Time) {
	sla := b.queues[c.Queue].SLA
	if sla.FirstResponse > 0 {
		firstResponse = c.OpenedAt.Add(sla.FirstResponse)
	}
	if sla.Resolution > 0 {
		resolution = c.OpenedAt.Add(sla.Resolution)
	}
	return firstResponse, resolution
}

// nextDue is the deadline that matters now (CaseView.Due without a view).
func (b *Bridge) nextDue(c *Case) time.Time {
	fr, res := b.dues(c)
	return CaseView{Case: Case{Status: c.Status, RespondedAt: c.RespondedAt}, FirstResponseDue: fr, ResolutionDue: res}.Due()
}

// history lists the customer's other cases, newest first.
func (b *Bridge) history(tx *memdb.Txn, c *Case) []CaseSummary {
	cases := casesOfCustomer(tx, c.Network, c.Customer.ID)
	var out []CaseSummary
	for i := len(cases) - 1; i >= 0 && len(out) < maxHistory; i-- {
		if other := cases[i]; other.ID != c.ID {
			out = append(out, other.summary(b.nextDue(other)))
		}
	}
	return out
}

// Case returns a case by id (as staff type it: "e-42" finds E-42).
func (b *Bridge) Case(id CaseID) (CaseView, bool) {
	tx := b.read()
	c := findCase(tx, id)
	if c == nil {
		return CaseView{}, false
	}
	return b.view(tx, c), true
}

// CaseForThread returns the case whose thread t is.
func (b *Bridge) CaseForThread(t ThreadRef) (CaseView, bool) {
	if t.ID == "" {
		return CaseView{}, false
	}
	row, tx := b.thread(t.Desk, t.ID)
	if row == nil {
		return CaseView{}, false
	}
	c, _ := getCase(tx, row.Case)
	if c == nil {
		return CaseView{}, false
	}
	return b.view(tx, c), true
}

// CaseOfPost returns the case a post (the customer's or ours) belongs to.
func (b *Bridge) CaseOfPost(network, postID string) (CaseView, bool) {
	tx := b.read()
	p := getPost(tx, network, postID)
	if p == nil {
		return CaseView{}, false
	}
	c, _ := getCase(tx, p.Case)
	if c == nil {
		return CaseView{}, false
	}
	return b.view(tx, c), true
}

// QueueForChannel returns the queue whose channel this is.
func (b *Bridge) QueueForChannel(desk, channel string) (QueueConfig, bool) {
	for _, q := range b.cfg.Queues {
		if q.Desk == desk && q.Channel == channel {
			return q, true
		}
	}
	return QueueConfig{}, false
}

// Teams lists the queues cases may be escalated to.
func (b *Bridge) Teams() []string {
	var out []string
	for _, q := range b.cfg.Queues {
		if q.Team {
			out = append(out, q.Name)
		}
	}
	return out
}

// QueueList lists a queue's open cases, most urgent first: priority, then
// age.
func (b *Bridge) QueueList(queue string) []CaseSummary {
	tx := b.read()
	var cases []*Case
	for _, s := range OpenStatuses {
		cases = append(cases, casesIn(tx, b.queueName(queue), s)...)
	}
	sortUrgent(cases)
	out := make([]CaseSummary, len(cases))
	for i, c := range cases {
		out[i] = c.summary(b.nextDue(c))
	}
	return out
}

// queueName finds a configured queue name case-insensitively.
func (b *Bridge) queueName(name string) string {
	for _, q := range b.cfg.Queues {
		if strings.EqualFold(q.Name, name) {
			return q.Name
		}
	}
	return name
}

// History lists the other cases of id's customer, newest first.
func (b *Bridge) History(id CaseID) []CaseSummary {
	tx := b.read()
	c := findCase(tx, id)
	if c == nil {
		return nil
	}
	return b.history(tx, c)
}

// RoleOf is the highest role the staff rules give s, by user id or by any
// of its groups.
func (b *Bridge) RoleOf(s Staff) Role {
	role := RoleNone
	for _, r := range b.cfg.Staff {
		if r.Desk != s.Desk {
			continue
		}
		if r.User != "" && r.User == s.ID || r.Group != "" && slices.Contains(s.Groups, r.Group) {
			role = max(role, r.Role)
		}
	}
	return role
}

// Outbox returns an outbox item by id.
func (b *Bridge) Outbox(id string) (OutboxItem, bool) {
	it := getItem(b.read(), id)
	if it == nil {
		return OutboxItem{}, false
	}
	return *it, true
}

// OutboxFor returns the outbox item a staff message became, if any.
func (b *Bridge) OutboxFor(m MessageRef) (OutboxItem, bool) {
	it := itemForMessage(b.read(), m)
	if it == nil {
		return OutboxItem{}, false
	}
	return *it, true
}

// sortUrgent orders cases by priority (highest first), then age (oldest first).
func sortUrgent(cs []*Case) {
	slices.SortFunc(cs, func(a, b *Case) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		if a.Seq < b.Seq {
			return -1
		}
		if a.Seq > b.Seq {
			return 1
		}
		return 0
	})
}
