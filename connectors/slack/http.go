package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/httpbody"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// maxBody bounds every request body Slack sends us.
const maxBody = 1 << 20

// maxSkew is how old (or how far ahead) a signed request may be.
const maxSkew = 5 * time.Minute

// Routes are the HTTP-mode endpoints, for the shared listener: the Events
// API, slash commands and interactivity (set their URLs in the Slack app).
// In socket mode they are still served (Slack may be switched over) but
// only verified requests are ever read.
//
// Replays: Slack signs a timestamp and the body, and accepts five minutes
// of skew, so a captured request verifies again for up to ten minutes.
// Events are deduplicated by event_id; every signed request is also
// remembered by its signed bytes (d.replays, in memory: see package
// replay for why), so the same request sent again is answered as the first
// was (an empty 200, the url_verification challenge) and never runs a
// command or a button press twice. Requests signed before Listen began are
// refused: a restarted process has forgotten what it ran.
func (d *Desk) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /slack/events":      d.verified(d.serveEvents),
		"POST /slack/commands":    d.verified(d.serveCommand),
		"POST /slack/interactive": d.verified(d.serveInteraction),
	}
}

// ErrBadSignature is why a request was refused with 401.
var ErrBadSignature = errors.New("slack: bad request signature")

// VerifySignature checks Slack's v0 signature of body at header timestamp
// ts against secret, and that ts is within five minutes of now. Pure.
func VerifySignature(secret, ts, sig string, body []byte, now time.Time) error {
	if ts == "" || sig == "" {
		return fmt.Errorf("%w: missing headers", ErrBadSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > maxSkew || skew < -maxSkew {
		return fmt.Errorf("%w: timestamp outside the 5-minute window", ErrBadSignature)
	}
	got, err := hex.DecodeString(trimV0(sig))
	if err != nil {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	return nil
}

func trimV0(sig string) string {
	if len(sig) > 3 && sig[:3] == "v0=" {
		return sig[3:]
	}
	return "!" // not hex: refused
}

// verified reads the bounded raw body (under the listener's body
// deadline), checks its signature with the injected clock, refuses a
// replay (see replays), and only then calls next with the body.
func (d *Desk) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := httpbody.Read(w, r, maxBody)
		if err != nil {
			http.Error(w, err.Error(), httpbody.Status(err))
			return
		}
		if d.cfg.SigningSecret == "" {
			http.Error(w, "http mode is not configured", http.StatusUnauthorized)
			return
		}
		ts := r.Header.Get("X-Slack-Request-Timestamp")
		now := d.now()
		if err := VerifySignature(d.cfg.SigningSecret, ts, r.Header.Get("X-Slack-Signature"), body, now); err != nil {
			d.log.Warn("slack: refused an unsigned or badly signed request", "path", r.URL.Path, "err", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if !utf8.Valid(body) {
			http.Error(w, "the request body is not valid UTF-8", http.StatusBadRequest)
			return
		}
		sec, _ := strconv.ParseInt(ts, 10, 64) // VerifySignature read it
		t, v := d.replays.Claim(replay.Key([]byte("v0"), []byte(ts), body), time.Unix(sec, 0), now)
		switch v {
		case replay.BeforeOpen:
			d.log.Warn("slack: refused a request signed before the desk started listening", "path", r.URL.Path)
			http.Error(w, "signed before this server started taking requests: refused, as a replay would be", http.StatusUnauthorized)
			return
		case replay.Replay:
			d.log.Warn("slack: a signed request came again; answered as before, not acted on again", "path", r.URL.Path)
			t.Replayed(w)
			return
		}
		rec := replay.NewRecorder(w)
		next(rec, r, body)
		switch a, whole := rec.Answer(); {
		case a.Status >= 500:
			t.Forget() // not acted on (not listening yet): the same request is welcome again
		case whole:
			t.Done(a)
		}
	})
}

type ctxIn struct {
	ctx context.Context
	in  bridge.Inbox
}

// listening returns the inbox and Listen's context, or ok=false.
func (d *Desk) listening() (ctxIn, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inbox == nil || d.listenCtx == nil {
		return ctxIn{}, false
	}
	return ctxIn{d.listenCtx, d.inbox}, true
}

func (d *Desk) serveEvents(w http.ResponseWriter, _ *http.Request, body []byte) {
	var cb eventCallback
	if err := json.Unmarshal(body, &cb); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	switch cb.Type {
	case "url_verification":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, cb.Challenge)
		return
	case "event_callback":
	default:
		w.WriteHeader(http.StatusOK)
		return
	}
	l, ok := d.listening()
	if !ok {
		// Not ready: Slack retries later.
		http.Error(w, "not listening yet", http.StatusServiceUnavailable)
		return
	}
	if cb.EventID != "" && d.seenEvent(cb.EventID) {
		w.WriteHeader(http.StatusOK) // a retry of an event we already took
		return
	}
	w.WriteHeader(http.StatusOK) // ack first, work after
	d.dispatchEvent(l.ctx, l.in, body)
}

// parseForm reads a form body; every value must be valid UTF-8 once
// %-decoded (ids are compared byte for byte; see verified for the raw body).
func parseForm(body []byte) (url.Values, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("bad form")
	}
	for k, vals := range v {
		for _, s := range vals {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("form field %q is not valid UTF-8", k)
			}
		}
	}
	return v, nil
}

func (d *Desk) serveCommand(w http.ResponseWriter, _ *http.Request, body []byte) {
	v, err := parseForm(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := slack.SlashCommand{Command: v.Get("command"), Text: v.Get("text"), UserID: v.Get("user_id"),
		UserName: v.Get("user_name"), ChannelID: v.Get("channel_id"), ChannelName: v.Get("channel_name"),
		TeamID: v.Get("team_id"), ResponseURL: v.Get("response_url"), TriggerID: v.Get("trigger_id")}
	l, ok := d.listening()
	if !ok {
		http.Error(w, "not listening yet", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	d.spawn(l.ctx, func(ctx context.Context) { d.handleSlash(ctx, l.in, cmd) })
}

func (d *Desk) serveInteraction(w http.ResponseWriter, _ *http.Request, body []byte) {
	v, err := parseForm(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(v.Get("payload")), &cb); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	l, ok := d.listening()
	if !ok {
		http.Error(w, "not listening yet", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	d.spawn(l.ctx, func(ctx context.Context) { d.handleInteraction(ctx, l.in, cb) })
}
