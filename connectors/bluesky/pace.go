package bluesky

import (
	"context"
	"strings"
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

var (
	_ bridge.PublishPacer = (*Network)(nil)
	_ bridge.Broadcaster  = (*Network)(nil)
)

// Broadcasts reports that the account can post to everyone: an
// incident's public status thread (a top-level post, then replies to our
// own latest one).
func (n *Network) Broadcasts() bool { return true }

// PublishBudget is the posts an hour the account's points allow: the
// outbox paces replies within it.
func (n *Network) PublishBudget() bridge.Budget {
	return bridge.Budget{Requests: pointsPerHour / pointsPerWrite, Per: time.Hour}
}

// ownCIDs fills in the cids of refs that point at posts in our repo me
// (an incident's status thread knows only their uris). It does network I/O.
func (n *Network) ownCIDs(ctx context.Context, me string, refs ...*strongRef) error {
	prefix := "at://" + me + "/app.bsky.feed.post/"
	for _, ref := range refs {
		rkey, ok := strings.CutPrefix(ref.URI, prefix)
		if ref.CID != "" || !ok {
			continue
		}
		p, found, err := n.getPost(ctx, me, rkey)
		if err != nil {
			return err
		}
		if found {
			ref.CID = p.CID
		}
	}
	return nil
}
