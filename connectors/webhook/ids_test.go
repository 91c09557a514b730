package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Ids are checked on the raw bytes: JSON decoding would turn invalid UTF-8
// (and unpaired surrogate escapes) into U+FFFD, so "dup\xff" was accepted
// and a different post "dup\xfe" answered "duplicate" and dropped. Now
// each is a 400 naming the field; valid ids, U+FFFD itself and surrogate
// pairs included, are taken as they are, and invalid bytes in the text are
// shown as U+FFFD.
func TestIDsCheckedOnRawBytes(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	in := listen(t, fx)
	ctx := context.Background()
	send := func(body string) (int, string, string) {
		t.Helper()
		res, err := fx.site.Send(ctx, "", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ Status, Error, Field string }
		_ = json.Unmarshal([]byte(res.Body), &a)
		return res.Status, a.Field, a.Status + a.Error
	}
	refused := []struct{ body, field, says string }{
		{"{\"id\":\"dup\xff\",\"author\":{\"id\":\"a\"},\"text\":\"one\"}", "id", "not valid UTF-8"},
		{"{\"id\":\"dup\xfe\",\"author\":{\"id\":\"a\"},\"text\":\"two\"}", "id", "not valid UTF-8"},
		{"{\"id\":\"ok-1\",\"author\":{\"id\":\"a\xc3\"},\"text\":\"x\"}", "author.id", "not valid UTF-8"},
		{"{\"id\":\"ok-2\",\"author\":{\"id\":\"a\"},\"text\":\"x\",\"in_reply_to\":\"p\xed\xa0\x80\"}", "in_reply_to", "not valid UTF-8"},
		{`{"id":"dup\udcff","author":{"id":"a"},"text":"x"}`, "id", "unpaired UTF-16 surrogate"},
		{`{"id":"dup\ud83d","author":{"id":"a"},"text":"x"}`, "id", "unpaired UTF-16 surrogate"},
		{`{"id":"dup\ud83d\u0041","author":{"id":"a"},"text":"x"}`, "id", "unpaired UTF-16 surrogate"},
		{`{"id":"ok-3","author":{"id":"a"},"text":"x","conversation":"c\udc00"}`, "conversation", "unpaired UTF-16 surrogate"},
		{`{"ID":"dup\udcfe","author":{"id":"a"},"text":"x"}`, "id", "unpaired UTF-16 surrogate"}, // keys match case-insensitively
		{`{"id":"line\nbreak","author":{"id":"a"},"text":"x"}`, "id", "control character"},
	}
	for _, c := range refused {
		status, field, says := send(c.body)
		if status != http.StatusBadRequest || field != c.field || !strings.Contains(says, c.says) {
			t.Errorf("%q: %d field=%q %q, want 400 naming %s: %s", c.body, status, field, says, c.field, c.says)
		}
	}
	if n := len(in.Posts()); n != 0 {
		t.Fatalf("%d posts taken from refused bodies", n)
	}
	accepted := []struct{ body, id string }{
		{`{"id":"r\ufffd","author":{"id":"a"},"text":"x"}`, "reviews/r\ufffd"},
		{`{"id":"r\ud83d\ude00","author":{"id":"a"},"text":"x"}`, "reviews/r😀"},
		{"{\"id\":\"r-text\",\"author\":{\"id\":\"a\"},\"text\":\"caf\xe9\"}", "reviews/r-text"},
	}
	for _, c := range accepted {
		if status, _, says := send(c.body); status != http.StatusOK || !strings.Contains(says, "accepted") {
			t.Errorf("%q: %d %q, want accepted", c.body, status, says)
		}
	}
	posts := in.Posts()
	if len(posts) != len(accepted) {
		t.Fatalf("%d posts taken, want %d", len(posts), len(accepted))
	}
	for i, c := range accepted {
		if posts[i].ID != c.id {
			t.Errorf("post %d id %q, want %q", i, posts[i].ID, c.id)
		}
	}
	if posts[2].Text != "caf\ufffd" {
		t.Errorf("text with an invalid byte: %q, want it shown as U+FFFD", posts[2].Text)
	}
}
