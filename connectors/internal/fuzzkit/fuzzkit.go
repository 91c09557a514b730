// Package fuzzkit is what the connectors' fuzz targets of platform replies
// share: a Recorder that sits between a real connector and its platform
// fake and keeps every answer (the captured seeds), and a Replier that
// answers a connector under fuzz, route by route, with whatever the fuzzer
// chose for one route and captured answers for the others.
//
// Both are HTTP servers on 127.0.0.1 that stop when the test ends. For
// tests only.
package fuzzkit

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/earshot-dev/earshot/bridge"
)

// Exchange is one request a connector made and the answer it got.
type Exchange struct {
	Method string
	Path   string // without the query
	Status int
	Header http.Header
	Body   []byte
}

// Recorder is a reverse proxy to a fake that keeps every exchange.
type Recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	ex  []Exchange
}

// NewRecorder proxies to target (a fake's base URL) until tb ends.
// Answers are read whole, so it is not for streams.
func NewRecorder(tb testing.TB, target string) *Recorder {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.ex = append(r.ex, Exchange{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode,
			Header: resp.Header.Clone(), Body: b})
		r.mu.Unlock()
		return nil
	}
	r.srv = httptest.NewServer(proxy)
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the proxy's base URL, to give the connector instead of the fake's.
func (r *Recorder) URL() string { return r.srv.URL }

// Exchanges returns what was recorded so far, oldest first.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.ex...)
}

// Reply is an answer a Replier gives.
type Reply struct {
	Status int // 0 answers 200
	Header http.Header
	Body   []byte
}

// Replier answers each request with the reply of the route (a ServeMux
// pattern, "POST /2/tweets") it matches, and 404 for any other. Header
// values net/http cannot send are left out.
type Replier struct {
	srv      *httptest.Server
	mux      *http.ServeMux
	patterns []string
	mu       sync.Mutex
	replies  map[string]Reply
	hits     map[string]int
}

// NewReplier serves routes, each with its first reply, until tb ends.
func NewReplier(tb testing.TB, routes map[string]Reply) *Replier {
	tb.Helper()
	r := &Replier{mux: http.NewServeMux(), replies: map[string]Reply{}, hits: map[string]int{}}
	for p, rep := range routes {
		r.patterns = append(r.patterns, p)
		r.replies[p] = rep
		r.mux.HandleFunc(p, func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.Copy(io.Discard, req.Body)
			r.mu.Lock()
			rep := r.replies[p]
			r.hits[p]++
			r.mu.Unlock()
			for k, vs := range rep.Header {
				for _, v := range vs {
					if sendable(v) {
						w.Header().Add(k, v)
					}
				}
			}
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
			st := rep.Status
			if st == 0 {
				st = http.StatusOK
			}
			w.WriteHeader(st)
			_, _ = w.Write(rep.Body)
		})
	}
	r.srv = httptest.NewServer(r.mux)
	tb.Cleanup(r.srv.Close)
	return r
}

// sendable reports whether net/http can send v as a header value (it
// fails the whole answer otherwise, which would test the transport, not
// the connector): no control characters but tab.
func sendable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// URL is the replier's base URL.
func (r *Replier) URL() string { return r.srv.URL }

// Set makes route answer rep from now on.
func (r *Replier) Set(route string, rep Reply) {
	r.mu.Lock()
	r.replies[route] = rep
	r.mu.Unlock()
}

// Hits reports how many requests route has answered.
func (r *Replier) Hits(route string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[route]
}

// Route is the pattern among the replier's routes that method and path
// match, or "".
func (r *Replier) Route(method, path string) string {
	req, err := http.NewRequest(method, "http://x"+path, nil)
	if err != nil {
		return ""
	}
	_, p := r.mux.Handler(req)
	return p
}

// Status bounds a fuzzed status to what net/http can send (100-999 are
// accepted by WriteHeader; below 200 are informational and not answers).
func Status(s uint16) int {
	return 200 + int(s)%400
}

// Run is what a real run of a connector against its fake left for a fuzz
// target: every exchange, the route of each, the first good answer of each
// route (a Replier's defaults), and the data directory it wrote.
type Run struct {
	Exchanges []Exchange
	Routes    []int // index in the routes of each exchange; -1 for none
	Defaults  map[string]Reply
	Dir       string
}

// Run classifies what the recorder saw (see Classify) for routes.
func (r *Recorder) Run(tb testing.TB, routes []string, dir string) Run {
	tb.Helper()
	ex := r.Exchanges()
	idx, defaults := Classify(tb, routes, ex)
	return Run{Exchanges: ex, Routes: idx, Defaults: defaults, Dir: dir}
}

// CheckPublished fails t unless each publication (refs[i], errs[i])
// either has an id or failed with a *bridge.PublishError, the only error
// the outbox knows how to judge.
func CheckPublished(t testing.TB, refs []bridge.PostRef, errs []error) {
	t.Helper()
	for i, err := range errs {
		var pe *bridge.PublishError
		switch {
		case err == nil && (i >= len(refs) || refs[i].ID == ""):
			t.Fatalf("published without an id (publication %d)", i)
		case err != nil && !errors.As(err, &pe):
			t.Fatalf("publish error %T is not a *bridge.PublishError: %v", err, err)
		}
	}
}

// Classify maps each exchange to the index in routes (ServeMux patterns)
// of the route it matches, -1 for none, and returns the first 2xx answer
// of each route: a Replier's defaults. It fails tb when a route got no 2xx
// answer (the real run did not cover it).
func Classify(tb testing.TB, routes []string, ex []Exchange) (idx []int, defaults map[string]Reply) {
	tb.Helper()
	mux := http.NewServeMux()
	index := map[string]int{}
	for i, r := range routes {
		index[r] = i
		mux.HandleFunc(r, func(http.ResponseWriter, *http.Request) {})
	}
	defaults = map[string]Reply{}
	for _, e := range ex {
		req, err := http.NewRequest(e.Method, "http://x"+e.Path, nil)
		i, route := -1, ""
		if err == nil {
			_, route = mux.Handler(req)
			if j, ok := index[route]; ok {
				i = j
			}
		}
		idx = append(idx, i)
		if _, ok := defaults[route]; i >= 0 && !ok && e.Status/100 == 2 {
			h := http.Header{}
			if ct := e.Header.Get("Content-Type"); ct != "" {
				h.Set("Content-Type", ct)
			}
			defaults[route] = Reply{Status: e.Status, Header: h, Body: e.Body}
		}
	}
	for _, r := range routes {
		if _, ok := defaults[r]; !ok {
			tb.Fatalf("fuzzkit: the real run got no good answer on %s", r)
		}
	}
	return idx, defaults
}
