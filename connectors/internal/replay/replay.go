// Package replay remembers the signed requests a connector acted on (Slack
// slash commands and button presses, Discord interactions, generic webhook
// posts) for as long as their signatures are still accepted, so that the
// same request sent again — a replay by whoever captured it, or the
// platform redelivering it — is answered as the first one was and never
// acted on twice.
//
// A request is known by a key the caller derives from what was signed
// (a hash of timestamp and body: never the signature header, whose hex a
// replayer may write in upper case), or by the platform's own unique id.
// Keys are kept until the request's signing time plus the signature
// window plus a margin: after that the signature check refuses the
// request anyway, so memory stays bounded by the rate of signed requests.
//
// In memory, not journaled: a request's whole life (signature window, the
// platform's 3-second answer, redeliveries) is minutes, and a journal
// write per slash command would put the desk's input behind the bridge's
// disk. What memory forgets on a restart is covered by Open: requests
// signed before the guard opened (the connector started listening) are
// refused, so a restart does not reopen the window for requests the last
// process acted on. The price is that a request signed in the moments
// before a start, and delivered after it, is refused; the platforms then
// re-sign their retries (Slack's Events API) or the person presses again.
//
// A Guard is safe for concurrent use; nothing in it blocks or does I/O.
package replay

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// margin is kept on top of the signature window, for clock steps.
const margin = time.Minute

// Verdict is what Claim made of a request.
type Verdict int

const (
	// First: no request with this key was seen; act on it, then call
	// Done (or Forget when it was not acted on).
	First Verdict = iota
	// Replay: a request with this key was seen; do not act. Its Ticket
	// holds the first request's answer once there is one.
	Replay
	// BeforeOpen: the request was signed before the guard opened; a
	// restarted process cannot tell it from a replay, so refuse it.
	BeforeOpen
)

// Guard remembers keys of signed requests. The zero value is not usable: New.
type Guard struct {
	window time.Duration

	mu        sync.Mutex
	floor     time.Time // requests signed before it are refused; zero: none
	keys      map[string]*Ticket
	lastSweep time.Time
}

// Ticket is one remembered request.
type Ticket struct {
	g       *Guard
	key     string
	expires time.Time
	done    bool
	answer  Answer
}

// New returns a guard for signatures accepted within window of now (both
// ways). It is open to requests signed at any time until Open is called.
func New(window time.Duration) *Guard {
	return &Guard{window: window, keys: map[string]*Ticket{}}
}

// Open refuses, from now on, requests signed before now (to the second:
// signatures carry whole seconds). Call it when the connector starts
// taking requests.
func (g *Guard) Open(now time.Time) {
	g.mu.Lock()
	g.floor = now.Truncate(time.Second)
	g.mu.Unlock()
}

// Claim looks key up for a request signed at signedAt, received at now.
// With First the key is now taken (a concurrent request with the same key
// gets Replay) until the ticket's Forget or its expiry.
func (g *Guard) Claim(key string, signedAt, now time.Time) (*Ticket, Verdict) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.floor.IsZero() && signedAt.Before(g.floor) {
		return nil, BeforeOpen
	}
	g.sweepLocked(now)
	if t, ok := g.keys[key]; ok && now.Before(t.expires) {
		return t, Replay
	}
	// Kept until the signature can no longer be accepted, counted from the
	// later of signing and receipt (a request from the future is still
	// acceptable window after its own time).
	from := signedAt
	if now.After(from) {
		from = now
	}
	t := &Ticket{g: g, key: key, expires: from.Add(g.window + margin)}
	g.keys[key] = t
	return t, First
}

// sweepLocked drops expired keys, at most once per half window.
func (g *Guard) sweepLocked(now time.Time) {
	if now.Sub(g.lastSweep) < g.window/2 {
		return
	}
	g.lastSweep = now
	for k, t := range g.keys {
		if !now.Before(t.expires) {
			delete(g.keys, k)
		}
	}
}

// Len is how many keys are remembered (for tests and metrics).
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys)
}

// Done records the answer the first request got; replays get it too.
func (t *Ticket) Done(a Answer) {
	t.g.mu.Lock()
	t.answer, t.done = a, true
	t.g.mu.Unlock()
}

// Forget drops the key: the request was not acted on (the connector was
// not ready, or failed before acting), so the same request sent again
// is welcome.
func (t *Ticket) Forget() {
	t.g.mu.Lock()
	if t.g.keys[t.key] == t {
		delete(t.g.keys, t.key)
	}
	t.g.mu.Unlock()
}

// Answer is the first request's answer, and whether it has one yet (it
// may still be in flight, or have ended without an answer).
func (t *Ticket) Answer() (Answer, bool) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	return t.answer, t.done
}

// Key derives a key from the signed parts of a request (scheme, timestamp,
// body...): the hex SHA-256 of their length-prefixed concatenation, so no
// two different lists share a key. Pure.
func Key(parts ...[]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
