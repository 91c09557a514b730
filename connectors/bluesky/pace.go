package bluesky

import (
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Bluesky's write budget per account: 5,000 points an hour, a
// createRecord costing 3 (PLATFORMS.md; the PDS's rate-limit headers say
// so), so 1,666 posts an hour.
const (
	pointsPerHour  = 5000
	pointsPerWrite = 3
)

var _ bridge.PublishPacer = (*Network)(nil)

// PublishBudget is the posts an hour the account's points allow: the
// outbox paces replies within it.
func (n *Network) PublishBudget() bridge.Budget {
	return bridge.Budget{Requests: pointsPerHour / pointsPerWrite, Per: time.Hour}
}
