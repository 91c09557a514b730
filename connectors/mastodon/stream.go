package mastodon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
	gomastodon "github.com/mattn/go-mastodon"
)

// eventSource yields stream events until the connection ends.
type eventSource interface {
	Next() (sseEvent, error)
	Close()
}

// connect opens one stream over mode (sse or websocket); cancel ends it
// (the caller cancels when done). Both go through our transport, so a 429
// is a *rateLimitError and listening's share of the rate limit holds; a
// refusal is a *gomastodon.APIError with its status.
func (n *Network) connect(ctx context.Context, cancel context.CancelFunc, mode, kind, tag string) (eventSource, error) {
	n.mu.Lock()
	base := n.server.Streaming
	n.mu.Unlock()
	ctx = withOp(ctx, "stream")
	if mode == streamWebSocket {
		q := url.Values{"stream": {kind}}
		if tag != "" {
			q.Set("tag", tag)
		}
		dctx, dcancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer dcancel()
		c, resp, err := websocket.Dial(dctx, base+"/api/v1/streaming?"+q.Encode(), &websocket.DialOptions{
			HTTPClient: n.stream,
			HTTPHeader: http.Header{"Authorization": {"Bearer " + n.cfg.AccessToken}},
		})
		if err != nil {
			if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
				err = &gomastodon.APIError{StatusCode: resp.StatusCode, Message: "WebSocket handshake refused"}
			}
			return nil, fmt.Errorf("mastodon: open %s stream (WebSocket): %w", kind, redact(err, n.cfg.AccessToken))
		}
		c.SetReadLimit(maxSSELine)
		go keepAlive(ctx, cancel, c, n.idle)
		return &wsSource{ctx: ctx, c: c}, nil
	}
	u := "http" + strings.TrimPrefix(base, "ws") + "/api/v1/streaming/" + kind
	if tag != "" {
		u += "?tag=" + url.QueryEscape(tag)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("mastodon: open %s stream (SSE): %w", kind, err)
	}
	req.Header.Set("Authorization", "Bearer "+n.cfg.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	// Bound the wait for the response headers only; the body streams on.
	timer := time.AfterFunc(n.cfg.RequestTimeout, cancel)
	resp, err := n.stream.Do(req)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		return nil, fmt.Errorf("mastodon: open %s stream (SSE): %w", kind, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("mastodon: open %s stream (SSE): %w", kind, apiError(resp))
	}
	body := &idleReader{r: resp.Body, t: time.AfterFunc(n.idle, cancel), idle: n.idle}
	return &sseSource{r: newSSEReader(body), body: resp.Body, t: body.t}, nil
}

// missingStream reports whether err says the server has no such stream
// (404, 405, 501 on the handshake): another transport, or polling, is
// needed rather than another try.
func missingStream(err error) bool {
	var ae *gomastodon.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// pickStream chooses the user stream's transport for Check: the first of
// the configured (or, with auto, the server's) order whose handshake is
// taken, or poll when none is. why says how it was chosen. The streams it
// opens are closed at once.
func (n *Network) pickStream(ctx context.Context, info serverInfo) (mode, why string) {
	var refused []string
	for _, m := range n.streamModes(info) {
		sctx, cancel := context.WithCancel(ctx)
		src, err := n.connect(sctx, cancel, m, "user", "")
		if err == nil {
			src.Close()
			cancel()
			return m, autoWhy(refused)
		}
		cancel()
		if !missingStream(err) {
			return m, "its handshake failed just now: " + err.Error()
		}
		refused = append(refused, streamName(m)+" refused: "+statusOf(err))
	}
	return streamPoll, strings.Join(refused, ", ")
}

// streamModes is the order the user stream's transports are tried in.
func (n *Network) streamModes(info serverInfo) []string {
	switch n.cfg.Stream {
	case streamSSE, streamWebSocket:
		return []string{n.cfg.Stream}
	case streamPoll:
		return nil
	}
	return info.streamOrder()
}

func autoWhy(refused []string) string {
	if len(refused) == 0 {
		return ""
	}
	return strings.Join(refused, ", ")
}

func streamName(mode string) string {
	if mode == streamSSE {
		return "SSE"
	}
	return "WebSocket"
}

func statusOf(err error) string {
	var ae *gomastodon.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("HTTP %d", ae.StatusCode)
	}
	return err.Error()
}

// idleReader ends a stream (through the timer's cancel) when no byte, not
// even a ":thump" keep-alive, arrived for idle: a half-open connection.
type idleReader struct {
	r    io.Reader
	t    *time.Timer
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
	}
	return n, err
}

// keepAlive pings a WebSocket every idle/3 and ends the stream (cancel)
// when a pong does not come back within idle/3: a half-open connection.
func keepAlive(ctx context.Context, cancel context.CancelFunc, c *websocket.Conn, idle time.Duration) {
	t := time.NewTicker(idle / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, idle/3)
		err := c.Ping(pctx)
		pcancel()
		if err != nil {
			cancel()
			return
		}
	}
}

type sseSource struct {
	r    *sseReader
	body io.ReadCloser
	t    *time.Timer
}

func (s *sseSource) Next() (sseEvent, error) { return s.r.Next() }
func (s *sseSource) Close()                  { s.t.Stop(); s.body.Close() }

type wsSource struct {
	ctx context.Context
	c   *websocket.Conn
}

func (s *wsSource) Next() (sseEvent, error) {
	for {
		_, b, err := s.c.Read(s.ctx)
		if err != nil {
			return sseEvent{}, err
		}
		ev, err := decodeWSMessage(b)
		if err != nil {
			continue // one bad frame does not end the stream
		}
		return ev, nil
	}
}
func (s *wsSource) Close() { _ = s.c.CloseNow() }

// redact removes the token from an error's text (a dial error may quote the URL).
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}
