package bridge_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// FuzzDecodeEvent feeds the journal's event decoder and apply arbitrary
// records (one per line, applied in order to one store): a damaged or
// foreign journal gives an error, never a panic.
func FuzzDecodeEvent(f *testing.F) {
	var all []byte
	seed := func(ev bridge.Event) {
		b, _ := json.Marshal(ev)
		f.Add(b)
		all = append(append(all, b...), '\n')
	}
	p := &bridge.Post{Network: "net", ID: "p1", Author: bridge.Author{ID: "a"}, Text: "hi"}
	seed(bridge.Event{Type: bridge.EvOpened, At: time.Unix(1, 0), Case: "E-1", Post: p, Queue: "support"})
	seed(bridge.Event{Type: bridge.EvClaimed, Case: "E-1", Staff: &bridge.Staff{Desk: "d", ID: "u"}})
	seed(bridge.Event{Type: bridge.EvQueued, Item: &bridge.OutboxItem{ID: "ob-1", Case: "E-1"}})
	seed(bridge.Event{Type: bridge.EvSent, ID: "ob-1", Ref: &bridge.PostRef{ID: "x"}})
	seed(bridge.Event{Type: bridge.EvThread, Case: "E-1", Thread: &bridge.ThreadRef{Desk: "d", ID: "t"}})
	seed(bridge.Event{Type: bridge.EvFollowUp, Case: "E-1", Post: &bridge.Post{Network: "net", ID: "p2"}, Flag: true})
	f.Add(all)
	f.Add([]byte(`{"t":"case.opened","c":"E-x","post":{}}`))
	f.Add([]byte(`{"t":"thread.synced"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var evs []bridge.Event
		for _, rec := range bytes.Split(data, []byte("\n")) {
			if ev, err := bridge.DecodeEvent(rec); err == nil {
				evs = append(evs, ev)
			}
		}
		_ = bridge.ApplyToEmpty(evs...)
	})
}
