package mastodon

import (
	"sync"

	"github.com/earshot-dev/earshot/bridge"
)

// Health, as Deps.Health shows it: down while the token is refused or
// nothing reaches us (no stream, and the polls fail too); degraded while
// posts arrive by polling only (no stream works, or it is reconnecting);
// up while the mentions stream is connected as configured or detected.

// health is what Listen last saw. Safe for concurrent use.
type health struct {
	mu       sync.Mutex
	rep      bridge.HealthReporter
	account  string // why our token cannot act; "" when it can
	start    string // why listening could not start yet; "" once it did
	pollOnly bool   // stream: poll, as configured
	streamUp bool   // the mentions stream is connected
	stream   string // why it is not (while not)
	polled   bool   // a poll has run
	pollErr  string // why the last poll failed; "" when it worked
}

func (h *health) reportLocked() {
	switch {
	case h.account != "":
		h.rep.Report(Name, bridge.HealthDown, h.account)
	case h.start != "":
		h.rep.Report(Name, bridge.HealthDown, h.start)
	case h.pollOnly && h.polled && h.pollErr == "":
		h.rep.Report(Name, bridge.HealthUp, "")
	case h.streamUp:
		h.rep.Report(Name, bridge.HealthUp, "")
	case h.stream == "":
		// not known yet
	case h.polled && h.pollErr == "":
		h.rep.Report(Name, bridge.HealthDegraded, h.stream+"; polling meanwhile")
	case h.polled:
		h.rep.Report(Name, bridge.HealthDown, h.stream+"; polling fails too: "+h.pollErr)
	}
}

func (h *health) update(f func(h *health)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
	h.reportLocked()
}

// setAccount records why the token cannot act ("" it can).
func (h *health) setAccount(reason string) { h.update(func(h *health) { h.account = reason }) }

// setStart records why listening cannot start ("" it did).
func (h *health) setStart(why string) { h.update(func(h *health) { h.start = why }) }

// setPollOnly records that polling is what the config asked for.
func (h *health) setPollOnly(why string) {
	h.update(func(h *health) { h.pollOnly, h.stream = true, why })
}

// setStream records the mentions stream connected (why "") or not (why).
func (h *health) setStream(why string) {
	h.update(func(h *health) { h.streamUp, h.stream = why == "", why })
}

// setPoll records how the last poll went (err nil: it worked).
func (h *health) setPoll(err error) {
	h.update(func(h *health) {
		h.polled, h.pollErr = true, ""
		if err != nil {
			h.pollErr = err.Error()
		}
	})
}
