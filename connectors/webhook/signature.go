package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the signing scheme, in both directions (inbound posts and
// outbound replies). See README.md.
const (
	// HeaderTimestamp carries the signing time in Unix seconds.
	HeaderTimestamp = "X-Earshot-Timestamp"
	// HeaderSignature carries "v1=" + hex(HMAC-SHA256(secret, "v1:" + source + ":" + timestamp + ":" + body)),
	// or, from sources allowed the old scheme, "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Earshot-Signature"
	// HeaderIdempotencyKey is set on outbound replies; stable across retries of one reply.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSource names the source an outbound reply belongs to.
	HeaderSource = "X-Earshot-Source"
)

// Signature scheme prefixes of HeaderSignature.
const (
	schemeV1     = "v1="
	schemeLegacy = "sha256="
)

// Sign returns the v1 signature header value of body sent for source (the
// {source} name of /webhook/{source}) at ts. The signed string binds the
// source, so a body signed for one source is refused on another even when
// both share a secret. Pure.
func Sign(secret, source string, ts time.Time, body []byte) string {
	return signV1(secret, source, strconv.FormatInt(ts.Unix(), 10), body)
}

func signV1(secret, source, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v1:" + source + ":" + ts + ":"))
	mac.Write(body)
	return schemeV1 + hex.EncodeToString(mac.Sum(nil))
}

// SignLegacy returns the old scheme's header value ("sha256=", over
// timestamp + "." + body, not bound to any source), for sources configured
// with legacy_signatures while they move to v1. Pure.
func SignLegacy(secret string, ts time.Time, body []byte) string {
	return signLegacy(secret, strconv.FormatInt(ts.Unix(), 10), body)
}

func signLegacy(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return schemeLegacy + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify; none of them carries the secret or the expected signature.
var (
	ErrNoSignature  = errors.New("missing " + HeaderSignature + " or " + HeaderTimestamp + " header")
	ErrBadTimestamp = errors.New(HeaderTimestamp + " is not Unix seconds")
	ErrStale        = errors.New("timestamp outside the replay window")
	ErrBadSignature = errors.New("signature does not match")
	ErrLegacy       = errors.New("the old signature scheme (sha256=, not bound to the source) is refused: sign with v1 (see the webhook README)")
	ErrScheme       = errors.New("unknown signature scheme: want v1=<hex>")
)

// Verifier checks inbound signatures of one source.
type Verifier struct {
	Secret string
	Source string        // the {source} name the request came to
	Window time.Duration // accepted distance of the timestamp from now, both ways
	Legacy bool          // also accept the old sha256= scheme
}

// Verify checks a signature over the raw body: the timestamp must be within
// the window of now and the HMAC must match in constant time. It returns
// the signing time. Pure.
func (v Verifier) Verify(tsHeader, sigHeader string, body []byte, now time.Time) (time.Time, error) {
	tsHeader, sigHeader = strings.TrimSpace(tsHeader), strings.TrimSpace(sigHeader)
	if tsHeader == "" || sigHeader == "" {
		return time.Time{}, ErrNoSignature
	}
	sec, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return time.Time{}, ErrBadTimestamp
	}
	at := time.Unix(sec, 0)
	skew := now.Sub(at)
	if skew < 0 {
		skew = -skew
	}
	if skew > v.Window {
		return time.Time{}, fmt.Errorf("%w (%s off, window %s)", ErrStale, skew.Round(time.Second), v.Window)
	}
	var want string
	switch {
	case strings.HasPrefix(sigHeader, schemeV1):
		want = signV1(v.Secret, v.Source, tsHeader, body)
	case strings.HasPrefix(sigHeader, schemeLegacy):
		if !v.Legacy {
			return time.Time{}, ErrLegacy
		}
		want = signLegacy(v.Secret, tsHeader, body)
	default:
		return time.Time{}, ErrScheme
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sigHeader))) {
		return time.Time{}, ErrBadSignature
	}
	return at, nil
}
