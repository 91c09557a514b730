package x

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
)

// Publish posts a public reply (reply.in_reply_to_tweet_id) or, when
// r.Private, a DM to r.To. It blocks until X answered or ctx ended. Every
// attempt is counted (op "publish" or "dm"). Errors are *bridge.PublishError;
// X has no idempotency key, so nothing here retries a post by itself.
func (n *Network) Publish(ctx context.Context, r bridge.Reply) (bridge.PostRef, error) {
	op := "publish reply"
	if r.Private {
		op = "publish direct message"
	}
	perm := func(reason string) error { return &bridge.PublishError{Op: "x: " + op, Reason: reason} }
	if strings.TrimSpace(r.Text) == "" {
		return bridge.PostRef{}, perm("the text is empty")
	}
	if why := refusedInPost(r.Text, r.Private); why != "" {
		// The bridge's gate refuses these before the undo window; this
		// holds for any other caller.
		return bridge.PostRef{}, perm(why)
	}
	if cnt, limit, ok := n.Limits().Check(r.Text, r.Private); !ok {
		unit := "weighted characters (URLs count 23, CJK and emoji 2)"
		if r.Private {
			unit = "characters"
		}
		return bridge.PostRef{}, perm(fmt.Sprintf("X counts this text as %d %s; the limit is %d", cnt, unit, limit))
	}
	me, err := n.ensureMe(ctx)
	if err != nil {
		return bridge.PostRef{}, classify(op, err)
	}
	if r.Private {
		to := r.To.ID
		if to == "" {
			to = r.InRef["author_id"]
		}
		if to == "" {
			return bridge.PostRef{}, perm("the customer's X account id is unknown, so no DM can be sent")
		}
		var resp struct {
			Data struct {
				ConversationID string `json:"dm_conversation_id"`
				EventID        string `json:"dm_event_id"`
			} `json:"data"`
		}
		path := "/2/dm_conversations/with/" + url.PathEscape(to) + "/messages"
		if _, err := n.api.do(ctx, "dm", http.MethodPost, path, nil, map[string]string{"text": r.Text}, &resp); err != nil {
			return bridge.PostRef{}, classify(op, err)
		}
		if resp.Data.EventID == "" {
			return bridge.PostRef{}, &bridge.PublishError{Op: "x: " + op, MaybeSent: true, Reason: "X answered without a message id", Err: errors.New("no dm_event_id")}
		}
		return bridge.PostRef{Network: Name, ID: resp.Data.EventID, URL: "https://x.com/messages/" + resp.Data.ConversationID}, nil
	}
	if r.InReplyTo == "" && !r.Broadcast {
		return bridge.PostRef{}, perm("a public reply needs the post it answers")
	}
	body := map[string]any{"text": r.Text}
	if r.InReplyTo != "" {
		body["reply"] = map[string]string{"in_reply_to_tweet_id": r.InReplyTo}
	}
	var resp struct {
		Data struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"data"`
	}
	if _, err := n.api.do(ctx, "publish", http.MethodPost, "/2/tweets", nil, body, &resp); err != nil {
		return bridge.PostRef{}, classify(op, err)
	}
	if resp.Data.ID == "" {
		return bridge.PostRef{}, &bridge.PublishError{Op: "x: " + op, MaybeSent: true, Reason: "X answered without a post id", Err: errors.New("no id")}
	}
	n.mu.Lock()
	n.seen.add(resp.Data.ID) // our own reply never comes back as a complaint
	n.mu.Unlock()
	return bridge.PostRef{Network: Name, ID: resp.Data.ID, URL: "https://x.com/" + me.Username + "/status/" + resp.Data.ID}, nil
}

// classify turns a client error into what the outbox needs to know.
func classify(op string, err error) error {
	op = "x: " + op
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return &bridge.PublishError{Op: op, Retryable: true, Err: err}
		}
		return &bridge.PublishError{Op: op, Retryable: true, MaybeSent: true, Err: err}
	}
	pe := &bridge.PublishError{Op: op, Err: err}
	// Only the post itself (a tweet, a DM) can have gone out; a failed
	// look-up before it (users/me, a token refresh) published nothing.
	posting := ae.Op == "publish" || ae.Op == "dm"
	switch {
	case ae.rateLimited():
		// A 429, or held back before sending because X said the window
		// was used up: nothing was posted, so a retry after the reset is safe.
		pe.Retryable = true
		pe.RetryAfter = ae.Wait
		pe.Reason = "X is rate limiting us"
	case ae.Status == 0:
		// No answer. Written in full means X may have posted it: never
		// retried automatically (X is not Idempotent); the thread shows it as uncertain.
		pe.Retryable = true
		pe.MaybeSent = ae.Sent && posting
		if pe.MaybeSent {
			pe.Reason = "X did not answer after the post was sent; it may have been published"
		} else {
			pe.Reason = "X could not be reached"
		}
	case posting && (ae.Status == 500 || ae.Status == 502 || ae.Status == 504):
		// The request reached X (or its gateway), which failed while
		// handling it: the post may exist. Posts cost money and X has no
		// idempotency key, so this is not retried by itself; staff check.
		pe.Retryable, pe.MaybeSent = true, true
		pe.Reason = fmt.Sprintf("X failed while taking the post (HTTP %d); it may have been published", ae.Status)
	case ae.Status >= 500:
		pe.Retryable = true
		pe.Reason = fmt.Sprintf("X failed (HTTP %d)", ae.Status)
	case ae.Status == 401:
		pe.Reason = "X refused our credentials (HTTP 401); check the X token in the config"
	case ae.Status == 403 && strings.Contains(strings.ToLower(ae.Detail), "duplicate"):
		pe.Reason = "X refuses to post the same text twice; change the wording"
	case ae.Status == 403:
		pe.Reason = "X does not allow this post (HTTP 403)" + detail(ae)
	default:
		pe.Reason = fmt.Sprintf("X refused the post (HTTP %d)%s", ae.Status, detail(ae))
	}
	return pe
}

func detail(ae *apiError) string {
	d := ae.Detail
	if d == "" || d == ae.Title {
		d = ae.Title
	}
	if d == "" {
		return ""
	}
	if r := []rune(d); len(r) > 200 {
		d = string(r[:200]) + "…"
	}
	return ": " + redact(d, ae.secrets)
}
