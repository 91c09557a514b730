package x

import (
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// defaultPostsPer15m is X's per-user budget for POST /2/tweets on the Pro
// tier: 100 per 15 minutes.
const defaultPostsPer15m = 100

var (
	_ bridge.PublishPacer = (*Network)(nil)
	_ bridge.Broadcaster  = (*Network)(nil)
)

// Broadcasts reports that the account can post to everyone: an
// incident's public status thread (a top-level post, then replies to our
// own latest one).
func (n *Network) Broadcasts() bool { return true }

// PublishBudget is the account's post budget per 15 minutes
// (Config.PostsPer15m): the outbox paces replies within it. X's own
// x-rate-limit-* headers still hold a call back when a window is used up.
func (n *Network) PublishBudget() bridge.Budget {
	per := n.cfg.PostsPer15m
	if per <= 0 {
		per = defaultPostsPer15m
	}
	return bridge.Budget{Requests: per, Per: 15 * time.Minute}
}
