package mastodon

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// state is what survives a restart, in Deps.DataDir/mastodon-state.json.
type state struct {
	// LastNotification is where the next mentions poll starts: every
	// mention notification up to it was handled ("0": none yet).
	LastNotification string `json:"last_notification_id"`
	// Hashtags is, per followed hashtag, the newest status handled from
	// it ("0": none yet): after a reconnect or a restart the tag's
	// timeline is read from there, so keyword posts made meanwhile arrive.
	Hashtags map[string]string `json:"hashtags,omitempty"`
	// Server is whether the server honours Idempotency-Key, for its
	// software and version at the time: known, or found by the probe.
	Server serverState `json:"server,omitzero"`
}

// serverState is the idempotency verdict for one server version (Probed:
// the probe found it; else the software is known).
type serverState struct {
	Software   string `json:"software"`
	Version    string `json:"version"`
	Probed     bool   `json:"probed"`
	Idempotent bool   `json:"idempotent"`
}

func (n *Network) statePath() string {
	if n.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(n.deps.DataDir, "mastodon-state.json")
}

func (n *Network) loadState() error {
	p := n.statePath()
	if p == "" {
		return nil
	}
	if err := statefile.ReadJSON(p, &n.state); err != nil {
		return fmt.Errorf("mastodon: load state: %w", err)
	}
	return nil
}

// saveStateLocked writes the state atomically; called with n.mu held.
func (n *Network) saveStateLocked() {
	p := n.statePath()
	if p == "" {
		return
	}
	if err := statefile.WriteJSON(p, n.state); err != nil {
		n.log.Warn("mastodon: save state", "err", err)
	}
}

// idLess compares Mastodon ids (numeric strings of any length; GoToSocial's
// ULIDs, of one length, compare the same way).
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// noteTagStatus remembers the newest status handled from hashtag tag.
func (n *Network) noteTagStatus(tag, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state.Hashtags == nil {
		n.state.Hashtags = map[string]string{}
	}
	if last, ok := n.state.Hashtags[tag]; !ok || idLess(last, id) {
		n.state.Hashtags[tag] = id
		n.saveStateLocked()
	}
}

// noteWindow is where mentions polls start. A server may make a
// notification visible after one with a higher id (GoToSocial makes them
// in a worker), so a poll that started right after the highest id seen
// could miss it for good. Polls start instead from the highest id seen at
// least settle ago, reading the last moments again (the seen set drops
// what was delivered), and never past a notification that could not be
// handed over. Safe for concurrent use.
type noteWindow struct {
	mu     sync.Mutex
	base   string     // polls start after it
	recent []noteSeen // handled since, in the order they were
	holes  map[string]bool
}

type noteSeen struct {
	id string
	at time.Time
}

func newNoteWindow(base string) *noteWindow { return &noteWindow{base: base, holes: map[string]bool{}} }

// from is the min_id of the next poll ("" on the very first start).
func (w *noteWindow) from() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.base
}

// handled records notification id as delivered (or not for us) at at.
func (w *noteWindow) handled(id string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.holes, id)
	if w.base == "" || idLess(w.base, id) {
		w.recent = append(w.recent, noteSeen{id, at})
	}
}

// failed records notification id as not handed over: polls start before it.
func (w *noteWindow) failed(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.holes[id] = true
}

// reset sets the base (the very first start: where history ends).
func (w *noteWindow) reset(base string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.base, w.recent = base, nil
}

// settle moves the base up to the highest id handled at least d before
// now and below every hole; changed says it moved.
func (w *noteWindow) settle(now time.Time, d time.Duration) (base string, changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.recent[:0]
	for _, s := range w.recent {
		below := true
		for h := range w.holes {
			below = below && idLess(s.id, h)
		}
		if now.Sub(s.at) < d || !below {
			keep = append(keep, s)
			continue
		}
		if idLess(w.base, s.id) {
			w.base, changed = s.id, true
		}
	}
	w.recent = keep
	return w.base, changed
}
