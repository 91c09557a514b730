package replay

import (
	"bytes"
	"net/http"
)

// maxAnswer bounds the body kept of an answer; a longer one is not kept
// (Done with it keeps the key but no answer: replays get 409).
const maxAnswer = 64 << 10

// Answer is an HTTP answer as a replay gets it again.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Write sends the answer to w.
func (a Answer) Write(w http.ResponseWriter) {
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	w.Header().Set("X-Earshot-Replay", "the same request was answered before; this is its answer again")
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// Recorder is an http.ResponseWriter that passes everything through to the
// wrapped writer and keeps a copy of the answer.
type Recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	over   bool
}

// NewRecorder records what is written to w.
func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader records and sends the status.
func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records and sends body bytes.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) <= maxAnswer {
		r.body.Write(b)
	} else {
		r.over = true
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Answer is what was written (status 200 when the handler wrote nothing),
// and whether it was kept whole.
func (r *Recorder) Answer() (Answer, bool) {
	st := r.status
	if st == 0 {
		st = http.StatusOK
	}
	return Answer{Status: st, ContentType: r.Header().Get("Content-Type"), Body: bytes.Clone(r.body.Bytes())}, !r.over
}

// Replayed answers a replay: the first request's answer when there is
// one, else 409 (the first is still being answered, or ended without an
// answer). Never a wait.
func (t *Ticket) Replayed(w http.ResponseWriter) {
	if a, ok := t.Answer(); ok {
		a.Write(w)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusConflict)
	_, _ = w.Write([]byte("the same signed request is being answered already\n"))
}
