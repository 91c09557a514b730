package mastodon

import (
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

var (
	_ bridge.PublishPacer = (*Network)(nil)
	_ bridge.Broadcaster  = (*Network)(nil)
)

// Broadcasts reports that the account can post to everyone: an
// incident's public status thread (a top-level post, then replies to our
// own latest one).
func (n *Network) Broadcasts() bool { return true }

// PublishBudget is Mastodon's default per-account API budget: 300
// requests per 5 minutes (PLATFORMS.md; GoToSocial's default too). The
// outbox paces replies within it; outbox.pacing lowers it to leave room
// for the listener's own requests or an instance's stricter limit.
func (n *Network) PublishBudget() bridge.Budget {
	return bridge.Budget{Requests: 300, Per: 5 * time.Minute}
}
