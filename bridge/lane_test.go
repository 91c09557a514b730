package bridge_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// Staff actions go first: while the desk works through a surge of new
// cards (here more urgent ones, routed with a higher priority), a claim
// pressed on an older card is shown at once, not after the surge. (Before
// the staff lane the claimed card waited behind every more urgent card.)
func TestStaffActionsOvertakeASurge(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, WithConfig(func(c *bridge.Config) {
		c.Routes = []bridge.RouteRule{{Keywords: []string{"outage"}, Queue: "support", Priority: 2}}
	}))
	v, _, _ := tb.Complain("ana", "@brand my invoice is wrong")
	tb.Desk.SetDelay(10 * time.Millisecond) // the desk's pace
	const surge = 120
	var wg sync.WaitGroup
	for k := range surge {
		wg.Go(func() {
			if err := tb.Post(ctx, Mention(Customer(fmt.Sprintf("s%d", k)), "@brand outage again")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tb.MustClaim(v.ID, Ana)
	claimedAt := len(tb.Desk.Calls())
	tb.WaitFor("every card", func() bool { return len(tb.Desk.Threads()) == surge+1 })
	tb.WaitFor("the claim on the card", func() bool {
		th := tb.Desk.ThreadsOf(v.ID)
		return len(th) == 1 && th[0].Card.Status == bridge.StatusClaimed
	})
	calls := tb.Desk.Calls()
	update := slices.Index(calls, "update "+string(v.ID))
	opens := func(cs []string) int {
		n := 0
		for _, c := range cs {
			if strings.HasPrefix(c, "open ") {
				n++
			}
		}
		return n
	}
	if left := opens(calls[claimedAt:]); left < surge/3 {
		t.Fatalf("only %d surge cards were left to open when the claim came: the test proves nothing", left)
	}
	// Only the calls already under way when the claim came, and those the
	// other workers finish while the card is re-rendered, may land before
	// it: about two per worker, never the rest of the surge.
	if waited := opens(calls[claimedAt:update]); waited > 12 {
		t.Errorf("the claimed card waited for %d surge cards (of %d left)", waited, opens(calls[claimedAt:]))
	}
}
