package x

import (
	"bytes"
	"testing"
)

// FuzzDecodeLine: any stream line decodes to a tweet with an id, a
// keep-alive, or an error; never a panic.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		"", "\r", `{"data":{"id":"1","text":"refund &amp; more","author_id":"9"},"includes":{"users":[{"id":"9","username":"ana"}]},"matching_rules":[{"id":"5","tag":"earshot"}]}`,
		`{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect"}]}`,
		`{"data":{}}`, `[1,2]`, `{"data":null}`, "{\"data\":{\"id\":\"\xff\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		msg, ka, err := decodeLine(line)
		if ka && err != nil {
			t.Fatal("keep-alive with an error")
		}
		if !ka && err == nil && (msg.Data == nil || msg.Data.ID == "") {
			t.Fatalf("accepted a line without a tweet id: %q", line)
		}
	})
}

// FuzzStreamReader: whatever the body, lines come back without line endings
// and the reader ends.
func FuzzStreamReader(f *testing.F) {
	f.Add([]byte("\r\n{\"data\":{\"id\":\"1\"}}\r\n\r\n"))
	f.Add([]byte("no newline at all"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := newStreamReader(bytes.NewReader(body))
		for i := 0; ; i++ {
			line, err := r.next()
			if err != nil {
				return
			}
			if bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("line %q keeps its newline", line)
			}
			if i > len(body)+1 {
				t.Fatal("reader does not end")
			}
		}
	})
}
