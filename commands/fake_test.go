package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// fakeCases is a small stateful stand-in for *bridge.Bridge that honours the
// same rules the commands rely on: one claimer, leads force, transitions
// refused in plain words. Safe for concurrent use; every call is recorded.
type fakeCases struct {
	mu      sync.Mutex
	cases   map[bridge.CaseID]*bridge.CaseView
	threads map[string]bridge.CaseID // ThreadRef.ID → case
	queues  []bridge.QueueConfig
	teams   []string
	roles   map[string]bridge.Role // Staff.Key → role
	notes   map[bridge.CaseID][]string
	replies map[bridge.CaseID][]string
	retried []string
	calls   []string
	failAll error // when set, every change fails with it (a broken journal)
	now     time.Time
	gone    map[bridge.CaseID]bool // cases forgotten under the retention
}

func newFake() *fakeCases {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := &fakeCases{
		cases:   map[bridge.CaseID]*bridge.CaseView{},
		threads: map[string]bridge.CaseID{},
		queues: []bridge.QueueConfig{
			{Name: "support", Desk: "slack", Channel: "CSUP"},
			{Name: "billing", Desk: "slack", Channel: "CBIL", Team: true},
			{Name: "legal", Desk: "slack", Channel: "CLEG", Team: true},
		},
		teams:   []string{"billing", "legal"},
		roles:   map[string]bridge.Role{"slack:UAGENT": bridge.RoleAgent, "slack:UAGENT2": bridge.RoleAgent, "slack:ULEAD": bridge.RoleLead},
		notes:   map[bridge.CaseID][]string{},
		replies: map[bridge.CaseID][]string{},
		now:     now,
	}
	return f
}

// add opens a case in queue with a thread "T<n>".
func (f *fakeCases) add(n int, queue, handle, text string, prio int, age time.Duration) bridge.CaseID {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := bridge.CaseID(fmt.Sprintf("E-%d", n))
	f.cases[id] = &bridge.CaseView{Case: bridge.Case{
		ID: id, Seq: uint64(n), Network: "mastodon", Queue: queue, Origin: queue, Status: bridge.StatusNew,
		Customer: bridge.Author{ID: "a-" + handle, Handle: handle}, Priority: prio,
		First: bridge.Post{Text: text}, OpenedAt: f.now.Add(-age),
	}, FirstResponseDue: f.now.Add(-age).Add(time.Hour)}
	f.threads[fmt.Sprintf("T%d", n)] = id
	return id
}

func thread(n int) bridge.ThreadRef {
	return bridge.ThreadRef{Desk: "slack", Channel: "CSUP", ID: fmt.Sprintf("T%d", n)}
}

func (f *fakeCases) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeCases) RoleOf(s bridge.Staff) bridge.Role {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roles[s.Key()]
}

func (f *fakeCases) Case(id bridge.CaseID) (bridge.CaseView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.get(id)
	if !ok {
		return bridge.CaseView{}, false
	}
	return *c, true
}

func (f *fakeCases) Forgotten(id bridge.CaseID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gone[bridge.CaseID(strings.ToUpper(string(id)))]
}

func (f *fakeCases) get(id bridge.CaseID) (*bridge.CaseView, bool) {
	c, ok := f.cases[bridge.CaseID(strings.ToUpper(string(id)))]
	return c, ok
}

func (f *fakeCases) CaseForThread(t bridge.ThreadRef) (bridge.CaseView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.threads[t.ID]
	if !ok {
		return bridge.CaseView{}, false
	}
	return *f.cases[id], true
}

func (f *fakeCases) QueueForChannel(desk, channel string) (bridge.QueueConfig, bool) {
	for _, q := range f.queues {
		if q.Desk == desk && q.Channel == channel {
			return q, true
		}
	}
	return bridge.QueueConfig{}, false
}

func (f *fakeCases) Teams() []string { return slices.Clone(f.teams) }

// change runs fn on case id under the lock, after the common checks.
func (f *fakeCases) change(op string, id bridge.CaseID, by bridge.Staff, fn func(c *bridge.CaseView) error) (bridge.CaseView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("%s %s by %s", op, id, by.Key())
	if f.failAll != nil {
		return bridge.CaseView{}, f.failAll
	}
	c, ok := f.get(id)
	if !ok {
		return bridge.CaseView{}, bridge.Userf("There is no case %s.", id)
	}
	if f.roles[by.Key()] == bridge.RoleNone {
		return bridge.CaseView{}, bridge.Userf("Only staff can do that.")
	}
	if err := fn(c); err != nil {
		return bridge.CaseView{}, err
	}
	c.UpdatedAt = f.now
	return *c, nil
}

func (f *fakeCases) claimLocked(c *bridge.CaseView, by bridge.Staff) error {
	switch {
	case c.Status == bridge.StatusResolved:
		return bridge.Userf("%s is resolved; reopen it first.", c.ID)
	case c.Assignee == by.Key():
		return bridge.Userf("You already have %s.", c.ID)
	case c.Assignee != "":
		return bridge.Userf("%s is already claimed by %s.", c.ID, c.AssigneeName)
	}
	c.Status, c.Assignee, c.AssigneeName, c.ClaimedAt = bridge.StatusClaimed, by.Key(), by.Display(), f.now
	return nil
}

func (f *fakeCases) Claim(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.CaseView, error) {
	return f.change("claim", id, by, func(c *bridge.CaseView) error { return f.claimLocked(c, by) })
}

func (f *fakeCases) ClaimNext(ctx context.Context, queue string, by bridge.Staff) (bridge.CaseView, error) {
	f.mu.Lock()
	var best *bridge.CaseView
	for _, c := range f.cases {
		if c.Queue != queue || c.Status != bridge.StatusNew || c.Assignee != "" {
			continue
		}
		if best == nil || c.Priority > best.Priority || (c.Priority == best.Priority && c.OpenedAt.Before(best.OpenedAt)) {
			best = c
		}
	}
	f.mu.Unlock()
	if best == nil {
		return bridge.CaseView{}, bridge.Userf("Nothing is waiting in %s.", queue)
	}
	return f.Claim(ctx, best.ID, by)
}

func (f *fakeCases) Release(ctx context.Context, id bridge.CaseID, by bridge.Staff, force bool) (bridge.CaseView, error) {
	return f.change("release", id, by, func(c *bridge.CaseView) error {
		if c.Assignee == "" {
			return bridge.Userf("%s is not claimed.", c.ID)
		}
		if c.Assignee != by.Key() && !(force && f.roles[by.Key()] == bridge.RoleLead) {
			return bridge.Userf("%s is claimed by %s.", c.ID, c.AssigneeName)
		}
		c.Assignee, c.AssigneeName, c.Status = "", "", bridge.StatusNew
		return nil
	})
}

func (f *fakeCases) Assign(ctx context.Context, id bridge.CaseID, by, to bridge.Staff) (bridge.CaseView, error) {
	return f.change("assign "+to.ID, id, by, func(c *bridge.CaseView) error {
		if f.roles[by.Key()] != bridge.RoleLead {
			return bridge.Userf("Only leads can assign.")
		}
		if f.roles[to.Key()] == bridge.RoleNone {
			return bridge.Userf("%s is not on the staff list.", to.Display())
		}
		c.Status, c.Assignee, c.AssigneeName = bridge.StatusClaimed, to.Key(), to.Display()
		return nil
	})
}

func (f *fakeCases) Escalate(ctx context.Context, id bridge.CaseID, by bridge.Staff, team, reason string) (bridge.CaseView, error) {
	return f.change("escalate "+team+" "+reason, id, by, func(c *bridge.CaseView) error {
		if !slices.Contains(f.teams, team) {
			return bridge.Userf("No team %s.", team)
		}
		c.Status, c.Team, c.Queue, c.Assignee, c.AssigneeName = bridge.StatusEscalated, team, team, "", ""
		return nil
	})
}

func (f *fakeCases) Resolve(ctx context.Context, id bridge.CaseID, by bridge.Staff, summary string) (bridge.CaseView, error) {
	return f.change("resolve "+summary, id, by, func(c *bridge.CaseView) error {
		if c.Status == bridge.StatusResolved {
			return bridge.Userf("%s is already resolved.", c.ID)
		}
		c.Status, c.Summary, c.ResolvedAt = bridge.StatusResolved, summary, f.now
		return nil
	})
}

func (f *fakeCases) Reopen(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.CaseView, error) {
	return f.change("reopen", id, by, func(c *bridge.CaseView) error {
		if c.Status != bridge.StatusResolved {
			return bridge.Userf("%s is not resolved.", c.ID)
		}
		c.Status, c.Reopens = bridge.StatusNew, c.Reopens+1
		if c.Assignee != "" {
			c.Status = bridge.StatusClaimed
		}
		return nil
	})
}

func (f *fakeCases) MoveToDM(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string) (bridge.CaseView, error) {
	return f.change("dm "+text, id, by, func(c *bridge.CaseView) error {
		if c.Assignee != by.Key() {
			return bridge.Userf("Claim %s first.", c.ID)
		}
		c.Private = true
		return nil
	})
}

func (f *fakeCases) Reply(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string, msg bridge.MessageRef) error {
	_, err := f.change("reply "+text, id, by, func(c *bridge.CaseView) error {
		if c.Assignee != by.Key() {
			return bridge.Userf("Claim %s before replying.", c.ID)
		}
		f.replies[c.ID] = append(f.replies[c.ID], text)
		return nil
	})
	return err
}

func (f *fakeCases) Note(ctx context.Context, id bridge.CaseID, by bridge.Staff, text string) error {
	_, err := f.change("note "+text, id, by, func(c *bridge.CaseView) error {
		f.notes[c.ID] = append(f.notes[c.ID], text)
		return nil
	})
	return err
}

func (f *fakeCases) QueueList(queue string) []bridge.CaseSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bridge.CaseSummary
	for _, c := range f.cases {
		if c.Queue == queue && c.Status.Open() {
			out = append(out, summary(c))
		}
	}
	slices.SortFunc(out, func(a, b bridge.CaseSummary) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return a.OpenedAt.Compare(b.OpenedAt)
	})
	return out
}

func summary(c *bridge.CaseView) bridge.CaseSummary {
	return bridge.CaseSummary{ID: c.ID, Status: c.Status, Queue: c.Queue, AssigneeName: c.AssigneeName, Priority: c.Priority,
		Text: c.First.Text, OpenedAt: c.OpenedAt, ResolvedAt: c.ResolvedAt, Due: c.Due()}
}

func (f *fakeCases) History(id bridge.CaseID) []bridge.CaseSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.get(id)
	if !ok {
		return nil
	}
	var out []bridge.CaseSummary
	for _, c := range f.cases {
		if c.Customer.ID == cur.Customer.ID {
			out = append(out, summary(c))
		}
	}
	slices.SortFunc(out, func(a, b bridge.CaseSummary) int { return b.OpenedAt.Compare(a.OpenedAt) })
	return out
}

func (f *fakeCases) SetPriority(ctx context.Context, id bridge.CaseID, by bridge.Staff, p int) (bridge.CaseView, error) {
	return f.change(fmt.Sprintf("priority %d", p), id, by, func(c *bridge.CaseView) error {
		c.Priority = p
		return nil
	})
}

func (f *fakeCases) Tag(ctx context.Context, id bridge.CaseID, by bridge.Staff, add, remove []string) (bridge.CaseView, error) {
	return f.change(fmt.Sprintf("tag +%v -%v", add, remove), id, by, func(c *bridge.CaseView) error {
		for _, t := range add {
			if !slices.Contains(c.Tags, t) {
				c.Tags = append(c.Tags, t)
			}
		}
		c.Tags = slices.DeleteFunc(c.Tags, func(t string) bool { return slices.Contains(remove, t) })
		return nil
	})
}

func (f *fakeCases) Snooze(ctx context.Context, id bridge.CaseID, by bridge.Staff, d time.Duration) (bridge.CaseView, error) {
	return f.change("snooze "+d.String(), id, by, func(c *bridge.CaseView) error {
		if d == 0 {
			c.SnoozedUntil = time.Time{}
		} else {
			c.SnoozedUntil = f.now.Add(d)
		}
		return nil
	})
}

func (f *fakeCases) Retry(ctx context.Context, outboxID string, by bridge.Staff) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("retry %s by %s", outboxID, by.Key())
	if f.failAll != nil {
		return f.failAll
	}
	if !strings.HasPrefix(outboxID, "ob-") {
		return bridge.Userf("There is nothing to send again for %s.", outboxID)
	}
	f.retried = append(f.retried, outboxID)
	return nil
}

var errJournal = errors.New("journal: write /data/journal: no space left on device")

var _ Cases = (*fakeCases)(nil)
