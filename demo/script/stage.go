// Package script plays scenes in the demo world: customers post, reply
// and send DMs on the fake networks, and scripted staff press the same
// card buttons, type the same thread messages and run the same commands a
// person would in the fake Slack and Discord. Earshot, which watches
// those fakes through its real connectors, does the rest. Nothing here
// calls Earshot: a scene sees what Earshot did only as a person would (a
// card appears, a mark turns ✅, a reply shows on the timeline). Only
// Summarize, and the seed's wait for an SLA breach (counted, never shown),
// read Earshot's own metrics, as an operator would.
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
	// claimMu keeps two scripted agents from pressing Claim on the same
	// card at once (people see each other's claims; the bridge would
	// refuse the second, which is fine, but slower to play).
	claimMu sync.Mutex
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

// Card is a case card in a queue channel, as staff see it.
type Card struct {
	Desk    string
	Channel string // the queue channel
	Where   string // where the card message lives (a Discord forum post is its own channel)
	ID      string // the card message
	Thread  string // the case's thread
	CaseID  string
}

func cardOf(m demo.Message, channel string) Card {
	return Card{Desk: m.Desk, Channel: channel, Where: m.Channel, ID: m.ID, Thread: m.Thread, CaseID: m.CaseID}
}

// card finds the card whose text holds phrase in a queue channel, waiting for it.
func (st *Stage) card(ctx context.Context, desk, channel, phrase string) (Card, error) {
	var found Card
	err := st.waitFor(ctx, fmt.Sprintf("the card of %q in #%s", phrase, channelName(desk, channel)), func() bool {
		cards, _, err := st.World.Cards(desk, channel, 1000)
		if err != nil {
			return false
		}
		for _, c := range cards {
			if c.CaseID != "" && c.Thread != "" && strings.Contains(c.Visible(), phrase) {
				found = cardOf(c, channel)
				return true
			}
		}
		return false
	})
	return found, err
}

// unclaimed lists up to n cards of a queue channel that show a Claim
// button and a status starting with want ("New" in a queue; "Escalated"
// in a team's channel, where a case waits for the team), oldest first.
func (st *Stage) unclaimed(desk, channel, want string, n int) []Card {
	cards, _, err := st.World.Cards(desk, channel, 1000)
	if err != nil {
		return nil
	}
	var out []Card
	for i := len(cards) - 1; i >= 0 && len(out) < n; i-- {
		if c := cards[i]; c.CaseID != "" && c.Thread != "" && c.Has("earshot:claim") && strings.HasPrefix(status(c), want) {
			out = append(out, cardOf(c, channel))
		}
	}
	return out
}

// status is the Status field of a card ("New", "Claimed by Ana", ...).
func status(m demo.Message) string {
	lines := strings.Split(m.Visible(), "\n")
	for i, l := range lines {
		if strings.Trim(l, "*") == "Status" && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}

// current is the card as it is now.
func (st *Stage) current(c Card) (demo.Message, error) {
	return st.World.Message(c.Desk, c.Where, c.ID)
}

// cardShows waits until card's text holds want.
func (st *Stage) cardShows(ctx context.Context, c Card, want string) error {
	return st.waitFor(ctx, fmt.Sprintf("%s to show %q", c.CaseID, want), func() bool {
		m, err := st.current(c)
		return err == nil && strings.Contains(m.Visible(), want)
	})
}

// press presses a card button as staff member p (option for a select).
func (st *Stage) press(ctx context.Context, p demo.Person, c Card, verb, option string) error {
	action := "earshot:" + verb
	if err := st.waitFor(ctx, fmt.Sprintf("%s's %s button", c.CaseID, verb), func() bool {
		m, err := st.current(c)
		return err == nil && m.Has(action)
	}); err != nil {
		return err
	}
	if err := st.World.Press(c.Desk, c.Where, c.ID, p.ID, action, option); err != nil {
		return fmt.Errorf("%s presses %s on %s: %w", p.Name, verb, c.CaseID, err)
	}
	return nil
}

// claim presses Claim and waits until the card says so.
// (The status says "Claimed by Ana", or "Escalated to billing (Ana)" in a team.)
func (st *Stage) claim(ctx context.Context, p demo.Person, c Card) error {
	return st.pressUntil(ctx, p, c, "claim", "", fmt.Sprintf("%s to show it is %s's", c.CaseID, p.Name),
		func(m demo.Message, _ string) bool { return strings.Contains(status(m), p.Name) })
}

// notYet is what Earshot answers a press on a card whose thread it has
// not recorded yet (the card was just posted): a person presses again.
const notYet = "is not a case"

// pressUntil presses verb as p and waits until done holds for the card
// and the latest notice p got since the press ("" if none). When Earshot
// answers that the card's thread is not a case yet, it presses again, as
// a person would (at most five times).
func (st *Stage) pressUntil(ctx context.Context, p demo.Person, c Card, verb, option, what string, done func(card demo.Message, notice string) bool) error {
	for try := 1; ; try++ {
		before := len(st.notices(p))
		if err := st.press(ctx, p, c, verb, option); err != nil {
			return err
		}
		again := false
		err := st.waitFor(ctx, what, func() bool {
			notice := ""
			if n := st.notices(p); len(n) > before && n[len(n)-1].Text != nil {
				notice = n[len(n)-1].Text.Text
			}
			if strings.Contains(notice, notYet) {
				again = true
				return true
			}
			m, err := st.current(c)
			return err == nil && done(m, notice)
		})
		switch {
		case err != nil:
			return st.withNotice(err, p)
		case !again:
			return nil
		case try == 5:
			return st.withNotice(fmt.Errorf("%w: %s's thread never became a case", ErrTimeout, c.CaseID), p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		}
	}
}

// withNotice adds what p was last told privately (a refusal says why).
func (st *Stage) withNotice(err error, p demo.Person) error {
	if n := st.notices(p); len(n) > 0 && n[len(n)-1].Text != nil {
		return fmt.Errorf("%w (%s was last told: %q)", err, p.Name, n[len(n)-1].Text.Text)
	}
	return err
}

// write types text in the card's thread as p and returns the message's id.
func (st *Stage) write(p demo.Person, c Card, text string) (string, error) {
	id, err := st.World.Say(c.Desk, c.Channel, c.Thread, p.ID, text)
	if err != nil {
		return "", fmt.Errorf("%s writes in %s: %w", p.Name, c.CaseID, err)
	}
	return id, nil
}

// reply writes a reply as p and waits until it is published (✅).
func (st *Stage) reply(ctx context.Context, p demo.Person, c Card, text string) error {
	id, err := st.write(p, c, text)
	if err != nil {
		return err
	}
	return st.marked(ctx, c, id, "sent")
}

// marked waits until message id in card's thread carries the mark of state.
func (st *Stage) marked(ctx context.Context, c Card, id, state string) error {
	return st.waitFor(ctx, fmt.Sprintf("the reply in %s to be marked %s", c.CaseID, state), func() bool {
		msgs, err := st.World.Thread(c.Desk, c.Channel, c.Thread)
		if err != nil {
			return false
		}
		i := slices.IndexFunc(msgs, func(m demo.Message) bool { return m.ID == id })
		return i >= 0 && msgs[i].State() == state
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

// person is the staff member of desk with handle (the zero Person, whom
// the world refuses, if the cast has none: the tests play every scene).
func person(desk, handle string) demo.Person {
	for _, p := range demo.Staff {
		if p.Desk == desk && p.Handle == handle {
			return p
		}
	}
	return demo.Person{}
}

// channelOf is the desk and channel of a queue.
func channelOf(queue string) (desk, channel string) {
	c, _ := demo.ChannelOfQueue(queue)
	return c.Desk, c.ID
}

func channelName(desk, id string) string {
	c, _ := demo.ChannelByID(desk, id)
	return c.Name
}
