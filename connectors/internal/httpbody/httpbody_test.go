package httpbody

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const deadline = 200 * time.Millisecond

// serve runs a handler that reads its body with Read under a read
// deadline set the way main's listener sets it, then reports whether its
// context outlived the deadline by far.
func serve(t *testing.T, limit int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(deadline))
		body, err := Read(w, r, limit)
		if err != nil {
			http.Error(w, err.Error(), Status(err))
			return
		}
		select {
		case <-r.Context().Done():
			io.WriteString(w, "context cancelled")
		case <-time.After(4 * deadline):
			fmt.Fprintf(w, "read %d bytes, context alive", len(body))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// raw sends req on a fresh connection and returns the status line and the body.
func raw(t *testing.T, addr, req string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.Status, strings.TrimSpace(string(b))
}

func TestRead(t *testing.T) {
	t.Parallel()
	addr := serve(t, 64)
	cases := []struct {
		name, req, status, body string
	}{
		{"whole body; the handler keeps its context past the deadline",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "200 OK", "read 5 bytes, context alive"},
		{"declared length over the limit, refused before any body is sent",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n", "413 Request Entity Too Large", "request body larger than 64 bytes"},
		{"declared length over the limit but under net/http's discard size",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "413 Request Entity Too Large", "request body larger than 64 bytes"},
		{"chunked body over the limit",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + strings.Repeat("x", 80) + "\r\n0\r\n\r\n", "413 Request Entity Too Large", "request body larger than 64 bytes"},
		{"body that stalls",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n0123456789", "408 Request Timeout", "the request body did not arrive in time"},
		{"body cut short",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400 Bad Request", "the request body could not be read"},
	}
	for _, c := range cases {
		status, body := raw(t, addr, c.req)
		if status != c.status || body != c.body {
			t.Errorf("%s: %s %q, want %s %q", c.name, status, body, c.status, c.body)
		}
	}
}

// Without a connection (httptest's recorder) Read still reads and bounds.
func TestReadWithoutConnection(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	b, err := Read(rec, httptest.NewRequestWithContext(context.Background(), "POST", "/", strings.NewReader("hi")), 8)
	if err != nil || string(b) != "hi" {
		t.Errorf("Read = %q, %v", b, err)
	}
	_, err = Read(rec, httptest.NewRequestWithContext(context.Background(), "POST", "/", strings.NewReader(strings.Repeat("x", 9))), 8)
	if Status(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("over the limit: %v (status %d)", err, Status(err))
	}
}
