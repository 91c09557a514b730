package fuzzkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRecorder(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Rate", "9")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer fake.Close()
	rec := NewRecorder(t, fake.URL)
	if st, body := get(t, "POST", rec.URL()+"/api/x?q=1"); st != http.StatusCreated || body != `{"id":"1"}` {
		t.Fatalf("through the recorder: %d %q", st, body)
	}
	ex := rec.Exchanges()
	if len(ex) != 1 || ex[0].Method != "POST" || ex[0].Path != "/api/x" || ex[0].Status != 201 || string(ex[0].Body) != `{"id":"1"}` || ex[0].Header.Get("X-Rate") != "9" {
		t.Errorf("recorded %+v", ex)
	}
}

func TestReplier(t *testing.T) {
	r := NewReplier(t, map[string]Reply{"POST /a/{id}": {Body: []byte("first")}, "GET /b": {Status: 503}})
	if st, body := get(t, "POST", r.URL()+"/a/7"); st != 200 || body != "first" {
		t.Errorf("default reply: %d %q", st, body)
	}
	r.Set("POST /a/{id}", Reply{Status: 418, Body: []byte("fuzzed")})
	if st, body := get(t, "POST", r.URL()+"/a/8"); st != 418 || body != "fuzzed" {
		t.Errorf("set reply: %d %q", st, body)
	}
	if st, _ := get(t, "GET", r.URL()+"/b"); st != 503 {
		t.Errorf("other route: %d", st)
	}
	if st, _ := get(t, "GET", r.URL()+"/c"); st != 404 {
		t.Errorf("unknown route: %d", st)
	}
	if r.Hits("POST /a/{id}") != 2 || r.Route("POST", "/a/9") != "POST /a/{id}" || r.Route("GET", "/nope") != "" {
		t.Errorf("hits %d, route %q", r.Hits("POST /a/{id}"), r.Route("POST", "/a/9"))
	}
	for _, s := range []uint16{0, 399, 400, 65535} {
		if st := Status(s); st < 200 || st > 599 {
			t.Errorf("Status(%d) = %d", s, st)
		}
	}
}
