package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

var (
	t0  = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	ana = bridge.Staff{Desk: "d", ID: "ana", Name: "Ana"}
	bea = bridge.Staff{Desk: "d", ID: "bea", Name: "Bea"}
)

func caseIn(s bridge.Status, assignee *bridge.Staff) bridge.Case {
	c := bridge.Case{ID: "E-1", Status: s, Queue: "support", Origin: "support", Version: 3}
	if assignee != nil {
		c.Assignee, c.AssigneeName = assignee.Key(), assignee.Display()
	}
	if s == bridge.StatusEscalated {
		c.Queue, c.Team = "billing", "billing"
	}
	if s == bridge.StatusResolved {
		c.ResolvedAt = t0
	}
	return c
}

// The lifecycle, transition by transition: every status against every
// change, with the status it leads to or the refusal staff read.
func TestLifecycle(t *testing.T) {
	at := t0.Add(time.Minute)
	type change func(bridge.Case) (bridge.Case, error)
	claim := func(c bridge.Case) (bridge.Case, error) { return c.Claim(ana, at) }
	release := func(c bridge.Case) (bridge.Case, error) { return c.Release(ana, false, at) }
	forceRelease := func(c bridge.Case) (bridge.Case, error) { return c.Release(bea, true, at) }
	assign := func(c bridge.Case) (bridge.Case, error) { return c.Assign(bea, at) }
	escalate := func(c bridge.Case) (bridge.Case, error) { return c.Escalate("legal", at) }
	resolve := func(c bridge.Case) (bridge.Case, error) { return c.Resolve("done", at) }
	reopen := func(c bridge.Case) (bridge.Case, error) { return c.Reopen(at) }
	answered := func(c bridge.Case) (bridge.Case, error) { return c.Answered(at), nil }
	wrote := func(c bridge.Case) (bridge.Case, error) { return c.CustomerWrote(bridge.Post{ID: "p9"}, at), nil }
	toDM := func(c bridge.Case) (bridge.Case, error) { return c.MoveToPrivate(at) }

	for _, tc := range []struct {
		name     string
		from     bridge.Case
		do       change
		want     bridge.Status
		assignee string // want; "-" for none
		refusal  string // a substring of the refusal; "" when allowed
	}{
		{"claim new", caseIn(bridge.StatusNew, nil), claim, bridge.StatusClaimed, ana.Key(), ""},
		{"claim claimed by another", caseIn(bridge.StatusClaimed, &bea), claim, "", "", "already claimed by Bea"},
		{"claim own", caseIn(bridge.StatusClaimed, &ana), claim, "", "", "already have"},
		{"claim escalated stays escalated", caseIn(bridge.StatusEscalated, nil), claim, bridge.StatusEscalated, ana.Key(), ""},
		{"claim resolved", caseIn(bridge.StatusResolved, nil), claim, "", "", "resolved; reopen it first"},
		{"release own", caseIn(bridge.StatusClaimed, &ana), release, bridge.StatusNew, "-", ""},
		{"release another's", caseIn(bridge.StatusClaimed, &bea), release, "", "", "not you"},
		{"release unclaimed", caseIn(bridge.StatusNew, nil), release, "", "", "not claimed"},
		{"force release", caseIn(bridge.StatusClaimed, &ana), forceRelease, bridge.StatusNew, "-", ""},
		{"release waiting", caseIn(bridge.StatusWaiting, &ana), release, bridge.StatusNew, "-", ""},
		{"release escalated", caseIn(bridge.StatusEscalated, &ana), release, bridge.StatusEscalated, "-", ""},
		{"release resolved keeps resolved", caseIn(bridge.StatusResolved, &ana), release, bridge.StatusResolved, "-", ""},
		{"assign new", caseIn(bridge.StatusNew, nil), assign, bridge.StatusClaimed, bea.Key(), ""},
		{"assign from another", caseIn(bridge.StatusClaimed, &ana), assign, bridge.StatusClaimed, bea.Key(), ""},
		{"assign waiting stays waiting", caseIn(bridge.StatusWaiting, &ana), assign, bridge.StatusWaiting, bea.Key(), ""},
		{"assign to holder", caseIn(bridge.StatusClaimed, &bea), assign, "", "", "already Bea's"},
		{"assign resolved", caseIn(bridge.StatusResolved, nil), assign, "", "", "resolved"},
		{"escalate claimed", caseIn(bridge.StatusClaimed, &ana), escalate, bridge.StatusEscalated, "-", ""},
		{"escalate to own queue", caseIn(bridge.StatusEscalated, nil), func(c bridge.Case) (bridge.Case, error) { return c.Escalate("billing", at) }, "", "", "already with billing"},
		{"escalate resolved", caseIn(bridge.StatusResolved, nil), escalate, "", "", "resolved"},
		{"resolve new", caseIn(bridge.StatusNew, nil), resolve, bridge.StatusResolved, "-", ""},
		{"resolve keeps the claimer", caseIn(bridge.StatusWaiting, &ana), resolve, bridge.StatusResolved, ana.Key(), ""},
		{"resolve resolved", caseIn(bridge.StatusResolved, nil), resolve, "", "", "already resolved"},
		{"reopen resolved", caseIn(bridge.StatusResolved, &ana), reopen, bridge.StatusNew, "-", ""},
		{"reopen open", caseIn(bridge.StatusClaimed, &ana), reopen, "", "", "not resolved"},
		{"answer claimed waits", caseIn(bridge.StatusClaimed, &ana), answered, bridge.StatusWaiting, ana.Key(), ""},
		{"answer escalated with claimer waits", caseIn(bridge.StatusEscalated, &ana), answered, bridge.StatusWaiting, ana.Key(), ""},
		{"customer writes to waiting", caseIn(bridge.StatusWaiting, &ana), wrote, bridge.StatusClaimed, ana.Key(), ""},
		{"customer writes to new", caseIn(bridge.StatusNew, nil), wrote, bridge.StatusNew, "-", ""},
		{"dm", caseIn(bridge.StatusClaimed, &ana), toDM, bridge.StatusClaimed, ana.Key(), ""},
		{"dm resolved", caseIn(bridge.StatusResolved, nil), toDM, "", "", "resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.do(tc.from)
			if tc.refusal != "" {
				if !bridge.IsUserError(err) || !strings.Contains(err.Error(), tc.refusal) {
					t.Fatalf("err = %v, want a refusal containing %q", err, tc.refusal)
				}
				if got.Version != tc.from.Version {
					t.Errorf("a refused change bumped the version")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got.Status != tc.want {
				t.Errorf("status %s, want %s", got.Status, tc.want)
			}
			wantA := tc.assignee
			if wantA == "-" {
				wantA = ""
			}
			if got.Assignee != wantA {
				t.Errorf("assignee %q, want %q", got.Assignee, wantA)
			}
			if got.Version != tc.from.Version+1 || !got.UpdatedAt.Equal(at) {
				t.Errorf("version %d updated %v: every change bumps the version and stamps the time", got.Version, got.UpdatedAt)
			}
		})
	}
}

func TestLifecycleTimes(t *testing.T) {
	c := caseIn(bridge.StatusNew, nil)
	c1, _ := c.Claim(ana, t0.Add(time.Minute))
	c2, _ := c1.Release(ana, false, t0.Add(2*time.Minute))
	c3, _ := c2.Claim(bea, t0.Add(3*time.Minute))
	if !c3.ClaimedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("ClaimedAt %v: the first claim counts", c3.ClaimedAt)
	}
	c4 := c3.Answered(t0.Add(4 * time.Minute)).Answered(t0.Add(5 * time.Minute))
	if !c4.RespondedAt.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("RespondedAt %v: the first answer counts", c4.RespondedAt)
	}
	c5, _ := c4.Resolve("ok", t0.Add(time.Hour))
	c6, _ := c5.Reopen(t0.Add(2 * time.Hour))
	if !c6.ResolvedAt.IsZero() || c6.Reopens != 1 || c6.Summary != "ok" {
		t.Errorf("reopened: resolved %v reopens %d summary %q", c6.ResolvedAt, c6.Reopens, c6.Summary)
	}
	if w := c4.CustomerWrote(bridge.Post{ID: "x"}, t0); w.PostCount != c4.PostCount+1 || w.Last.ID != "x" {
		t.Errorf("CustomerWrote: %+v", w)
	}
}

func TestTagsAndIDs(t *testing.T) {
	c := bridge.Case{Tags: []string{"vip"}}
	c = c.WithTags([]string{"refund", "vip"}, nil, t0)
	if strings.Join(c.Tags, ",") != "refund,vip" {
		t.Errorf("tags %v", c.Tags)
	}
	c = c.WithTags(nil, []string{"vip", "refund"}, t0)
	if c.Tags != nil {
		t.Errorf("tags %v, want none", c.Tags)
	}
	if id := bridge.FormatCaseID("E", 1042); id != "E-1042" {
		t.Errorf("id %s", id)
	}
}
