// Package httpbody reads the body of an inbound webhook request (Slack,
// Discord, generic webhooks) whole, bounded in size and in time, and says
// with which HTTP status to refuse it when it cannot.
//
// The time bound is the connection's read deadline, which the shared
// listener sets for every request before its handler runs (main's
// newServer: headers, then a body deadline per request; net/http lifts it
// once the body is read, so the handler's work after it is not cut). Read
// refuses a declared Content-Length over the route's limit before reading a
// byte, and turns a deadline that passed into 408 and an overlong body
// into 413, closing the connection after the answer.
package httpbody

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// Error is why a body was refused: the status to answer and a message for
// the sender. It never carries the body.
type Error struct {
	Status int    // 400, 408 or 413
	Msg    string // plain text for the sender
	Err    error  // the read error, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Read returns r's body, at most limit bytes. It blocks until the body is
// in, the body ends early, or the connection's read deadline passes; it
// does network I/O. Errors are *Error.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		// Close after the answer: net/http would otherwise read (and
		// wait for) what is left of a body under 256 KiB before answering.
		w.Header().Set("Connection", "close")
		return nil, tooLarge(limit, nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		w.Header().Set("Connection", "close")
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			return nil, tooLarge(limit, err)
		case timedOut(err):
			return nil, &Error{Status: http.StatusRequestTimeout, Msg: "the request body did not arrive in time", Err: err}
		}
		return nil, &Error{Status: http.StatusBadRequest, Msg: "the request body could not be read", Err: err}
	}
	return body, nil
}

func tooLarge(limit int64, err error) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body larger than %d bytes", limit), Err: err}
}

// timedOut reports a read cut by the connection's deadline.
func timedOut(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Status is the status to answer for err: an *Error's, else 400.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusBadRequest
}
