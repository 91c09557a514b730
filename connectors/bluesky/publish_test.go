package bluesky

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
)

// replyTo makes a mention by the customer and returns the reply to
// publish for it.
func replyTo(t *testing.T, fx *fixture, key, text string) bridge.Reply {
	t.Helper()
	p, err := fx.fake.Post(fx.ana.DID, "@"+blueskyfake.OurHandle+" my router is dead", "")
	if err != nil {
		t.Fatal(err)
	}
	return bridge.Reply{Case: "E-1", Network: Name, InReplyTo: p.URI, InRef: map[string]string{"uri": p.URI, "cid": p.CID},
		To: bridge.Author{ID: fx.ana.DID, Handle: fx.ana.Handle}, Text: text, IdempotencyKey: key}
}

// published counts our posts with text.
func published(fx *fixture, text string) []blueskyfake.Post {
	var out []blueskyfake.Post
	for _, p := range fx.fake.Published() {
		if p.Record.Text == text {
			out = append(out, p)
		}
	}
	return out
}

// The PDS stores the reply and the answer is lost (a 502 or 503, or no
// answer before the deadline), and a taken rkey is refused the way a newer
// PDS does or with the reference PDS's bare 500: the attempt either finds
// the record at once or fails retryably, the retry finds it and publishes
// nothing more, and every attempt returns the same PostRef.
func TestLostAnswerRetriedPublishesOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status int // the lost answer; 0: none
		dup    int // how the PDS refuses the taken rkey
	}{
		{"502 then exists", 502, 400},
		{"502 then bare 500", 502, 500},
		{"503 then exists", 503, 400},
		{"no answer then exists", 0, 400},
		{"no answer then bare 500", 0, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, Config{})
			if c.dup == 500 {
				fx.fake.SetDuplicateAnswer(500, "InternalServerError")
			}
			text := "We see the outage in your area; engineers are on it."
			r := replyTo(t, fx, "earshot-lost-"+c.name, text)
			fx.fake.LoseNext(c.status, 1)
			ctx := context.Background()
			if c.status == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			// An HTTP error is resolved within the attempt (the record is
			// read back); no answer at all leaves it to the next attempt.
			first, ferr := fx.net.Publish(ctx, r)
			var pe *bridge.PublishError
			if ferr != nil && (!errors.As(ferr, &pe) || !pe.Retryable) {
				t.Fatalf("lost answer: %v; want success or a retryable PublishError", ferr)
			}
			if c.status == 0 && ferr == nil {
				t.Fatal("no answer, yet the attempt says published")
			}
			if n := len(published(fx, text)); n != 1 {
				t.Fatalf("the fake holds %d posts after the lost answer, want the 1 it stored", n)
			}
			a, err := fx.net.Publish(context.Background(), r)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			b, err := fx.net.Publish(context.Background(), r)
			if err != nil {
				t.Fatalf("another retry: %v", err)
			}
			posts := published(fx, text)
			if len(posts) != 1 {
				t.Fatalf("%d posts on the timeline after retries, want 1", len(posts))
			}
			if ferr == nil && first != a {
				t.Errorf("first attempt %+v, retry %+v; want the same ref", first, a)
			}
			if a != b || a.ID != posts[0].URI || !strings.HasSuffix(a.URL, "/post/"+posts[0].Rkey) ||
				!strings.HasPrefix(a.URL, "https://bsky.app/profile/"+blueskyfake.OurHandle+"/") {
				t.Errorf("refs %+v and %+v for post %s; want the same, naming it", a, b, posts[0].URI)
			}
			if !validTID(posts[0].Rkey) || posts[0].Rkey != replyRecordKey(r.IdempotencyKey, 0) {
				t.Errorf("rkey %q, want %q", posts[0].Rkey, replyRecordKey(r.IdempotencyKey, 0))
			}
		})
	}
}

// Another post already holds the key derived for a reply: it is left
// alone, and the reply goes to the next derived key, every time.
func TestRecordKeyHeldByAnotherPost(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	r := replyTo(t, fx, "earshot-taken", "Here is the fix.")
	me, err := fx.net.me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := postRecord{Type: "app.bsky.feed.post", Text: "an older post", CreatedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	if err := fx.net.xrpc.call(context.Background(), "createRecord", http.MethodPost, "com.atproto.repo.createRecord", nil,
		map[string]any{"repo": me, "collection": "app.bsky.feed.post", "rkey": replyRecordKey(r.IdempotencyKey, 0), "record": other}, nil, nil); err != nil {
		t.Fatal(err)
	}
	a, err := fx.net.Publish(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.net.Publish(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	posts := published(fx, "Here is the fix.")
	if len(posts) != 1 || a != b || posts[0].Rkey != replyRecordKey(r.IdempotencyKey, 1) {
		t.Errorf("posts %+v, refs %+v %+v; want one post at the second key", posts, a, b)
	}
	if len(published(fx, "an older post")) != 1 {
		t.Error("the other post was changed")
	}
}

// A refusal of the record itself is not retried and looks no further.
func TestRefusedRecordIsNotRetryable(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	r := replyTo(t, fx, "earshot-refused", "hello")
	r.InRef["cid"] = "bafyreiwrong"
	_, err := fx.net.Publish(context.Background(), r)
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Reason, "refused") {
		t.Errorf("bad reply ref: %v; want a permanent refusal", err)
	}
}

func TestIdempotentWithADataDir(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	if !fx.net.Idempotent() {
		t.Error("Idempotent() = false with a data directory")
	}
	n, err := New(Config{Service: fx.fake.URL(), Identifier: "a", AppPassword: "b"}, bridge.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Idempotent() {
		t.Error("Idempotent() = true without a data directory: a crash would forget the DMs under way")
	}
}
