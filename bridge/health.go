package bridge

import "time"

// Connector health: how each connector's link to its platform stands, as
// the connector itself sees it. Connectors report through Deps.Health;
// main turns the reports into earshot_connector_up, the readiness answer
// and `earshot check` lines. The bridge itself never decides on health.

// HealthState is how a connector's link to its platform stands.
type HealthState string

const (
	// HealthUp: listening (or able to publish) as configured.
	HealthUp HealthState = "up"
	// HealthDegraded: working, but not as configured (polling because no
	// stream works, a fallback in use); posts still arrive.
	HealthDegraded HealthState = "degraded"
	// HealthDown: nothing arrives or can be sent (refused credentials, the
	// platform unreachable); the connector keeps trying unless the reason
	// is permanent.
	HealthDown HealthState = "down"
)

// HealthReport is one connector's state as it last reported it.
type HealthReport struct {
	Connector string      `json:"connector"`        // "slack", "mastodon", ...
	State     HealthState `json:"state"`            // up, degraded, down
	Reason    string      `json:"reason,omitempty"` // plain words for an operator; never a secret
	Since     time.Time   `json:"since"`            // when State last changed
	// LastError is when the connector last reported an error (zero: never).
	LastError time.Time `json:"last_error,omitzero"`
}

// HealthReporter takes connectors' reports. Report is cheap and never
// blocks (no I/O): connectors call it on every state change and may call
// it again with the same state. reason is shown to operators: plain
// words, wrapped errors allowed, never a token or a password.
type HealthReporter interface {
	Report(connector string, state HealthState, reason string)
}

// NopHealth ignores reports; for tests and connectors built without main.
type NopHealth struct{}

// Report does nothing.
func (NopHealth) Report(string, HealthState, string) {}
