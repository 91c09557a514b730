package sandbox

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

// How long a change takes from a person's action on a fake to the live
// page's event: a customer posts on Mastodon, the stream says so. With
// no coalescing pause, this is the feed's own cost (fake → hub → watcher
// → SSE write → client read).
func BenchmarkLiveUpdate(b *testing.B) {
	w, err := demo.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	sb := New(w, Options{Coalesce: time.Nanosecond})
	defer sb.Shutdown()
	mux := http.NewServeMux()
	for p, h := range sb.Routes() {
		mux.Handle(p, h)
	}
	srv := newLoopbackServer(b, mux)
	resp, err := http.Get(srv + "/api/events")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	next := func() string {
		name := ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) > 7 && line[:7] == "event: " {
				name = line[7 : len(line)-1]
			}
			if line == "\n" && name != "" {
				return name
			}
		}
	}
	if next() != "hello" {
		b.Fatal("no hello")
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := w.Post(b.Context(), demo.Mastodon, "ana", "@earshot delayed again #"+strconv.Itoa(i), demo.PostOptions{}); err != nil {
			b.Fatal(err)
		}
		if next() != "change" {
			b.Fatal("not a change")
		}
	}
}

// newLoopbackServer serves h on 127.0.0.1 until the benchmark ends.
func newLoopbackServer(b *testing.B, h http.Handler) string {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv.URL
}
