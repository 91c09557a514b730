package blueskyfake

import (
	"strings"
	"testing"
	"time"
)

func TestRecordValidationAndChangeFeed(t *testing.T) {
	s := New()
	defer s.Close()
	ev := s.Subscribe()
	ana := s.AddAccount("ana", "Ana", 3)
	p, err := s.Post(ana.DID, "@"+OurHandle+" hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Record.Facets) != 1 || p.Record.Facets[0].Features[0]["did"] != s.Us().DID {
		t.Errorf("mention facet missing: %+v", p.Record.Facets)
	}
	select {
	case e := <-ev:
		if e.Kind != "post" || e.Post.URI != p.URI {
			t.Errorf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change event")
	}
	if _, err := s.Post(ana.DID, strings.Repeat("é", 301), ""); err == nil {
		t.Error("accepted 301 graphemes")
	}
	if _, err := s.Post(ana.DID, strings.Repeat("👍🏽", 300), ""); err != nil {
		t.Errorf("refused 300 emoji graphemes: %v", err)
	}
	r, err := s.Post(ana.DID, "reply", p.URI)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Post(ana.DID, "deeper", r.URI)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Record.Reply.Root.URI != p.URI || r2.Record.Reply.Parent.URI != r.URI {
		t.Errorf("reply refs %+v", r2.Record.Reply)
	}
	// A record whose root is not the parent's root is refused.
	s.mu.Lock()
	err = s.validateLocked(Record{Text: "x", CreatedAt: time.Now().Format(time.RFC3339),
		Reply: &ReplyRefs{Root: Ref{URI: r.URI, CID: r.CID}, Parent: Ref{URI: r2.URI, CID: r2.CID}}})
	s.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("wrong root accepted: %v", err)
	}
	s.SetDMPolicy(ana.DID, "none")
	if _, err := s.SendDM(s.Us().DID, ana.DID, "hi"); err == nil || err.Error() != "MessagesDisabled" {
		t.Errorf("DM to a closed inbox: %v", err)
	}
}
