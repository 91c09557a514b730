package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

type nopInbox struct{}

func (nopInbox) Post(context.Context, bridge.Post) error                 { return nil }
func (nopInbox) StaffMessage(context.Context, bridge.StaffMessage) error { return nil }
func (nopInbox) Command(context.Context, bridge.Invocation) bridge.Response {
	return bridge.Response{}
}

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
	now := time.Unix(1_800_000_000, 0)
	n, err := New(Config{Secret: "s", MaxBody: 512}, bridge.Deps{Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	n.inbox = nopInbox{}
	h := n.Routes()["POST /webhook/{source}"]
	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
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
	n.inbox = nopInbox{}
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
