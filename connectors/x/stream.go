package x

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// tweet is a post as API v2 returns it with the fields Earshot asks for.
type tweet struct {
	ID               string `json:"id"`
	Text             string `json:"text"`
	AuthorID         string `json:"author_id"`
	ConversationID   string `json:"conversation_id"`
	InReplyToUserID  string `json:"in_reply_to_user_id"`
	CreatedAt        string `json:"created_at"`
	Lang             string `json:"lang"`
	ReferencedTweets []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"referenced_tweets"`
	Entities struct {
		Mentions []struct {
			Username string `json:"username"`
		} `json:"mentions"`
	} `json:"entities"`
}

// includes carries the expansions (author_id → users).
type includes struct {
	Users []user `json:"users"`
}

// streamMsg is one line of the filtered stream.
type streamMsg struct {
	Data          *tweet   `json:"data"`
	Includes      includes `json:"includes"`
	MatchingRules []struct {
		ID  string `json:"id"`
		Tag string `json:"tag"`
	} `json:"matching_rules"`
	Errors []struct {
		Title          string `json:"title"`
		Detail         string `json:"detail"`
		DisconnectType string `json:"disconnect_type"`
		Type           string `json:"type"`
	} `json:"errors"`
}

// maxLine bounds one stream line; X's tweets with expansions are a few KB.
const maxLine = 1 << 20

// errDisconnect is a stream line announcing that X closes the connection.
var errDisconnect = errors.New("x: stream: X announced a disconnect")

// decodeLine reads one stream line (without its newline). keepAlive is true
// for the blank lines X sends every 20 seconds. Pure; fuzzed.
func decodeLine(line []byte) (msg streamMsg, keepAlive bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return msg, true, nil
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		return msg, false, fmt.Errorf("x: stream: undecodable line: %w", err)
	}
	if msg.Data == nil {
		if len(msg.Errors) > 0 {
			e := msg.Errors[0]
			return msg, false, fmt.Errorf("%w: %s %s %s", errDisconnect, e.Title, e.DisconnectType, e.Detail)
		}
		return msg, false, errors.New("x: stream: a line with neither data nor errors")
	}
	if msg.Data.ID == "" {
		return msg, false, errors.New("x: stream: a tweet without id")
	}
	return msg, false, nil
}

// streamReader splits the stream body into lines. Not safe for concurrent use.
type streamReader struct {
	r *bufio.Reader
}

func newStreamReader(r io.Reader) *streamReader {
	return &streamReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its line ending; it blocks on the body.
func (s *streamReader) next() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, errors.New("x: stream: a line longer than 1 MiB")
		}
		if err == nil {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 && errors.Is(err, io.EOF) {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		return nil, err
	}
}
