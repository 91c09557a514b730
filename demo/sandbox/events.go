package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

// writeTimeout bounds one write to a live-update stream: a client that
// stops reading loses its stream instead of holding a goroutine.
const writeTimeout = 10 * time.Second

// events streams the world's changes as Server-Sent Events:
//
//	event: change
//	data: {"public":["mastodon"],"channels":["slack/C01CARE"],"notices":true}
//
// The page refetches what it shows. A stream starts with a "hello" event
// (refetch everything: changes may have been missed while disconnected),
// sends a comment every Heartbeat, coalesces changes to one event per
// Coalesce, and ends after StreamLife, when the client goes, or at
// Shutdown. At most MaxStreams run at once; more get a 503.
func (s *Sandbox) events(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		fail(w, http.StatusServiceUnavailable, "the demo is stopping")
		return
	}
	if n := s.streams.Add(1); n > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("too many live pages open (at most %d)", s.opts.MaxStreams))
		return
	}
	s.active.Add(1)
	defer func() { s.streams.Add(-1); s.active.Done() }()

	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StreamLife)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Shutdown ends the stream
	defer stop()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	watch := s.w.Watch()
	defer watch.Stop()
	changes := make(chan demo.Changes)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, ok := watch.Next(ctx)
			if !ok {
				return
			}
			select {
			case changes <- c:
			case <-ctx.Done():
				return
			}
			select { // let more changes pile up: one event per Coalesce at most
			case <-time.After(s.opts.Coalesce):
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()

	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: %d\nevent: hello\ndata: {}\n\n", retryAfter.Milliseconds()) {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case c := <-changes:
			data, _ := json.Marshal(c)
			if !write("event: change\ndata: %s\n\n", data) {
				return
			}
		}
	}
}
