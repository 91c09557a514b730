package script

import (
	"context"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/demo"
)

// incidentCard waits for an incident card (INC-…) in a queue channel that
// offers action, and returns it.
func (st *Stage) incidentCard(ctx context.Context, desk, channel, action string) (Card, error) {
	var found Card
	err := st.waitFor(ctx, fmt.Sprintf("an incident card with %s in #%s", action, channelName(desk, channel)), func() bool {
		cards, _, err := st.World.Cards(desk, channel, 1000)
		if err != nil {
			return false
		}
		for _, c := range cards {
			if strings.HasPrefix(c.CaseID, "INC-") && c.Has(action) {
				found = cardOf(c, channel)
				return true
			}
		}
		return false
	})
	return found, err
}

// lineWith waits for a message in card's thread that holds phrase and
// offers action (a linked customer's follow-up with Split out).
func (st *Stage) lineWith(ctx context.Context, c Card, phrase, action string) (demo.Message, error) {
	var found demo.Message
	err := st.waitFor(ctx, fmt.Sprintf("%q in %s's thread", phrase, c.CaseID), func() bool {
		msgs, err := st.World.Thread(c.Desk, c.Channel, c.Thread)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if strings.Contains(m.Visible(), phrase) && m.Has(action) {
				found = m
				return true
			}
		}
		return false
	})
	return found, err
}

// firstLine is the first line of m's text holding sub, or "".
func firstLine(m demo.Message, sub string) string {
	for _, l := range strings.Split(m.Visible(), "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
