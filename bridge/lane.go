package bridge

import (
	"context"
	"strings"
)

// Staff actions go first. In a surge the desk workers are busy opening
// cards and posting lines at the desk's pace; a staff member who presses
// Claim must not wait behind them. So work a staff action caused (the
// card after a press, marks on their messages, private answers, command
// answers) goes into a lane of its own that every worker serves before
// the rest, two workers per desk serve only that lane, and the desk is
// told (Urgent on the call's context) so that its own pacing lets such
// calls overtake queued ones too.

// staffWorkers is how many workers per desk serve only the staff lane.
const staffWorkers = 2

// staffLane is the first-in-first-out lane of staff work of one desk;
// its fields are guarded by deskQueue.mu.
type staffLane struct {
	ids   []entry
	in    map[CaseID]bool
	ready chan struct{}
}

func newStaffLane() staffLane {
	return staffLane{in: map[CaseID]bool{}, ready: make(chan struct{}, 1)}
}

func (l *staffLane) len() int { return len(l.ids) }

func (l *staffLane) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// pushStaff asks for case id to be caught up in the staff lane.
func (q *deskQueue) pushStaff(id CaseID, priority int, seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := entry{id: id, priority: priority, seq: seq, staff: true}
	if q.busy[id] {
		q.again[id] = e
		return
	}
	if q.staff.in[id] {
		return
	}
	q.staff.in[id] = true
	q.staff.ids = append(q.staff.ids, e)
	q.staff.signal()
}

// popStaff takes the oldest staff work whose case no worker has; q.mu held.
func (q *deskQueue) popStaff() (entry, bool) {
	for len(q.staff.ids) > 0 {
		e := q.staff.ids[0]
		q.staff.ids = q.staff.ids[1:]
		delete(q.staff.in, e.id)
		if q.busy[e.id] {
			q.again[e.id] = e
			continue
		}
		q.busy[e.id] = true
		if len(q.staff.ids) > 0 {
			q.staff.signal()
		}
		return e, true
	}
	return entry{}, false
}

// requeue puts e back in the lane it came from.
func (q *deskQueue) requeue(e entry) {
	if e.staff {
		q.pushStaff(e.id, e.priority, e.seq)
	} else {
		q.push(e.id, e.priority, e.seq)
	}
}

// urgentKey marks a context whose desk calls a staff action caused.
type urgentKey struct{}

// WithUrgent marks ctx: the desk calls made with it were caused by a
// staff action and should overtake queued bulk work (new cards, batch
// lines) in the desk's own pacing.
func WithUrgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// Urgent reports whether ctx's desk calls were caused by a staff action.
// Desks read it to pace such calls first.
func Urgent(ctx context.Context) bool { v, _ := ctx.Value(urgentKey{}).(bool); return v }

// incidentWorkPrefix marks an incident's desk work among the cases': no
// case id starts with a control character.
const incidentWorkPrefix = "\x00"

// incidentWork is the desk work key of incident id.
func incidentWork(id IncidentID) CaseID { return CaseID(incidentWorkPrefix + string(id)) }

// workIncident reports which incident a desk work key is, if any.
func workIncident(k CaseID) (IncidentID, bool) {
	s, ok := strings.CutPrefix(string(k), incidentWorkPrefix)
	return IncidentID(s), ok
}

// syncWork does one piece of desk work: a case's, or an incident's.
func (b *Bridge) syncWork(ctx context.Context, d Desk, e entry) error {
	if e.staff {
		ctx = WithUrgent(ctx)
	}
	if id, ok := workIncident(e.id); ok {
		return b.syncIncident(ctx, d, id)
	}
	return b.syncCase(ctx, d, e.id)
}

// kickBulk asks every desk to catch up with case id in the ordinary
// lane: work no staff action caused (a new case, a follow-up).
func (b *Bridge) kickBulk(id CaseID, priority int, seq uint64) {
	for _, q := range b.work {
		q.push(id, priority, seq)
	}
}
