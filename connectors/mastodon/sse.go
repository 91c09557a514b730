package mastodon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// sseEvent is one Server-Sent Event: its name and data lines joined by "\n".
type sseEvent struct {
	Event string
	Data  string
}

// maxSSELine bounds one line of a stream; longer lines end the stream with an error.
const maxSSELine = 1 << 20

// sseReader decodes a text/event-stream. It blocks in Next on the underlying
// reader (the HTTP body); comments (":thump") and unknown fields are skipped.
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSSELine)
	return &sseReader{sc: sc}
}

// Next returns the next complete event, or io.EOF when the stream ended
// cleanly between events (an event cut off mid-way is dropped, not delivered).
func (s *sseReader) Next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	has := false
	for s.sc.Scan() {
		line := strings.TrimSuffix(s.sc.Text(), "\r")
		if line == "" {
			if has {
				ev.Data = strings.Join(data, "\n")
				if ev.Event == "" {
					ev.Event = "message"
				}
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
			has = true
		case "data":
			data = append(data, value)
			has = true
		}
	}
	if err := s.sc.Err(); err != nil {
		return sseEvent{}, fmt.Errorf("read stream: %w", err)
	}
	return sseEvent{}, io.EOF
}

// wsMessage is one WebSocket streaming message: the payload is a JSON
// document encoded as a string.
type wsMessage struct {
	Stream  []string `json:"stream"`
	Event   string   `json:"event"`
	Payload string   `json:"payload"`
}

// decodeWSMessage turns a WebSocket frame into the same shape as an SSE event.
func decodeWSMessage(b []byte) (sseEvent, error) {
	var m wsMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return sseEvent{}, fmt.Errorf("decode stream message: %w", err)
	}
	if m.Event == "" {
		return sseEvent{}, errors.New("decode stream message: no event")
	}
	return sseEvent{Event: m.Event, Data: m.Payload}, nil
}
