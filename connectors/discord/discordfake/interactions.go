package discordfake

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// interactions.go delivers interactions (over the gateway as
// INTERACTION_CREATE, or signed to an HTTP endpoint) and serves their
// answers: POST /interactions/{id}/{token}/callback, follow-ups at POST
// /webhooks/{app}/{token}, and GET/PATCH/DELETE of the answer messages at
// /webhooks/{app}/{token}/messages/{id|@original}.

// followupWindow is how long an interaction token takes follow-ups.
const followupWindow = 15 * time.Minute

// Sign returns the hex X-Signature-Ed25519 of body at timestamp ts, as
// Discord signs requests to an interactions endpoint.
func Sign(key ed25519.PrivateKey, ts string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), body...)))
}

// deliverInteraction records ia and sends payload to the app; f.mu held.
func (f *Fake) deliverInteraction(ia *Interaction, payload map[string]any) {
	f.interactions[ia.ID] = ia
	f.feed.Emit(Event{Kind: "interaction", ChannelID: ia.ChannelID})
	if f.target == "" {
		f.dispatch("INTERACTION_CREATE", payload)
		return
	}
	body, _ := json.Marshal(payload)
	target := f.target
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.postInteraction(target, ia, body)
	}()
}

// postInteraction POSTs a signed interaction and applies the HTTP answer as
// its first response.
func (f *Fake) postInteraction(target string, ia *Interaction, body []byte) {
	ts := strconv.FormatInt(f.opts.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", Sign(f.opts.PrivateKey, ts, body))
	resp, err := f.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxRequestBody))
	if resp.StatusCode/100 != 2 {
		f.mu.Lock()
		f.feed.Emit(Event{Kind: "failure", ChannelID: ia.ChannelID})
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyCallback(ia, answer)
}

type callbackBody struct {
	Type int          `json:"type"`
	Data *messageBody `json:"data"`
}

// applyCallback applies a first answer to ia; it returns an HTTP status and
// Discord error (0 when fine). f.mu held.
func (f *Fake) applyCallback(ia *Interaction, raw []byte) (status, code int, msg string) {
	var in callbackBody
	if json.Unmarshal(raw, &in) != nil {
		return http.StatusBadRequest, 50035, "Invalid Form Body: body"
	}
	if f.opts.Now().Sub(ia.Created) > f.opts.InteractionDeadline {
		ia.Late = true
		return http.StatusNotFound, 10062, "Unknown interaction"
	}
	if ia.Response != 0 {
		return http.StatusBadRequest, 40060, "Interaction has already been acknowledged."
	}
	data := messageBody{}
	if in.Data != nil {
		data = *in.Data
	}
	ephemeral := data.Flags&MessageFlagEphemeral != 0
	switch in.Type {
	case 4:
		if code, msg := data.check(true); code != 0 {
			return http.StatusBadRequest, code, "Invalid Form Body: data." + msg
		}
		ia.Original = f.answer(ia, data, ephemeral)
	case 5:
		ia.Original = f.answer(ia, data, ephemeral)
	case 6:
		if ia.Type != 3 {
			return http.StatusBadRequest, 40063, "Interaction response type 6 is only for components"
		}
	case 7:
		if ia.Type != 3 {
			return http.StatusBadRequest, 40063, "Interaction response type 7 is only for components"
		}
		if code, msg := data.check(false); code != 0 {
			return http.StatusBadRequest, code, "Invalid Form Body: data." + msg
		}
		if c := f.channels[ia.ChannelID]; c != nil {
			if m := findMsg(c, ia.message); m != nil {
				applyEdit(m, data)
				f.edited(m)
			}
		}
	default:
		return http.StatusBadRequest, 50035, fmt.Sprintf("Invalid Form Body: type %d is not supported by the fake", in.Type)
	}
	ia.Response, ia.Ephemeral = in.Type, ephemeral
	return 0, 0, ""
}

// answer shows an interaction answer: only to its user when ephemeral,
// else as a message in its channel. It returns the answer's id; f.mu held.
func (f *Fake) answer(ia *Interaction, data messageBody, ephemeral bool) string {
	id := f.nextID()
	if ephemeral {
		e := &Ephemeral{ID: id, Interaction: ia.ID, User: ia.User, ChannelID: ia.ChannelID,
			Embeds: nonEmpty(data.Embeds), Components: nonEmpty(data.Components)}
		if data.Content != nil {
			e.Content = *data.Content
		}
		f.ephs = append(f.ephs, e)
		f.feed.Emit(Event{Kind: "ephemeral", ChannelID: ia.ChannelID, MessageID: id, Ephemeral: ptr(*e)})
		return id
	}
	c := f.channels[ia.ChannelID]
	if c == nil {
		return ""
	}
	m := f.newMessage(c, id, data)
	m.Interaction = ia.ID
	f.created(m)
	return id
}

// interactionByToken finds the interaction token belongs to; f.mu held.
func (f *Fake) interactionByToken(token string) *Interaction {
	for _, ia := range f.interactions {
		if ia.Token == token {
			return ia
		}
	}
	return nil
}

func (f *Fake) interactionCallback(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ia := f.interactions[r.PathValue("id")]
	if ia == nil || ia.Token != r.PathValue("token") {
		apiError(w, http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	if status, code, msg := f.applyCallback(ia, body); status != 0 {
		apiError(w, status, code, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// answered finds the answered interaction token belongs to, within its
// 15 minutes, answering the error itself when ok is false; f.mu held.
func (f *Fake) answered(w http.ResponseWriter, token string) (*Interaction, bool) {
	ia := f.interactionByToken(token)
	if ia == nil || ia.Response == 0 || f.opts.Now().Sub(ia.Created) > followupWindow {
		apiError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return nil, false
	}
	return ia, true
}

// followup sends a follow-up message for an answered interaction.
func (f *Fake) followup(w http.ResponseWriter, r *http.Request, body []byte) {
	b, ok := readMessage(w, body, true)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ia, ok := f.answered(w, r.PathValue("token"))
	if !ok {
		return
	}
	ia.Followups++
	id := f.answer(ia, b, b.Flags&MessageFlagEphemeral != 0)
	writeJSON(w, http.StatusOK, f.answerJSON(ia, id))
}

// answerJSON renders an answer message (ephemeral or public); f.mu held.
func (f *Fake) answerJSON(ia *Interaction, id string) map[string]any {
	for _, e := range f.ephs {
		if e.ID == id {
			return map[string]any{"id": e.ID, "channel_id": e.ChannelID, "content": e.Content, "flags": MessageFlagEphemeral,
				"embeds": rawOr(e.Embeds, "[]"), "components": rawOr(e.Components, "[]"), "type": 20,
				"author": f.userJSON(BotUserID), "timestamp": stamp(ia.Created), "attachments": []any{}, "mentions": []any{}}
		}
	}
	if c := f.channels[ia.ChannelID]; c != nil {
		if m := findMsg(c, id); m != nil {
			return f.messageJSON(m, -1)
		}
	}
	return map[string]any{"id": id}
}

// webhookMessage reads, edits or deletes an interaction's answer
// (@original or a follow-up id).
func (f *Fake) webhookMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.PathValue("id") != AppID {
		apiError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	var b messageBody
	if r.Method == http.MethodPatch {
		var ok bool
		if b, ok = readMessage(w, body, false); !ok {
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ia, ok := f.answered(w, r.PathValue("token"))
	if !ok {
		return
	}
	id := r.PathValue("mid")
	if id == "@original" {
		id = ia.Original
	}
	if id == "" {
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	for _, e := range f.ephs {
		if e.ID != id || e.Deleted {
			continue
		}
		switch r.Method {
		case http.MethodPatch:
			if b.Content != nil {
				e.Content = *b.Content
			}
			if b.Embeds != nil {
				e.Embeds = nonEmpty(b.Embeds)
			}
			if b.Components != nil {
				e.Components = nonEmpty(b.Components)
			}
			f.feed.Emit(Event{Kind: "ephemeral", ChannelID: e.ChannelID, MessageID: e.ID, Ephemeral: ptr(*e)})
		case http.MethodDelete:
			e.Deleted = true
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, f.answerJSON(ia, id))
		return
	}
	c := f.channels[ia.ChannelID]
	var m *Message
	if c != nil {
		m = findMsg(c, id)
	}
	if m == nil || m.Deleted {
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	switch r.Method {
	case http.MethodPatch:
		if inArchived(w, c) {
			return
		}
		applyEdit(m, b)
		f.edited(m)
	case http.MethodDelete:
		f.remove(c, m)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, f.messageJSON(m, -1))
}
