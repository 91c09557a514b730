// Package seen remembers the ids a connector delivered last, so a post that
// arrives twice (a stream and the poll that fills its gap, a mention and a
// hashtag, a replay from a cursor) goes to the bridge once.
package seen

import "sync"

// Set holds at most max ids, forgetting the oldest first. Safe for
// concurrent use.
type Set struct {
	mu    sync.Mutex
	ids   map[string]bool
	order []string
	max   int
}

// New returns an empty Set that remembers up to max ids.
func New(max int) *Set { return &Set{ids: map[string]bool{}, max: max} }

// Add remembers id; it returns false when id was there already.
func (s *Set) Add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

// Forget drops id (it was not handed over after all: let it in again).
func (s *Set) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}
