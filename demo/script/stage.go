// Package script plays scenes in the demo world: customers post, reply
// and send DMs on the fake networks, and scripted staff press the same
// card buttons, type the same thread messages and run the same commands a
// person would in the fake Slack. Earshot, which watches those fakes
// through its real connectors, does the rest. Nothing here calls Earshot:
// a scene sees what Earshot did only as a person would (a card appears, a
// mark turns ✅, a reply shows on the timeline). Summarize reads Earshot's
// own metrics afterwards.
//
// Every scene blocks until it is done, its context ends, or a wait gives
// up (Stage.Timeout); its loops are bounded by the crowd sizes.
package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/demo"
)

// Stage is where scenes play: the world, where progress lines go, how big
// the crowds are and how long a wait may take.
type Stage struct {
	World *demo.World
	Out   io.Writer
	// Scale multiplies crowd sizes: 1 is the full show (300 broadband
	// complaints); tests play smaller. At least one of everything plays.
	Scale float64
	// Timeout bounds each wait for Earshot to react; default 60s.
	Timeout time.Duration
	// Metrics, when set, is Earshot's registry: the seed waits there for
	// what no person sees (an SLA breach is counted, not shown).
	Metrics prometheus.Gatherer

	mu sync.Mutex // serializes Out
}

func (st *Stage) timeout() time.Duration {
	if st.Timeout > 0 {
		return st.Timeout
	}
	return time.Minute
}

// n scales a crowd size, at least 1.
func (st *Stage) n(full int) int {
	s := st.Scale
	if s <= 0 {
		s = 1
	}
	return max(1, int(float64(full)*s+0.5))
}

// say writes a progress line.
func (st *Stage) say(format string, args ...any) {
	if st.Out == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(st.Out, format+"\n", args...)
}

// waitFor blocks until cond holds, waking on the world's changes (and at
// least every 250ms), until ctx ends or Timeout passes.
func (st *Stage) waitFor(ctx context.Context, what string, cond func() bool) error {
	if cond() {
		return nil
	}
	wt := st.World.Watch()
	defer wt.Stop()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, st.timeout())
	defer cancel()
	for {
		tick, stop := context.WithTimeout(ctx, 250*time.Millisecond)
		wt.Next(tick)
		stop()
		if cond() {
			return nil
		}
		if err := parent.Err(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: waited %v for %s", ErrTimeout, st.timeout(), what)
		}
	}
}

// ErrTimeout is returned when Earshot did not react within Stage.Timeout.
var ErrTimeout = errors.New("no reaction in time")

// WaitReady blocks until Earshot says it is ready and every connector
// has reached its fake, or ctx ends, or limit passes.
func WaitReady(ctx context.Context, w *demo.World, engineReady func() bool, limit time.Duration) error {
	st := &Stage{World: w, Timeout: limit}
	return st.waitFor(ctx, "Earshot and its connectors to be ready", func() bool { return engineReady() && w.Connected() })
}

// Card is a case card in a channel, as staff see it.
type Card struct {
	Channel string
	TS      string
	CaseID  string
}

// card finds the card whose text holds phrase in channel, waiting for it.
func (st *Stage) card(ctx context.Context, channel, phrase string) (Card, error) {
	var found Card
	err := st.waitFor(ctx, fmt.Sprintf("the card of %q in #%s", phrase, channelName(channel)), func() bool {
		cards, _, err := st.World.Cards(demo.SlackDesk, channel, 1000)
		if err != nil {
			return false
		}
		for _, c := range cards {
			if c.CaseID != "" && strings.Contains(c.Visible(), phrase) {
				found = Card{Channel: channel, TS: c.TS, CaseID: c.CaseID}
				return true
			}
		}
		return false
	})
	return found, err
}

// unclaimed lists up to n new cases' cards of channel (a Claim button,
// status New: an escalated case waiting for its team shows Claim too),
// oldest first.
func (st *Stage) unclaimed(channel string, n int) []Card {
	cards, _, err := st.World.Cards(demo.SlackDesk, channel, 1000)
	if err != nil {
		return nil
	}
	var out []Card
	for i := len(cards) - 1; i >= 0 && len(out) < n; i-- {
		if c := cards[i]; c.CaseID != "" && hasAction(c, "earshot:claim") && strings.Contains(c.Visible(), "*Status*\nNew") {
			out = append(out, Card{Channel: channel, TS: c.TS, CaseID: c.CaseID})
		}
	}
	return out
}

func hasAction(m demo.Message, id string) bool {
	for _, b := range m.Blocks {
		if slices.ContainsFunc(b.Actions, func(a demo.Action) bool { return a.ID == id }) {
			return true
		}
	}
	return false
}

// cardShows waits until card's text holds want.
func (st *Stage) cardShows(ctx context.Context, c Card, want string) error {
	return st.waitFor(ctx, fmt.Sprintf("%s to show %q", c.CaseID, want), func() bool {
		m, err := st.World.Message(demo.SlackDesk, c.Channel, c.TS)
		return err == nil && strings.Contains(m.Visible(), want)
	})
}

// press presses a card button as staff member p (option for a select).
func (st *Stage) press(ctx context.Context, p demo.Person, c Card, verb, option string) error {
	action := "earshot:" + verb
	if err := st.waitFor(ctx, fmt.Sprintf("%s's %s button", c.CaseID, verb), func() bool {
		m, err := st.World.Message(demo.SlackDesk, c.Channel, c.TS)
		return err == nil && hasAction(m, action)
	}); err != nil {
		return err
	}
	if err := st.World.Press(demo.SlackDesk, c.Channel, c.TS, p.ID, action, option); err != nil {
		return fmt.Errorf("%s presses %s on %s: %w", p.Name, verb, c.CaseID, err)
	}
	return nil
}

// claim presses Claim and waits until the card says so.
func (st *Stage) claim(ctx context.Context, p demo.Person, c Card) error {
	if err := st.press(ctx, p, c, "claim", ""); err != nil {
		return err
	}
	if err := st.cardShows(ctx, c, "Claimed by "+p.Name); err != nil {
		return st.withNotice(err, p)
	}
	return nil
}

// withNotice adds what p was last told privately (a refusal says why).
func (st *Stage) withNotice(err error, p demo.Person) error {
	if n := st.notices(p); len(n) > 0 {
		return fmt.Errorf("%w (%s was last told: %q)", err, p.Name, n[len(n)-1].Text)
	}
	return err
}

// write types text in the card's thread as p and returns the message's ts.
func (st *Stage) write(p demo.Person, c Card, text string) (string, error) {
	ts, err := st.World.Say(demo.SlackDesk, c.Channel, c.TS, p.ID, text)
	if err != nil {
		return "", fmt.Errorf("%s writes in %s: %w", p.Name, c.CaseID, err)
	}
	return ts, nil
}

// reply writes a reply as p and waits until it is published (✅).
func (st *Stage) reply(ctx context.Context, p demo.Person, c Card, text string) error {
	ts, err := st.write(p, c, text)
	if err != nil {
		return err
	}
	return st.marked(ctx, c, ts, "sent")
}

// marked waits until message ts in card's thread carries the mark of state.
func (st *Stage) marked(ctx context.Context, c Card, ts, state string) error {
	return st.waitFor(ctx, fmt.Sprintf("the reply in %s to be marked %s", c.CaseID, state), func() bool {
		m, err := st.World.Message(demo.SlackDesk, c.Channel, ts)
		return err == nil && m.State() == state
	})
}

// post publishes a customer's post, failing the scene on a refusal.
func (st *Stage) post(ctx context.Context, network, handle, text string, o demo.PostOptions) (demo.PublicPost, error) {
	p, err := st.World.Post(ctx, network, handle, text, o)
	if err != nil {
		return p, fmt.Errorf("%s posts on %s: %w", handle, network, err)
	}
	return p, nil
}

// together runs fns concurrently and returns the first error.
func together(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// person is the staff member with handle (the zero Person, whom the world
// refuses, if the cast has none: the tests play every scene).
func person(handle string) demo.Person {
	for _, p := range demo.Staff {
		if p.Handle == handle {
			return p
		}
	}
	return demo.Person{}
}

func channelOf(queue string) string {
	c, _ := demo.ChannelOfQueue(queue)
	return c.ID
}

func channelName(id string) string {
	c, _ := demo.ChannelByID(demo.SlackDesk, id)
	return c.Name
}
