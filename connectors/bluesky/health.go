package bluesky

import (
	"errors"
	"net/http"
	"sync"

	"github.com/earshot-dev/earshot/bridge"
)

// Health, as Deps.Health shows it: down while our account cannot act (the
// login refused, the account taken down, deactivated or suspended: the
// reason says which, in plain words) or while Jetstream cannot be reached;
// up while listening.

// health is what the connector last saw. Safe for concurrent use.
type health struct {
	mu        sync.Mutex
	rep       bridge.HealthReporter
	account   string // why our account cannot act; "" when it can
	stream    string // why posts do not arrive; "" when connected
	listening bool   // Jetstream connected at least once since Listen began
}

// report tells the reporter the state the fields give (h.mu held).
func (h *health) reportLocked() {
	switch {
	case h.account != "":
		h.rep.Report(Name, bridge.HealthDown, h.account)
	case h.stream != "":
		h.rep.Report(Name, bridge.HealthDown, h.stream)
	case h.listening:
		h.rep.Report(Name, bridge.HealthUp, "")
	}
}

// setAccount records why our account cannot act ("" it can).
func (h *health) setAccount(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.account == reason {
		return
	}
	h.account = reason
	h.reportLocked()
}

// setStream records whether Jetstream is connected (reason "") or why not.
func (h *health) setStream(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if reason == "" {
		h.listening = true
	}
	h.stream = reason
	h.reportLocked()
}

// accountRefusal returns the plain reason when err says our account cannot
// act for a reason only a person can change: the account taken down,
// deactivated or suspended, or the login refused.
func accountRefusal(err error) (string, bool) {
	var xe *xrpcError
	if !errors.As(err, &xe) {
		return "", false
	}
	switch xe.Name {
	case "AccountTakedown":
		return "Bluesky: the account has been taken down by its server's moderators; nothing can be published until they restore it", true
	case "AccountDeactivated":
		return "Bluesky: the account is deactivated; its owner must reactivate it (log in to it) before anything can be published", true
	case "AccountSuspended":
		return "Bluesky: the account is suspended by its server's moderators; nothing can be published until the suspension ends", true
	}
	if xe.Method == "com.atproto.server.createSession" && (xe.Status == http.StatusUnauthorized || xe.Name == "AuthenticationRequired") {
		return "Bluesky: the login was refused; check the identifier and app password in the config (the app password may have been revoked)", true
	}
	return "", false
}

// noteAccount shows err's account refusal, if it is one, in the health
// report; it returns err as it is.
func (n *Network) noteAccount(err error) error {
	if reason, ok := accountRefusal(err); ok {
		n.health.setAccount(reason)
	}
	return err
}

// noteAccountOK records that our account acted (a login, a refresh, a post).
func (n *Network) noteAccountOK() { n.health.setAccount("") }
