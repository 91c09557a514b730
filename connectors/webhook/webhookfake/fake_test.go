package webhookfake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A site forwarding a backlog sends the post's own time as created_at,
// signed like any post; the timeline keeps that time.
func TestPostAtAnEarlierTime(t *testing.T) {
	var got struct {
		CreatedAt string `json:"created_at"`
	}
	var sigOK bool
	site := New(Options{Secret: "s3cret"})
	defer site.Close()
	earshot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sigOK = r.Header.Get("X-Earshot-Signature") == Sign("s3cret", "reviews", r.Header.Get("X-Earshot-Timestamp"), body)
		_ = json.Unmarshal(body, &got)
	}))
	defer earshot.Close()
	site.SetTarget(earshot.URL)

	at := time.Date(2026, 11, 30, 22, 10, 0, 0, time.UTC)
	p, res, err := site.Post(context.Background(), Author{ID: "u1"}, "Written last night", PostOptions{At: at})
	if err != nil || res.Status != 200 {
		t.Fatalf("post: %v %+v", err, res)
	}
	if got.CreatedAt != "2026-11-30T22:10:00Z" || !sigOK {
		t.Errorf("sent created_at %q (signature ok: %v)", got.CreatedAt, sigOK)
	}
	if !p.At.Equal(at) || !site.Timeline()[0].At.Equal(at) {
		t.Errorf("post at %v, timeline at %v", p.At, site.Timeline()[0].At)
	}
}
