package blueskyfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
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

// xrpc calls the fake as our account and returns the status and decoded body.
func xrpc(t *testing.T, s *Server, method, nsid string, q url.Values, in any) (int, map[string]any) {
	t.Helper()
	tok := login(t, s)
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	u := s.URL() + "/xrpc/" + nsid
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func login(t *testing.T, s *Server) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"identifier": OurHandle, "password": OurPassword})
	resp, err := http.Post(s.URL()+"/xrpc/com.atproto.server.createSession", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ AccessJwt string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessJwt == "" {
		t.Fatalf("login: %v %+v", err, out)
	}
	return out.AccessJwt
}

func create(t *testing.T, s *Server, rkey, text string) (int, map[string]any) {
	t.Helper()
	in := map[string]any{"repo": s.Us().DID, "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": time.Now().UTC().Format(time.RFC3339Nano)}}
	if rkey != "" {
		in["rkey"] = rkey
	}
	return xrpc(t, s, http.MethodPost, "com.atproto.repo.createRecord", nil, in)
}

// Record keys: TIDs only, kept by key, a taken key refused (never
// overwritten), and getRecord reads them back.
func TestRecordKeys(t *testing.T) {
	t.Parallel()
	s := New()
	defer s.Close()
	for _, bad := range []string{"self", "3l3qo2vuowo2", "3l3qo2vuowo2bb", "kl3qo2vuowo2b", "3L3QO2VUOWO2B", "3l3qo2vuowo1b"} {
		if code, out := create(t, s, bad, "x"); code != 400 || out["error"] != "InvalidRequest" {
			t.Errorf("rkey %q: %d %v, want 400 InvalidRequest", bad, code, out)
		}
	}
	code, out := create(t, s, "3l3qo2vuowo2b", "first")
	if code != 200 || out["uri"] != "at://"+s.Us().DID+"/app.bsky.feed.post/3l3qo2vuowo2b" {
		t.Fatalf("create with rkey: %d %v", code, out)
	}
	cid := out["cid"]
	if code, out := create(t, s, "3l3qo2vuowo2b", "second"); code != 400 || out["error"] != "RecordAlreadyExists" {
		t.Errorf("taken rkey: %d %v, want 400 RecordAlreadyExists", code, out)
	}
	s.SetDuplicateAnswer(500, "InternalServerError")
	if code, out := create(t, s, "3l3qo2vuowo2b", "third"); code != 500 || out["error"] != "InternalServerError" {
		t.Errorf("taken rkey, PDS-style: %d %v, want 500", code, out)
	}
	if n := len(s.Published()); n != 1 || s.Published()[0].Record.Text != "first" {
		t.Errorf("published %+v, want only the first", s.Published())
	}
	q := url.Values{"repo": {OurHandle}, "collection": {"app.bsky.feed.post"}, "rkey": {"3l3qo2vuowo2b"}}
	code, out = xrpc(t, s, http.MethodGet, "com.atproto.repo.getRecord", q, nil)
	if v, _ := out["value"].(map[string]any); code != 200 || out["cid"] != cid || v["text"] != "first" {
		t.Errorf("getRecord: %d %v", code, out)
	}
	q.Set("rkey", "3l3qo2vuowo2c")
	if code, out := xrpc(t, s, http.MethodGet, "com.atproto.repo.getRecord", q, nil); code != 400 || out["error"] != "RecordNotFound" {
		t.Errorf("getRecord of nothing: %d %v", code, out)
	}
	if code, out := create(t, s, "", "minted"); code != 200 || !ValidTID(strings.TrimPrefix(out["uri"].(string), "at://"+s.Us().DID+"/app.bsky.feed.post/")) {
		t.Errorf("minted key: %d %v", code, out)
	}
}

// LoseNext: the work is done, the answer is lost.
func TestLoseNextStoresThenFails(t *testing.T) {
	t.Parallel()
	s := New()
	defer s.Close()
	s.LoseNext(502, 1)
	if code, _ := create(t, s, "3l3qo2vuowo2b", "lost answer"); code != 502 {
		t.Errorf("lost answer: HTTP %d, want 502", code)
	}
	if len(s.Published()) != 1 {
		t.Errorf("the record was not stored: %+v", s.Published())
	}
	if code, out := create(t, s, "3l3qo2vuowo2b", "lost answer"); code != 400 || out["error"] != "RecordAlreadyExists" {
		t.Errorf("the retry: %d %v", code, out)
	}
}
