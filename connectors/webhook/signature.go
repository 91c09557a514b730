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
	// HeaderSignature carries "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Earshot-Signature"
	// HeaderIdempotencyKey is set on outbound replies; stable across retries of one reply.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSource names the source an outbound reply belongs to.
	HeaderSource = "X-Earshot-Source"
)

// Sign returns the signature header value for body signed at ts. Pure.
func Sign(secret string, ts time.Time, body []byte) string {
	return signString(secret, strconv.FormatInt(ts.Unix(), 10), body)
}

func signString(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify; none of them carries the secret or the expected signature.
var (
	ErrNoSignature  = errors.New("missing " + HeaderSignature + " or " + HeaderTimestamp + " header")
	ErrBadTimestamp = errors.New(HeaderTimestamp + " is not Unix seconds")
	ErrStale        = errors.New("timestamp outside the replay window")
	ErrBadSignature = errors.New("signature does not match")
)

// Verify checks a signature over the raw body: the timestamp must be within
// window of now (both ways) and the HMAC must match in constant time. Pure.
func Verify(secret, tsHeader, sigHeader string, body []byte, now time.Time, window time.Duration) error {
	if tsHeader == "" || sigHeader == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(tsHeader), 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew < 0 {
		skew = -skew
	}
	if skew > window {
		return fmt.Errorf("%w (%s off, window %s)", ErrStale, skew.Round(time.Second), window)
	}
	want := signString(secret, strings.TrimSpace(tsHeader), body)
	if !hmac.Equal([]byte(want), []byte(strings.TrimSpace(sigHeader))) {
		return ErrBadSignature
	}
	return nil
}
