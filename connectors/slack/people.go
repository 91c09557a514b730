package slack

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
)

// people caches who staff are: display names from users.info (an hour) and
// user group membership from usergroups.list with users (five minutes), so
// the bridge's staff rules by group work. Lookups do I/O on a miss; a
// failed lookup degrades to the bare user id and no groups.
type people struct {
	d *Desk

	mu         sync.Mutex
	names      map[string]cached
	groups     map[string][]string // user id -> group ids
	groupNames map[string]string   // group id -> handle
	groupsAt   time.Time
}

type cached struct {
	name string
	at   time.Time
}

const (
	nameTTL  = time.Hour
	groupTTL = 5 * time.Minute
)

func newPeople(d *Desk) *people {
	return &people{d: d, names: map[string]cached{}}
}

// staff returns the bridge.Staff for Slack user id.
func (p *people) staff(ctx context.Context, id string) bridge.Staff {
	return bridge.Staff{Desk: Name, ID: id, Name: p.name(ctx, id), Groups: p.groupsOf(ctx, id)}
}

func (p *people) name(ctx context.Context, id string) string {
	now := p.d.now()
	p.mu.Lock()
	c, ok := p.names[id]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < nameTTL {
		return c.name
	}
	var u *slack.User
	err := p.d.call(ctx, "users.info", func(ctx context.Context) error {
		var err error
		u, err = p.d.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		p.d.log.Warn("slack: users.info failed; showing the user id", "user", id, "err", err)
		return id
	}
	name := u.Profile.DisplayName
	if name == "" {
		name = u.Profile.RealName
	}
	if name == "" {
		name = u.RealName
	}
	if name == "" {
		name = u.Name
	}
	p.mu.Lock()
	p.names[id] = cached{name: name, at: now}
	p.mu.Unlock()
	return name
}

func (p *people) groupsOf(ctx context.Context, id string) []string {
	p.loadGroups(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.groups[id]...)
}

// groupName is user group id's handle ("support-team"), or the id.
func (p *people) groupName(ctx context.Context, id string) string {
	p.loadGroups(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.groupNames[id]; n != "" {
		return n
	}
	return id
}

// loadGroups reads the user groups and their members unless read lately.
func (p *people) loadGroups(ctx context.Context) {
	now := p.d.now()
	p.mu.Lock()
	fresh := p.groups != nil && now.Sub(p.groupsAt) < groupTTL
	p.mu.Unlock()
	if fresh {
		return
	}
	var list []slack.UserGroup
	err := p.d.call(ctx, "usergroups.list", func(ctx context.Context) error {
		var err error
		list, err = p.d.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
		return err
	})
	if err != nil {
		p.d.log.Warn("slack: usergroups.list failed; staff groups unknown", "err", err)
		return
	}
	m, names := map[string][]string{}, map[string]string{}
	for _, g := range list {
		names[g.ID] = g.Handle
		for _, u := range g.Users {
			m[u] = append(m[u], g.ID)
		}
	}
	p.mu.Lock()
	p.groups, p.groupNames, p.groupsAt = m, names, now
	p.mu.Unlock()
}
