package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/httpbody"
	"github.com/earshot-dev/earshot/connectors/internal/replay"
)

// http.go is the HTTP interactions endpoint, for applications whose
// Interactions Endpoint URL points at Earshot (Discord then sends
// interactions there instead of over the gateway). Every request is
// verified before it is parsed: Ed25519 over timestamp + raw body with the
// application's public key, and a timestamp within five minutes of our
// clock (discordgo.VerifyInteraction checks no age). Discord probes the URL
// with bad signatures and expects 401; a PING is answered with PONG.
//
// Replays: a signed request verifies again for as long as its timestamp is
// in the window, so an interaction id already taken is answered with the
// response its first request got (or 409 while that is not known yet, or
// when the first request ended without one) and never run again; ids are
// kept in memory for the window (see connectors/internal/replay for why),
// and requests signed before Listen began are refused, so a restart does
// not reopen the window.

// maxBody bounds an interaction request's body.
const maxBody = 1 << 20

// maxSkew is how far a signed request's timestamp may be from now.
const maxSkew = 5 * time.Minute

// answerWithin bounds how long the endpoint holds Discord's request for
// the first answer (Discord gives three seconds; DeferAfter is less).
const answerWithin = 2900 * time.Millisecond

// InteractionsPath is the route of the endpoint on the shared listener.
const InteractionsPath = "/discord/interactions"

// Routes is the interactions endpoint, for the shared listener. Without a
// public_key it answers 401 to everything.
func (d *Desk) Routes() map[string]http.Handler {
	return map[string]http.Handler{"POST " + InteractionsPath: http.HandlerFunc(d.serveInteractions)}
}

// ErrBadSignature is why a request was refused with 401.
var ErrBadSignature = errors.New("discord: bad request signature")

// VerifySignature checks Discord's Ed25519 signature sig (hex) of ts +
// body against key, and that ts (Unix seconds) is within five minutes of
// now. Pure.
func VerifySignature(key ed25519.PublicKey, ts, sig string, body []byte, now time.Time) error {
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
	raw, err := hex.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: no public key", ErrBadSignature)
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(key, msg, raw) {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (d *Desk) serveInteractions(w http.ResponseWriter, r *http.Request) {
	body, err := httpbody.Read(w, r, maxBody)
	if err != nil {
		http.Error(w, err.Error(), httpbody.Status(err))
		return
	}
	if d.pubKey == nil {
		http.Error(w, "the interactions endpoint is not configured (discord.public_key)", http.StatusUnauthorized)
		return
	}
	ts, now := r.Header.Get("X-Signature-Timestamp"), d.now()
	if err := VerifySignature(d.pubKey, ts, r.Header.Get("X-Signature-Ed25519"), body, now); err != nil {
		d.log.Warn("discord: refused an unsigned or badly signed interaction", "err", err)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	if !utf8.Valid(body) {
		http.Error(w, "the request body is not valid UTF-8", http.StatusBadRequest)
		return
	}
	var ia discordgo.Interaction
	if err := json.Unmarshal(body, &ia); err != nil {
		http.Error(w, "malformed interaction JSON", http.StatusBadRequest)
		return
	}
	switch ia.Type {
	case discordgo.InteractionPing:
		writeJSON(w, http.StatusOK, discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	case discordgo.InteractionApplicationCommandAutocomplete:
		writeJSON(w, http.StatusOK, discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
			Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}})
		return
	case discordgo.InteractionModalSubmit:
		writeJSON(w, http.StatusOK, ephemeral("Earshot has no forms."))
		return
	case discordgo.InteractionApplicationCommand, discordgo.InteractionMessageComponent:
	default:
		http.Error(w, "unknown interaction type", http.StatusBadRequest)
		return
	}
	if ia.ID == "" || ia.Token == "" || ia.ChannelID == "" {
		http.Error(w, "interaction lacks id, token or channel", http.StatusBadRequest)
		return
	}
	if _, _, ok := d.listening(); !ok {
		http.Error(w, "not listening yet", http.StatusServiceUnavailable)
		return
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // VerifySignature read it
	ticket, v := d.replays.Claim("interaction:"+ia.ID, time.Unix(sec, 0), now)
	switch v {
	case replay.BeforeOpen:
		d.log.Warn("discord: refused an interaction signed before the desk started listening")
		http.Error(w, "signed before this server started taking requests: refused, as a replay would be", http.StatusUnauthorized)
		return
	case replay.Replay:
		// The same response as the first time, or 409 while it has none:
		// never the 3-second wait of an interaction nobody will answer.
		d.log.Warn("discord: an interaction came again; answered as before, not run again")
		ticket.Replayed(w)
		return
	}
	answer := make(chan *discordgo.InteractionResponse, 1)
	handed := make(chan struct{})
	d.spawnFree(func(ctx context.Context, in bridge.Inbox) {
		d.handleInteraction(ctx, in, &ia, func(ctx context.Context, resp *discordgo.InteractionResponse) error {
			select {
			case <-handed:
				return errors.New("the endpoint request has ended")
			default:
			}
			answer <- resp
			return nil
		})
	})
	t := time.NewTimer(answerWithin)
	defer t.Stop()
	select {
	case resp := <-answer:
		rec := replay.NewRecorder(w)
		writeJSON(rec, http.StatusOK, resp)
		if a, whole := rec.Answer(); whole {
			ticket.Done(a)
		}
	case <-t.C:
		close(handed)
		http.Error(w, "no answer in time", http.StatusServiceUnavailable)
	case <-r.Context().Done():
		close(handed)
	}
}
