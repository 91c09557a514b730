package bluesky

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// The chat service has no idempotency key: sending a message twice shows
// it twice. The Network is Idempotent for its public posts (record keys),
// and the outbox, trusting that, retries an attempt that a crash left
// without outcome — a DM's too. The DM ledger is what keeps that retry
// from sending a second message: every DM attempt is noted (by
// Reply.IdempotencyKey) in Deps.DataDir before sendMessage is called, and
// its outcome after, so a later call with the same key knows what the
// earlier one did:
//
//	no entry   send (a first attempt, or one whose earlier try surely failed)
//	sending    an earlier attempt began and never ended (Earshot stopped
//	           meanwhile): maybe sent; refuse, once, so staff check first
//	sent       return the message of the earlier attempt; send nothing
//	uncertain  staff were told it may have been sent and asked to send it
//	           again: send
//
// Entries are kept for dmLedgerTTL, far longer than any retry or restart.

// dmLedgerTTL is how long an entry is kept.
const dmLedgerTTL = 7 * 24 * time.Hour

type dmState string

const (
	dmSending   dmState = "sending"
	dmSent      dmState = "sent"
	dmUncertain dmState = "uncertain"
)

// dmEntry is what is known of the attempts of one DM.
type dmEntry struct {
	State dmState   `json:"state"`
	At    time.Time `json:"at"`
	ID    string    `json:"id,omitempty"`  // the message, when sent
	URL   string    `json:"url,omitempty"` // its conversation
}

// dmLedger is the DM attempts by idempotency key, in memory and, when path
// is set, in a file (0600) rewritten atomically on every change. Safe for
// concurrent use; set does file I/O.
type dmLedger struct {
	path string
	now  func() time.Time

	mu     sync.Mutex
	m      map[string]dmEntry
	loaded bool
}

// durable reports whether the ledger outlives the process.
func (l *dmLedger) durable() bool { return l.path != "" }

// get returns key's entry ("" state when none), reading the file once.
func (l *dmLedger) get(key string) dmEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadLocked()
	return l.m[key]
}

// set records key's entry (or forgets it when e.State is "") and writes
// the file. The memory is updated even when the write fails.
func (l *dmLedger) set(key string, e dmEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadLocked()
	if e.State == "" {
		delete(l.m, key)
	} else {
		e.At = l.now()
		l.m[key] = e
	}
	return l.saveLocked()
}

func (l *dmLedger) loadLocked() {
	if l.loaded {
		return
	}
	l.loaded = true
	if l.m == nil {
		l.m = map[string]dmEntry{}
	}
	if l.path == "" {
		return
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return
	}
	var m map[string]dmEntry
	if json.Unmarshal(b, &m) == nil {
		for k, e := range m {
			l.m[k] = e
		}
	}
}

func (l *dmLedger) saveLocked() error {
	if l.path == "" {
		return nil
	}
	cut := l.now().Add(-dmLedgerTTL)
	for k, e := range l.m {
		if e.At.Before(cut) {
			delete(l.m, k)
		}
	}
	if err := statefile.WriteJSON(l.path, l.m); err != nil {
		return fmt.Errorf("bluesky: save the DM ledger: %w", err)
	}
	return nil
}
