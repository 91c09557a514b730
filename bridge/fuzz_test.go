package bridge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
	"github.com/earshot-dev/earshot/bridge/journal"
)

// FuzzDecodeEvent feeds the journal's event decoder and apply arbitrary
// records (each a uvarint length and the record, applied in order to one
// store): a damaged or foreign journal gives an error, never a panic, and
// whatever decodes encodes back to a record that decodes the same.
func FuzzDecodeEvent(f *testing.F) {
	var all []byte
	seed := func(ev bridge.Event) {
		b, err := bridge.EncodeEvent(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
		all = append(binary.AppendUvarint(all, uint64(len(b))), b...)
	}
	p := &bridge.Post{Network: "net", ID: "p1", Author: bridge.Author{ID: "a"}, Text: "hi", Ref: map[string]string{"cid": "c"}}
	seed(bridge.Event{Type: bridge.EvOpened, At: time.Unix(1, 0), Case: "E-1", Post: p, Queue: "support"})
	seed(bridge.Event{Type: bridge.EvClaimed, Case: "E-1", Staff: &bridge.Staff{Desk: "d", ID: "u"}})
	seed(bridge.Event{Type: bridge.EvQueued, Item: &bridge.OutboxItem{ID: "ob-1", Case: "E-1", Due: time.Unix(5, 0)}})
	seed(bridge.Event{Type: bridge.EvSent, ID: "ob-1", Ref: &bridge.PostRef{ID: "x"}})
	seed(bridge.Event{Type: bridge.EvThread, Case: "E-1", Thread: &bridge.ThreadRef{Desk: "d", ID: "t"}})
	seed(bridge.Event{Type: bridge.EvFollowUp, Case: "E-1", Post: &bridge.Post{Network: "net", ID: "p2"}, Flag: true})
	seed(bridge.Event{Type: bridge.EvTagged, Case: "E-1", Tags: []string{"a"}, Remove: []string{"b"}, At: time.Unix(9, 0).In(time.FixedZone("", -3600))})
	f.Add(all)
	f.Add([]byte(`{"t":"case.opened","c":"E-x","post":{}}`)) // the JSON of earlier builds: refused
	f.Add([]byte{2, 1, 0, 0})                                // a newer format: refused
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var evs []bridge.Event
		for len(data) > 0 {
			n, k := binary.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				break
			}
			rec := data[k : k+int(n)]
			data = data[k+int(n):]
			ev, err := bridge.DecodeEvent(rec)
			if err != nil {
				continue
			}
			again, err := bridge.EncodeEvent(ev)
			if err != nil {
				t.Fatalf("a decoded event does not encode: %v", err)
			}
			ev2, err := bridge.DecodeEvent(again)
			if err != nil {
				t.Fatalf("a re-encoded event does not decode: %v", err)
			}
			if again2, _ := bridge.EncodeEvent(ev2); !bytes.Equal(again, again2) {
				t.Fatalf("the encoding is not stable:\n%x\n%x", again, again2)
			}
			evs = append(evs, ev)
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

// snapshotOf returns the payload of the newest snapshot file in dir (the
// JSON after the journal's header), or nil.
func snapshotOf(tb testing.TB, dir string) []byte {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	b, err := os.ReadFile(names[len(names)-1])
	if err != nil {
		tb.Fatal(err)
	}
	const header = 8 + 8 + 8 + 4 // magic, seq, length, CRC
	return b[header:]
}

// withSnapshot makes a data directory whose journal starts from a
// snapshot holding payload (framed and checksummed by the journal itself).
func withSnapshot(tb testing.TB, payload []byte) string {
	tb.Helper()
	dir := tb.TempDir()
	nop := func(uint64, []byte) error { return nil }
	j, _, err := journal.Open(journal.Options{Dir: dir}, nop, nop)
	if err != nil {
		tb.Fatal(err)
	}
	// One record for the snapshot to cover (a fresh journal has nothing
	// to rotate away from); the snapshot drops its segment.
	seq, err := j.Append([]byte("covered by the snapshot"))
	if err == nil {
		err = j.Sync(context.Background(), seq)
	}
	if err == nil {
		seq, err = j.Rotate()
	}
	if err == nil {
		err = j.WriteSnapshot(seq, func(w io.Writer) error { _, err := w.Write(payload); return err })
	}
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// open starts (not runs) a bridge on dir, or returns why it cannot.
func open(dir string) (*bridge.Bridge, error) {
	return bridge.New(bridge.Options{Config: DefaultConfig(), DataDir: dir, Networks: []bridge.Network{NewNetwork("net")},
		Desks: []bridge.Desk{NewDesk("desk")}, Metrics: bridge.NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.DiscardHandler), Clock: NewClock(Start)})
}

// FuzzRestoreSnapshot: whatever a snapshot holds (past its header and
// checksum, which the journal checks), a bridge either refuses to start
// with an error or starts on it, and what it then holds restores to the
// same state again. Seeded with a snapshot a real run wrote (cases opened,
// claimed, replied to, resolved; threads, posts and outbox items).
func FuzzRestoreSnapshot(f *testing.F) {
	tb := NewTestBridge(f, WithSnapshotEvery(1))
	staff := Ana
	v, th, _ := tb.Complain("bea", "@brand my refund never came")
	tb.MustClaim(v.ID, staff)
	tb.Say(th, staff, "Sorry Bea, it is on its way")
	tb.Complain("cai", "@brand the app crashes & loses my <basket>")
	tb.WaitFor("a snapshot", func() bool { return len(snapshotOf(f, tb.DataDir)) > 0 })
	if err := tb.Stop(); err != nil {
		f.Fatal(err)
	}
	f.Add(snapshotOf(f, tb.DataDir))
	f.Add([]byte(`{"cases":[null],"threads":[null],"posts":[null],"outbox":[null],"meta":null}`))
	f.Add([]byte(`{"cases":[{"id":""},{"id":""}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := open(withSnapshot(t, payload))
		if err != nil {
			return
		}
		first := bridge.Dump(b)
		b.Close()
		again, err := open(withSnapshot(t, []byte(first)))
		if err != nil {
			t.Fatalf("a state a snapshot restored does not restore again: %v\n%s", err, first)
		}
		defer again.Close()
		if second := bridge.Dump(again); second != first {
			t.Fatalf("restoring changed the state:\n%s\n%s", first, second)
		}
	})
}

// FuzzStaffMessage writes arbitrary text as the claimer of a case: if its
// folded form starts with a note prefix or the command prefix, or it shows
// nothing, the bridge never queues it for publication; whatever it queues
// is the text as written, trimmed. (The seeds are the corpus of issue #14.)
func FuzzStaffMessage(f *testing.F) {
	for _, s := range []string{
		"NOTE : ops says", "note：x", "*note:* check the log", "_note:_ x", "> note: x", "||note:|| x",
		"\u200bnote: x", "**note:** x", "// x", "ｎｏｔｅ: x", "nоte: x", "\u200b\u2060", "!claim",
		"Thanks, it is fixed", "  Sorry!  ", "Note - not a prefix", "\xff\xfenote: x", "n\u0336ote: x",
	} {
		f.Add(s)
	}
	tb := NewTestBridge(f, InMemory())
	v, th, _ := tb.Complain("ana", "@brand fuzz")
	tb.MustClaim(v.ID, Ana)
	notes := []string{bridge.Fold("note:"), bridge.Fold("//"), bridge.Fold("!")}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := tb.Desk.Say(ctx, th, Ana, text)
		if err != nil {
			t.Fatalf("staff message: %v", err)
		}
		it, ok := tb.OutboxFor(m)
		queued := ok && it.State != bridge.OutboxCancelled
		folded := bridge.Fold(text)
		for _, p := range notes {
			if strings.HasPrefix(folded, p) && queued {
				t.Fatalf("%q folds to %q (prefix %q) and was queued as %q", text, folded, p, it.Text)
			}
		}
		if !bridge.Visible(text) && queued {
			t.Fatalf("%q shows nothing and was queued", text)
		}
		if queued && it.Text != strings.TrimSpace(text) {
			t.Fatalf("%q was queued as %q", text, it.Text)
		}
	})
}
