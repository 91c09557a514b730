package discord

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// people knows who staff are. Message and interaction events carry the
// author's guild member (nick and role ids), so the usual case needs no
// I/O; for the rest (a delete, an update without member) the last seen
// identity serves for five minutes, then GET /guilds/{guild}/members/{user}.
// Role ids become bridge.Staff.Groups, so staff rules by role work.
type people struct {
	d *Desk

	mu    sync.Mutex
	known map[string]seenStaff
}

type seenStaff struct {
	s  bridge.Staff
	at time.Time
}

const staffTTL = 5 * time.Minute

func newPeople(d *Desk) *people { return &people{d: d, known: map[string]seenStaff{}} }

// displayName is what Discord shows for a member: the guild nickname, else
// the global display name, else the username.
func displayName(u *discordgo.User, m *discordgo.Member) string {
	switch {
	case m != nil && m.Nick != "":
		return m.Nick
	case u != nil && u.GlobalName != "":
		return u.GlobalName
	case u != nil && u.Username != "":
		return u.Username
	case u != nil:
		return u.ID
	}
	return ""
}

// staffOf builds the Staff of user u with member m (nil when unknown). Pure.
func staffOf(u *discordgo.User, m *discordgo.Member) bridge.Staff {
	s := bridge.Staff{Desk: Name, Name: displayName(u, m)}
	if u != nil {
		s.ID = u.ID
	}
	if m != nil {
		s.Groups = slices.Clone(m.Roles)
	}
	return s
}

// saw remembers s (built with member information).
func (p *people) saw(s bridge.Staff) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.known) > maxRemembered {
		clear(p.known)
	}
	p.known[s.ID] = seenStaff{s: s, at: p.d.now()}
}

// staff returns the Staff for user id, remembered or asked of Discord; a
// failed lookup degrades to the bare id and no roles.
func (p *people) staff(ctx context.Context, id string) bridge.Staff {
	now := p.d.now()
	p.mu.Lock()
	k, ok := p.known[id]
	p.mu.Unlock()
	if ok && now.Sub(k.at) < staffTTL {
		return k.s
	}
	var m *discordgo.Member
	err := p.d.call(ctx, "member.get", func(opts ...discordgo.RequestOption) error {
		var err error
		m, err = p.d.s.GuildMember(p.d.cfg.GuildID, id, opts...)
		return err
	})
	if err != nil {
		p.d.log.Warn("discord: member lookup failed; acting with the bare user id", "err", err)
		if ok {
			return k.s
		}
		return bridge.Staff{Desk: Name, ID: id, Name: id}
	}
	u := m.User
	if u == nil {
		u = &discordgo.User{ID: id}
	}
	s := staffOf(u, m)
	s.ID = id
	p.saw(s)
	return s
}
