package bluesky

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
)

// createPost writes rec in our repo (did me) and returns its strong ref.
// With an idempotency key, the record key is replyRecordKey(key, probe), so
// every attempt of one reply writes the same rkey: a create whose answer
// was lost, then retried, either creates the record or is refused because
// it exists; then the record is read back (getRecord) and, when it is
// ours — the same text and reply refs — it is the publication, with the
// same uri as the first attempt. A record at that key that is not ours
// moves to the next probe. Without a key (callers other than the outbox)
// the PDS picks the rkey and nothing is deduplicated. It does network I/O
// and blocks until the PDS answered or ctx ended.
func (n *Network) createPost(ctx context.Context, op, me string, rec postRecord, key string) (strongRef, error) {
	in := map[string]any{"repo": me, "collection": "app.bsky.feed.post", "record": rec}
	var out strongRef
	if key == "" {
		if err := n.xrpc.call(ctx, "createRecord", http.MethodPost, "com.atproto.repo.createRecord", nil, in, &out, nil); err != nil {
			return strongRef{}, classify(op, err)
		}
		return out, nil
	}
	for probe := range maxKeyProbes {
		rkey := replyRecordKey(key, probe)
		in["rkey"] = rkey
		err := n.xrpc.call(ctx, "createRecord", http.MethodPost, "com.atproto.repo.createRecord", nil, in, &out, nil)
		if err == nil {
			return out, nil
		}
		if !mayExist(err) {
			return strongRef{}, classify(op, err)
		}
		got, found, gerr := n.getPost(ctx, me, rkey)
		switch {
		case gerr != nil:
			// Whether the first try went through is unknown; the retry
			// will write the same rkey, so it is safe to try again.
			return strongRef{}, retryable(classify(op, err))
		case !found:
			// Nothing was stored (or not yet: a create still on its way
			// lands on this same rkey, which the next attempt finds).
			return strongRef{}, retryable(classify(op, err))
		case samePost(got.Value, rec):
			return strongRef{URI: got.URI, CID: got.CID}, nil
		}
		n.log.Warn("bluesky: a record key derived for a reply holds another post; trying the next one", "rkey", rkey)
	}
	return strongRef{}, &bridge.PublishError{Op: op,
		Reason: "Bluesky: every record key derived for this reply holds another post; write it again to send it"}
}

// mayExist reports whether a failed createRecord may have left (or found)
// a record at its rkey: no answer, a 5xx (the reference PDS answers a taken
// rkey with a bare 500), or a refusal that says the record exists.
func mayExist(err error) bool {
	var xe *xrpcError
	if !errors.As(err, &xe) {
		var se *sendError
		var ae *answerError
		return errors.As(err, &se) && se.Sent || errors.As(err, &ae)
	}
	if xe.Method != "com.atproto.repo.createRecord" {
		return false // a session call failed before the create
	}
	if xe.Status >= 500 {
		return true
	}
	if xe.Status != http.StatusBadRequest && xe.Status != http.StatusConflict {
		return false
	}
	return xe.Name == "RecordAlreadyExists" || xe.Name == "InvalidSwap" ||
		strings.Contains(strings.ToLower(xe.Message), "already exists")
}

// retryable marks a classified failure as worth another attempt: the
// record key makes it safe.
func retryable(pe *bridge.PublishError) *bridge.PublishError {
	pe.Retryable = true
	if pe.Reason == "" || strings.HasPrefix(pe.Reason, "Bluesky refused") {
		pe.Reason = "Bluesky: the post may not have been stored, trying again"
	}
	return pe
}

// storedPost is a com.atproto.repo.getRecord answer.
type storedPost struct {
	URI   string     `json:"uri"`
	CID   string     `json:"cid"`
	Value postRecord `json:"value"`
}

// getPost reads the post at rkey in repo me; found is false when there is
// none. It does network I/O.
func (n *Network) getPost(ctx context.Context, me, rkey string) (p storedPost, found bool, err error) {
	err = n.xrpc.call(ctx, "getRecord", http.MethodGet, "com.atproto.repo.getRecord",
		url.Values{"repo": {me}, "collection": {"app.bsky.feed.post"}, "rkey": {rkey}}, nil, &p, nil)
	var xe *xrpcError
	if errors.As(err, &xe) && (xe.Name == "RecordNotFound" || xe.Status == http.StatusNotFound) {
		return storedPost{}, false, nil
	}
	if err != nil {
		return storedPost{}, false, err
	}
	return p, p.URI != "", nil
}

// samePost reports whether a stored record is the post rec would have
// written: the same text, replying to the same posts. createdAt (the time
// of each attempt) and facets (handles may resolve differently between
// attempts) do not count.
func samePost(got, rec postRecord) bool {
	if got.Text != rec.Text || (got.Reply == nil) != (rec.Reply == nil) {
		return false
	}
	return got.Reply == nil || *got.Reply == *rec.Reply
}
