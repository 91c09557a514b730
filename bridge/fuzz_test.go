package bridge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
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

// FuzzIngest sends arbitrary posts through watch rules and routing: a post
// is taken or ignored, never an error or a panic, and a post is never
// taken twice.
func FuzzIngest(f *testing.F) {
	f.Add("@brand my train is late #RailFail", "en", 10, false)
	f.Add("chocolate", "", 0, true)
	f.Add("\xff\xfe late\x00", "fr-CA", 1<<30, false)
	f.Add("LATE!!! signal failure", "EN", -5, false)
	tb := NewTestBridge(f, InMemory(), NotRunning(), WithConfig(func(c *bridge.Config) {
		c.Watch = []bridge.WatchRule{{Network: "net", Mentions: true, Keywords: []string{"late", "signal failure"}, Hashtags: []string{"railfail"}, Exclude: []string{"#ad", "giveaway"}}}
		c.Routes = []bridge.RouteRule{{Languages: []string{"en"}, Keywords: []string{"signal"}, MinFollowers: 5, Queue: "billing", Tags: []string{"Rail"}}}
	}))
	n := 0
	f.Fuzz(func(t *testing.T, text, lang string, followers int, mention bool) {
		n++
		a := Customer(fmt.Sprintf("fz%d", n))
		a.Followers = followers
		p := Mention(a, text)
		p.Lang, p.MentionsUs = lang, mention
		if err := tb.Post(ctx, p); err != nil {
			t.Fatalf("post: %v", err)
		}
		first, opened := tb.OpenedBy(p.ID)
		if err := tb.Post(ctx, p); err != nil {
			t.Fatalf("again: %v", err)
		}
		if again, _ := tb.OpenedBy(p.ID); opened && again.ID != first.ID {
			t.Fatalf("the same post opened %s and %s", first.ID, again.ID)
		}
	})
}
