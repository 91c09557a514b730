package realpds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// What tests do as people and as the PDS's operator, over plain XRPC.

// Account is an account created on the PDS.
type Account struct {
	DID, Handle, Password string
	Access                string // an access token of a session of its own
}

// Error is an XRPC error answer.
type Error struct {
	Status        int
	Name, Message string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Name, e.Message) }

// Call makes one XRPC call: a POST with in as JSON when in is not nil, a
// GET with q otherwise. auth is a bearer token, "admin" for the admin's
// basic auth, or "". out may be nil.
func (p *PDS) Call(ctx context.Context, nsid string, q url.Values, in, out any, auth string) error {
	method, body := http.MethodGet, io.Reader(nil)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		method, body = http.MethodPost, bytes.NewReader(b)
	}
	u := p.URL + "/xrpc/" + nsid
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch auth {
	case "":
	case "admin":
		req.SetBasicAuth("admin", p.admin)
	default:
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("%s: %w", nsid, &Error{Status: resp.StatusCode, Name: e.Error, Message: e.Message})
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: decode: %w", nsid, err)
		}
	}
	return nil
}

// CreateAccount makes an account; handle must end in ".test" (the PDS's
// handle domain).
func (p *PDS) CreateAccount(ctx context.Context, handle, password string) (Account, error) {
	var out struct{ DID, Handle, AccessJwt string }
	in := map[string]string{"handle": handle, "password": password, "email": strings.ReplaceAll(handle, ".", "-") + "@example.com"}
	if err := p.Call(ctx, "com.atproto.server.createAccount", nil, in, &out, ""); err != nil {
		return Account{}, err
	}
	return Account{DID: out.DID, Handle: out.Handle, Password: password, Access: out.AccessJwt}, nil
}

// AppPassword makes an app password for a, as its owner would for Earshot.
func (p *PDS) AppPassword(ctx context.Context, a Account, name string) (string, error) {
	var out struct{ Password string }
	if err := p.Call(ctx, "com.atproto.server.createAppPassword", nil, map[string]string{"name": name}, &out, a.Access); err != nil {
		return "", err
	}
	return out.Password, nil
}

// Takedown takes the account down (applied) or restores it, as the PDS's
// moderators do (com.atproto.admin.updateSubjectStatus).
func (p *PDS) Takedown(ctx context.Context, did string, applied bool) error {
	in := map[string]any{
		"subject":  map[string]string{"$type": "com.atproto.admin.defs#repoRef", "did": did},
		"takedown": map[string]any{"applied": applied, "ref": "earshot-test"},
	}
	return p.Call(ctx, "com.atproto.admin.updateSubjectStatus", nil, in, nil, "admin")
}

// Deactivate deactivates a's account, as its owner may (with the account
// password, not an app password).
func (p *PDS) Deactivate(ctx context.Context, a Account) error {
	return p.Call(ctx, "com.atproto.server.deactivateAccount", nil, map[string]any{}, nil, a.Access)
}

// Ref is a strong reference to a record.
type Ref struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// Post writes a post as a, with record's extra fields (reply, facets)
// merged in, and returns its strong ref.
func (p *PDS) Post(ctx context.Context, a Account, text string, extra map[string]any) (Ref, error) {
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		rec[k] = v
	}
	var out Ref
	in := map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": rec}
	err := p.Call(ctx, "com.atproto.repo.createRecord", nil, in, &out, a.Access)
	return out, err
}

// Delete deletes a's record at uri (at://did/collection/rkey).
func (p *PDS) Delete(ctx context.Context, a Account, uri string) error {
	parts := strings.Split(strings.TrimPrefix(uri, "at://"), "/")
	if len(parts) != 3 {
		return fmt.Errorf("realpds: delete: bad uri %q", uri)
	}
	in := map[string]string{"repo": parts[0], "collection": parts[1], "rkey": parts[2]}
	return p.Call(ctx, "com.atproto.repo.deleteRecord", nil, in, nil, a.Access)
}

// Record is a stored record as getRecord answers.
type Record struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

// GetRecord reads the record at uri.
func (p *PDS) GetRecord(ctx context.Context, uri string) (Record, error) {
	parts := strings.Split(strings.TrimPrefix(uri, "at://"), "/")
	if len(parts) != 3 {
		return Record{}, fmt.Errorf("realpds: get: bad uri %q", uri)
	}
	var out Record
	err := p.Call(ctx, "com.atproto.repo.getRecord", url.Values{"repo": {parts[0]}, "collection": {parts[1]}, "rkey": {parts[2]}}, nil, &out, "")
	return out, err
}

// ListPosts lists the posts in did's repo, newest first.
func (p *PDS) ListPosts(ctx context.Context, did string) ([]Record, error) {
	var out struct{ Records []Record }
	err := p.Call(ctx, "com.atproto.repo.listRecords", url.Values{"repo": {did}, "collection": {"app.bsky.feed.post"}, "limit": {"100"}}, nil, &out, "")
	return out.Records, err
}
