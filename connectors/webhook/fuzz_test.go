package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/internal/fuzzkit"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

var seeds = []string{
	`{"id":"1","author":{"id":"a","handle":"ana"},"text":"hi"}`,
	`{"id":"2","author":{"id":"a","followers":3},"text":"x","in_reply_to":"1","conversation":"1","created_at":"2026-01-02T03:04:05Z"}`,
	`{"id":1}`, `[]`, `null`, `{"id":"1","author":{"id":"a"},"text":"x"}{}`, `{"author":{"followers":1e99}}`,
	"{\"id\":\"\xff\",\"author\":{\"id\":\"a\"},\"text\":\"x\"}",
}

// FuzzParseInbound: any body either parses into a post with the required
// fields or fails with a field error; never a panic.
func FuzzParseInbound(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		in, at, err := parseInbound(body, now)
		if err != nil {
			if _, ok := err.(*fieldError); !ok {
				t.Fatalf("error %T is not a field error", err)
			}
			return
		}
		if in.ID == "" || in.Author.ID == "" || in.Text == "" || at.IsZero() {
			t.Fatalf("accepted a post lacking required fields: %+v", in)
		}
	})
}

// FuzzHandler: the whole route, signed or not, answers only documented statuses.
func FuzzHandler(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	// Each request a minute after the last: the same body twice in a row
	// is still a replay, and the replay memory stays flat.
	var clock atomic.Int64
	clock.Store(1_800_000_000)
	n, err := New(Config{Secret: "s", MaxBody: 512}, bridge.Deps{Now: func() time.Time { return time.Unix(clock.Load(), 0) },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	n.inbox = connectortest.NopInbox{}
	h := n.Routes()["POST /webhook/{source}"]
	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
		now := time.Unix(clock.Add(60), 0)
		req := httptest.NewRequest(http.MethodPost, "/webhook/reviews", bytes.NewReader(body))
		req.SetPathValue("source", "reviews")
		if sign {
			ts := strconv.FormatInt(now.Unix(), 10)
			req.Header.Set(HeaderTimestamp, ts)
			req.Header.Set(HeaderSignature, Sign("s", "reviews", now, body))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 413:
			if !sign && w.Code != 413 {
				t.Fatalf("unsigned body answered %d", w.Code)
			}
		case 401:
			if sign {
				t.Fatalf("signed body answered 401: %s", w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

// BenchmarkInbound measures the whole inbound route: bound, verify, parse, deliver.
func BenchmarkInbound(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	n, err := New(Config{Secret: "s"}, bridge.Deps{Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	n.inbox = connectortest.NopInbox{}
	h := n.Routes()["POST /webhook/{source}"]
	ts := strconv.FormatInt(now.Unix(), 10)
	i := 0
	for b.Loop() {
		i++
		body := []byte(`{"id":"` + strconv.Itoa(i) + `","author":{"id":"u1","handle":"ana","followers":3},"text":"two weeks and still no refund","lang":"en","created_at":"2026-11-23T10:00:00Z"}`)
		req := httptest.NewRequest(http.MethodPost, "/webhook/reviews", bytes.NewReader(body))
		req.SetPathValue("source", "reviews")
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign("s", "reviews", now, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// FuzzReceipt: whatever a source's reply receiver answers (status, body,
// Retry-After), Publish ends with a reference that has an id or with a
// *bridge.PublishError that is retryable exactly for 408, 409, 429 and
// 5xx, carries no secret of the reply URL, and quotes at most 200
// characters of the receiver's error. Seeded with webhookfake's answers to
// a real run: a reply, a DM, the same key again, an injected failure, a
// bad signature.
func FuzzReceipt(f *testing.F) {
	site := webhookfake.New(webhookfake.Options{Secret: "s"})
	f.Cleanup(site.Close)
	rec := fuzzkit.NewRecorder(f, strings.TrimSuffix(site.ReplyURL(), "/replies"))
	ctx := context.Background()
	deps := bridge.Deps{Logger: slog.New(slog.DiscardHandler)}
	n, err := New(Config{Secret: "s", ReplyURL: rec.URL() + "/replies?token=url-token-55", RequestTimeout: 5 * time.Second}, deps)
	if err != nil {
		f.Fatal(err)
	}
	reply := bridge.Reply{Case: "E-1", Network: Name, InReplyTo: "reviews/r-1", InRef: map[string]string{"source": "reviews"},
		To: bridge.Author{ID: "reviews/u-7", Handle: "ana"}, Text: "Sorry, Ana!", IdempotencyKey: "k-1"}
	_, _ = n.Publish(ctx, reply)
	_, _ = n.Publish(ctx, reply) // the same key: the receiver answers the first result
	dm := reply
	dm.Private, dm.IdempotencyKey = true, "k-2"
	_, _ = n.Publish(ctx, dm)
	site.FailNext(http.StatusTooManyRequests, 1, 2*time.Second)
	reply.IdempotencyKey = "k-3"
	_, _ = n.Publish(ctx, reply)
	other, _ := New(Config{Secret: "not-the-secret", ReplyURL: rec.URL() + "/replies", RequestTimeout: 5 * time.Second}, deps)
	_, _ = other.Publish(ctx, reply)
	for _, ex := range rec.Exchanges() {
		f.Add(uint16(ex.Status-200), ex.Body, ex.Header.Get("Retry-After"))
	}
	f.Add(uint16(100), []byte(`{"error":"`+strings.Repeat("é", 300)+`"}`), "Mon, 02 Jan 2006 15:04:05 GMT")
	replier := fuzzkit.NewReplier(f, map[string]fuzzkit.Reply{"POST /replies": {}})
	n, err = New(Config{Secret: "s", ReplyURL: replier.URL() + "/replies?token=url-token-55", RequestTimeout: 5 * time.Second}, deps)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status uint16, body []byte, retryAfter string) {
		st := fuzzkit.Status(status)
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		replier.Set("POST /replies", fuzzkit.Reply{Status: st, Header: h, Body: body})
		ref, err := n.Publish(ctx, reply)
		if err == nil {
			if st/100 != 2 || ref.ID == "" || !strings.HasPrefix(ref.ID, "reviews/") {
				t.Fatalf("status %d gave ref %+v", st, ref)
			}
			return
		}
		var pe *bridge.PublishError
		if !errors.As(err, &pe) {
			t.Fatalf("error %T is not a *bridge.PublishError: %v", err, err)
		}
		want := st == 408 || st == 409 || st == 429 || st >= 500
		if pe.Retryable != want || pe.RetryAfter < 0 {
			t.Fatalf("status %d: retryable %v (after %v)", st, pe.Retryable, pe.RetryAfter)
		}
		if strings.Contains(err.Error(), "url-token-55") {
			t.Fatalf("the error carries the reply URL's token: %v", err)
		}
		if _, quoted, ok := strings.Cut(pe.Reason, "): "); ok && utf8.RuneCountInString(quoted) > 201 {
			t.Fatalf("the receiver's error quoted at %d characters", utf8.RuneCountInString(quoted))
		}
	})
}
