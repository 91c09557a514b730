package discordfake

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// rest.go serves the REST API. Every route goes through serve, which counts
// it, checks the bot token, applies FailNext and the rate limits, and only
// then runs the handler (which takes f.mu itself).

// auth says what a route needs.
type auth int

const (
	authBot   auth = iota // Authorization: Bot <token>
	authToken             // a token in the path (webhooks, interactions)
	authNone              // GET /gateway
)

type handler func(w http.ResponseWriter, r *http.Request, body []byte)

// maxRequestBody bounds what the fake reads of a request.
const maxRequestBody = 8 << 20

func (f *Fake) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(route string, a auth, h handler) {
		method, path, _ := strings.Cut(route, " ")
		mux.HandleFunc(method+" /api/{version}"+path, f.serve(route, a, h))
	}
	api("GET /gateway", authNone, f.getGateway)
	api("GET /gateway/bot", authBot, f.getGateway)
	api("GET /users/@me", authBot, f.getMe)
	api("GET /users/{id}", authBot, f.getUser)
	api("POST /users/@me/channels", authBot, f.openDM)
	api("GET /channels/{id}", authBot, f.getChannel)
	api("PATCH /channels/{id}", authBot, f.patchChannel)
	api("GET /channels/{id}/messages", authBot, f.listMessages)
	api("GET /channels/{id}/messages/{mid}", authBot, f.getMessage)
	api("POST /channels/{id}/messages", authBot, f.postMessage)
	api("PATCH /channels/{id}/messages/{mid}", authBot, f.editMessage)
	api("DELETE /channels/{id}/messages/{mid}", authBot, f.deleteMessage)
	api("POST /channels/{id}/threads", authBot, f.startThread)
	api("POST /channels/{id}/messages/{mid}/threads", authBot, f.startThreadFromMessage)
	api("PUT /channels/{id}/messages/{mid}/reactions/{emoji}/@me", authBot, f.react(true))
	api("DELETE /channels/{id}/messages/{mid}/reactions/{emoji}/@me", authBot, f.react(false))
	api("GET /channels/{id}/webhooks", authBot, f.listWebhooks)
	api("POST /channels/{id}/webhooks", authBot, f.createWebhook)
	api("POST /webhooks/{id}/{token}", authToken, f.executeWebhook)
	api("GET /webhooks/{id}/{token}/messages/{mid}", authToken, f.webhookMessage)
	api("PATCH /webhooks/{id}/{token}/messages/{mid}", authToken, f.webhookMessage)
	api("DELETE /webhooks/{id}/{token}/messages/{mid}", authToken, f.webhookMessage)
	api("POST /interactions/{id}/{token}/callback", authToken, f.interactionCallback)
	api("PUT /applications/{app}/guilds/{guild}/commands", authBot, f.putCommands)
	api("GET /applications/{app}/guilds/{guild}/commands", authBot, f.getCommands)
	api("GET /guilds/{guild}/members/{user}", authBot, f.getMember)
	api("GET /guilds/{guild}/channels", authBot, f.getGuildChannels)
	api("GET /guilds/{guild}/roles", authBot, f.getRoles)
	api("GET /guilds/{guild}/threads/active", authBot, f.activeThreads)
	mux.HandleFunc("GET /gateway", f.gateway)
	mux.HandleFunc("GET /gateway/", f.gateway)
	return mux
}

// isInteractionRoute tells the routes FailNext and the global limit leave alone.
func isInteractionRoute(route string, r *http.Request) bool {
	return strings.HasPrefix(route, "POST /interactions/") ||
		(strings.HasPrefix(route, "POST /webhooks/") || strings.Contains(route, "/webhooks/{id}/{token}/messages/")) && r.PathValue("id") == AppID
}

func (f *Fake) serve(route string, a auth, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err != nil {
			apiError(w, http.StatusRequestEntityTooLarge, 0, "Request entity too large")
			return
		}
		if !f.latency.Wait(r.Context(), f.stop) {
			return
		}
		f.mu.Lock()
		f.calls[route]++
		if a == authBot && r.Header.Get("Authorization") != "Bot "+f.opts.Token {
			f.mu.Unlock()
			apiError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
			return
		}
		interaction := isInteractionRoute(route, r)
		var fl failure
		failing := false
		if r.Method != http.MethodGet && !interaction {
			fl, failing = f.fails.Take()
		}
		if failing {
			f.feed.Emit(Event{Kind: "failure"})
			f.mu.Unlock()
			if fl.status == http.StatusTooManyRequests {
				writeRateLimited(w, max(fl.wait, time.Millisecond), false)
				return
			}
			apiError(w, fl.status, 0, http.StatusText(fl.status))
			return
		}
		major := r.PathValue("id")
		if major == "" {
			major = r.PathValue("app")
		}
		ok, wait, global := f.rateLimit(w.Header(), route, major, a == authBot && !interaction)
		if !ok {
			f.limited++
			f.feed.Emit(Event{Kind: "rate_limited"})
			f.mu.Unlock()
			writeRateLimited(w, wait, global)
			return
		}
		f.mu.Unlock()
		f.respond(route, w, r, func(w http.ResponseWriter) { h(w, r, body) })
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError answers like Discord: {"code":10003,"message":"Unknown Channel"}.
func apiError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func badForm(w http.ResponseWriter, code int, msg string) {
	if code == 0 {
		code = 50035
	}
	apiError(w, http.StatusBadRequest, code, "Invalid Form Body: "+msg)
}

// readMessage decodes and checks a message body, answering the error
// itself when ok is false; creating says an empty message is refused.
func readMessage(w http.ResponseWriter, body []byte, creating bool) (b messageBody, ok bool) {
	if json.Unmarshal(body, &b) != nil {
		badForm(w, 0, "body: an object")
		return b, false
	}
	if code, msg := b.check(creating); code != 0 {
		badForm(w, code, msg)
		return b, false
	}
	return b, true
}

// channelOf finds channel id, answering 404 Unknown Channel (403 Missing
// Access for a hidden one) itself when ok is false; f.mu held.
func (f *Fake) channelOf(w http.ResponseWriter, id string) (*storedChannel, bool) {
	if f.hidden[id] {
		apiError(w, http.StatusForbidden, 50001, "Missing Access")
		return nil, false
	}
	c := f.channels[id]
	if c == nil {
		apiError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return nil, false
	}
	return c, true
}

// messageOf finds message id in c, not deleted, answering 404 Unknown
// Message itself when ok is false; f.mu held.
func messageOf(w http.ResponseWriter, c *storedChannel, id string) (*Message, bool) {
	m := findMsg(c, id)
	if m == nil || m.Deleted {
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return nil, false
	}
	return m, true
}

// inGuild reports whether the route's {guild} is the fake's guild,
// answering 404 Unknown Guild itself when it is not.
func (f *Fake) inGuild(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("guild") != f.opts.GuildID {
		apiError(w, http.StatusNotFound, 10004, "Unknown Guild")
		return false
	}
	return true
}

func (f *Fake) getGateway(w http.ResponseWriter, r *http.Request, _ []byte) {
	out := map[string]any{"url": f.GatewayURL()}
	if strings.HasSuffix(r.URL.Path, "/bot") {
		out["shards"] = 1
		out["session_start_limit"] = map[string]any{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) getMe(w http.ResponseWriter, _ *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, f.userJSON(BotUserID))
}

func (f *Fake) getUser(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users[r.PathValue("id")] == nil {
		apiError(w, http.StatusNotFound, 10013, "Unknown User")
		return
	}
	writeJSON(w, http.StatusOK, f.userJSON(r.PathValue("id")))
}

func (f *Fake) getMember(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inGuild(w, r) {
		return
	}
	if f.users[r.PathValue("user")] == nil {
		apiError(w, http.StatusNotFound, 10007, "Unknown Member")
		return
	}
	writeJSON(w, http.StatusOK, f.memberJSON(r.PathValue("user"), true))
}

func (f *Fake) getGuildChannels(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inGuild(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, f.guildJSON()["channels"])
}

func (f *Fake) getRoles(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, f.guildJSON()["roles"])
}

func (f *Fake) openDM(w http.ResponseWriter, _ *http.Request, body []byte) {
	var in struct {
		RecipientID string `json:"recipient_id"`
	}
	if json.Unmarshal(body, &in) != nil || in.RecipientID == "" {
		badForm(w, 0, "recipient_id: required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users[in.RecipientID] == nil {
		apiError(w, http.StatusBadRequest, 50033, "Invalid Recipient(s)")
		return
	}
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == TypeDM && c.Recipient == in.RecipientID {
			writeJSON(w, http.StatusOK, f.channelJSON(c))
			return
		}
	}
	c := f.addChannel(Channel{ID: f.nextID(), Type: TypeDM, Recipient: in.RecipientID})
	writeJSON(w, http.StatusOK, f.channelJSON(c))
}

func (f *Fake) getChannel(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, f.channelJSON(c))
}

// patchChannel edits a forum's tags or a thread's archived/locked/tags/name.
func (f *Fake) patchChannel(w http.ResponseWriter, r *http.Request, body []byte) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		badForm(w, 0, "body: an object")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	var name string
	if raw, ok := fields["name"]; ok {
		if json.Unmarshal(raw, &name) != nil || name == "" || runes(name) > MaxThreadName {
			badForm(w, 0, "name: Must be between 1 and 100 in length.")
			return
		}
	}
	switch c.Type {
	case TypeForum:
		if raw, ok := fields["available_tags"]; ok {
			var tags []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			if json.Unmarshal(raw, &tags) != nil {
				badForm(w, 0, "available_tags: a list of tags")
				return
			}
			if len(tags) > MaxForumTags {
				badForm(w, 0, "available_tags: Must be 20 or fewer in length.")
				return
			}
			var next []Tag
			for _, t := range tags {
				if t.Name == "" || runes(t.Name) > MaxTagName {
					badForm(w, 0, "available_tags.name: Must be between 1 and 20 in length.")
					return
				}
				if t.ID == "" {
					t.ID = f.nextID()
				}
				next = append(next, Tag{ID: t.ID, Name: t.Name})
			}
			c.Tags = next
		}
		if name != "" {
			c.Name = name
		}
		f.feed.Emit(Event{Kind: "channel", ChannelID: c.ID, Channel: ptr(copyChannel(c))})
		f.dispatch("CHANNEL_UPDATE", f.channelJSON(c))
	case TypeThread:
		var archived, locked *bool
		if raw, ok := fields["archived"]; ok {
			archived = new(bool)
			_ = json.Unmarshal(raw, archived)
		}
		if raw, ok := fields["locked"]; ok {
			locked = new(bool)
			_ = json.Unmarshal(raw, locked)
		}
		_, tagsGiven := fields["applied_tags"]
		unarchiving := archived != nil && !*archived
		if c.Archived && !unarchiving && (tagsGiven || name != "") {
			apiError(w, http.StatusBadRequest, 50083, "Operation cannot be performed on an archived thread.")
			return
		}
		if tagsGiven {
			var ids []string
			if json.Unmarshal(fields["applied_tags"], &ids) != nil {
				badForm(w, 0, "applied_tags: a list of tag ids")
				return
			}
			if msg := f.checkApplied(c.ParentID, ids); msg != "" {
				badForm(w, 0, msg)
				return
			}
			c.Applied = ids
		}
		if name != "" {
			c.Name = name
		}
		if archived != nil {
			c.Archived = *archived
		}
		if locked != nil {
			c.Locked = *locked
		}
		f.feed.Emit(Event{Kind: "thread", ChannelID: c.ID, Channel: ptr(copyChannel(c))})
		f.dispatch("THREAD_UPDATE", f.channelJSON(c))
	default:
		if name != "" {
			c.Name = name
		}
	}
	writeJSON(w, http.StatusOK, f.channelJSON(c))
}

// checkApplied validates tag ids for a thread of forum parent; f.mu held.
func (f *Fake) checkApplied(parent string, ids []string) string {
	p := f.channels[parent]
	if p == nil || p.Type != TypeForum {
		if len(ids) > 0 {
			return "applied_tags: only forum threads have tags"
		}
		return ""
	}
	if len(ids) > MaxAppliedTags {
		return "applied_tags: Must be 5 or fewer in length."
	}
	for _, id := range ids {
		if !slices.ContainsFunc(p.Tags, func(t Tag) bool { return t.ID == id }) {
			return "applied_tags: unknown tag " + id
		}
	}
	return ""
}

func (f *Fake) getMessage(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	m, ok := messageOf(w, c, r.PathValue("mid"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, f.messageJSON(m, -1))
}

// writable finds channel id for a new message, unarchiving an archived
// unlocked thread; it answers the error itself when ok is false. f.mu held.
func (f *Fake) writable(w http.ResponseWriter, id string) (*storedChannel, bool) {
	c, ok := f.channelOf(w, id)
	if !ok {
		return nil, false
	}
	switch {
	case c.Type == TypeForum:
		apiError(w, http.StatusBadRequest, 50008, "Cannot send messages in a non-text channel")
		return nil, false
	case c.Type == TypeThread && c.Locked:
		apiError(w, http.StatusForbidden, 50083, "Operation cannot be performed on an archived thread.")
		return nil, false
	case c.Type == TypeThread && c.Archived:
		c.Archived = false
		f.feed.Emit(Event{Kind: "thread", ChannelID: c.ID, Channel: ptr(copyChannel(c))})
		f.dispatch("THREAD_UPDATE", f.channelJSON(c))
	case c.Type == TypeDM:
		if u := f.users[c.Recipient]; u != nil && u.NoDMs {
			apiError(w, http.StatusForbidden, 50007, "Cannot send messages to this user")
			return nil, false
		}
	}
	return c, true
}

// newMessage stores a message from the bot built from body in c; f.mu held.
func (f *Fake) newMessage(c *storedChannel, id string, b messageBody) *Message {
	m := &Message{ID: id, ChannelID: c.ID, AuthorID: BotUserID, Username: BotName, Bot: true,
		Embeds: nonEmpty(b.Embeds), Components: nonEmpty(b.Components), Flags: b.Flags &^ MessageFlagEphemeral, Timestamp: f.opts.Now()}
	if b.Content != nil {
		m.Content = *b.Content
	}
	if b.Reference != nil {
		m.Reference = b.Reference.MessageID
	}
	c.msgs = append(c.msgs, m)
	return m
}

func nonEmpty(r json.RawMessage) json.RawMessage {
	if isEmptyList(r) {
		return nil
	}
	return append(json.RawMessage(nil), r...)
}

// created records and announces a new message; f.mu held.
func (f *Fake) created(m *Message) {
	f.feed.Emit(Event{Kind: "message", ChannelID: m.ChannelID, MessageID: m.ID, Message: ptr(copyMsg(m))})
	if c := f.channels[m.ChannelID]; c != nil && c.Type == TypeDM {
		f.feed.Emit(Event{Kind: "dm", ChannelID: m.ChannelID, MessageID: m.ID, Message: ptr(copyMsg(m))})
		return
	}
	f.dispatchMessage("MESSAGE_CREATE", m)
}

func (f *Fake) postMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	b, ok := readMessage(w, body, true)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.writable(w, r.PathValue("id"))
	if !ok {
		return
	}
	if b.Reference != nil && b.Reference.MessageID != "" && findMsg(c, b.Reference.MessageID) == nil {
		badForm(w, 0, "message_reference: Unknown message")
		return
	}
	if b.EnforceNonce {
		if m := f.byNonce(c, BotUserID, b.nonce()); m != nil {
			writeJSON(w, http.StatusOK, f.messageJSON(m, -1)) // the first message, not a second one
			return
		}
	}
	m := f.newMessage(c, f.nextID(), b)
	m.Nonce = b.nonce()
	f.created(m)
	writeJSON(w, http.StatusOK, f.messageJSON(m, -1))
}

// inArchived reports (and answers) an operation on an archived thread; f.mu held.
func inArchived(w http.ResponseWriter, c *storedChannel) bool {
	if c.Type == TypeThread && c.Archived {
		apiError(w, http.StatusBadRequest, 50083, "Operation cannot be performed on an archived thread.")
		return true
	}
	return false
}

// editable finds a bot message to change; f.mu held.
func (f *Fake) editable(w http.ResponseWriter, r *http.Request) (*storedChannel, *Message, bool) {
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return nil, nil, false
	}
	m, ok := messageOf(w, c, r.PathValue("mid"))
	if !ok {
		return nil, nil, false
	}
	if inArchived(w, c) {
		return nil, nil, false
	}
	return c, m, true
}

func (f *Fake) editMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	b, ok := readMessage(w, body, false)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, m, ok := f.editable(w, r)
	if !ok {
		return
	}
	if m.AuthorID != BotUserID {
		apiError(w, http.StatusForbidden, 50005, "Cannot edit a message authored by another user")
		return
	}
	applyEdit(m, b)
	f.edited(m)
	writeJSON(w, http.StatusOK, f.messageJSON(m, -1))
}

// applyEdit changes the fields b gives.
func applyEdit(m *Message, b messageBody) {
	if b.Content != nil {
		m.Content = *b.Content
	}
	if b.Embeds != nil {
		m.Embeds = nonEmpty(b.Embeds)
	}
	if b.Components != nil {
		m.Components = nonEmpty(b.Components)
	}
	m.Edited = true
}

// edited announces a changed message; f.mu held.
func (f *Fake) edited(m *Message) {
	f.feed.Emit(Event{Kind: "update", ChannelID: m.ChannelID, MessageID: m.ID, Message: ptr(copyMsg(m))})
	f.dispatchMessage("MESSAGE_UPDATE", m)
}

func (f *Fake) deleteMessage(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, m, ok := f.editable(w, r)
	if !ok {
		return
	}
	f.remove(c, m)
	w.WriteHeader(http.StatusNoContent)
}

// remove deletes m and announces it; f.mu held.
func (f *Fake) remove(c *storedChannel, m *Message) {
	m.Deleted = true
	f.feed.Emit(Event{Kind: "delete", ChannelID: c.ID, MessageID: m.ID})
	f.dispatch("MESSAGE_DELETE", map[string]any{"id": m.ID, "channel_id": c.ID, "guild_id": f.opts.GuildID})
}

// threadBody is POST /channels/{id}/threads (forum posts carry message).
type threadBody struct {
	Name        string       `json:"name"`
	AutoArchive int          `json:"auto_archive_duration"`
	Type        int          `json:"type"`
	AppliedTags []string     `json:"applied_tags"`
	Message     *messageBody `json:"message"`
}

// readThread decodes and checks a thread body, answering the error itself
// when ok is false.
func readThread(w http.ResponseWriter, body []byte) (b threadBody, ok bool) {
	if json.Unmarshal(body, &b) != nil {
		badForm(w, 0, "body: an object")
		return b, false
	}
	if b.Name == "" || runes(b.Name) > MaxThreadName {
		badForm(w, 0, "name: Must be between 1 and 100 in length.")
		return b, false
	}
	return b, true
}

func (f *Fake) startThread(w http.ResponseWriter, r *http.Request, body []byte) {
	b, ok := readThread(w, body)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	if p.Type != TypeForum && p.Type != TypeText {
		apiError(w, http.StatusBadRequest, 50024, "Cannot execute action on this channel type")
		return
	}
	if p.Type == TypeForum {
		if b.Message == nil {
			badForm(w, 0, "message: a forum post needs its first message")
			return
		}
		if code, msg := b.Message.check(true); code != 0 {
			badForm(w, code, "message."+msg)
			return
		}
	}
	if msg := f.checkApplied(p.ID, b.AppliedTags); msg != "" {
		badForm(w, 0, msg)
		return
	}
	id := f.nextID()
	t := f.addChannel(Channel{ID: id, Type: TypeThread, Name: b.Name, ParentID: p.ID, OwnerID: BotUserID,
		Applied: slices.Clone(b.AppliedTags)})
	f.announceThread(t)
	out := f.channelJSON(t)
	if p.Type == TypeForum {
		// A forum post's first message has the thread's id.
		m := f.newMessage(t, id, *b.Message)
		f.created(m)
		out["message"] = f.messageJSON(m, -1)
	}
	writeJSON(w, http.StatusCreated, out)
}

// announceThread emits and dispatches THREAD_CREATE; f.mu held.
func (f *Fake) announceThread(t *storedChannel) {
	f.feed.Emit(Event{Kind: "thread", ChannelID: t.ID, Channel: ptr(copyChannel(t))})
	ev := f.channelJSON(t)
	ev["newly_created"] = true
	f.dispatch("THREAD_CREATE", ev)
}

func (f *Fake) startThreadFromMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	b, ok := readThread(w, body)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.channels[r.PathValue("id")]
	if p == nil || p.Type != TypeText {
		apiError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	mid := r.PathValue("mid")
	if _, ok := messageOf(w, p, mid); !ok {
		return
	}
	if f.channels[mid] != nil {
		apiError(w, http.StatusBadRequest, 160004, "A thread has already been created for this message")
		return
	}
	t := f.addChannel(Channel{ID: mid, Type: TypeThread, Name: b.Name, ParentID: p.ID, OwnerID: BotUserID})
	f.announceThread(t)
	writeJSON(w, http.StatusCreated, f.channelJSON(t))
}

func (f *Fake) react(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, m, ok := f.editable(w, r)
		if !ok {
			return
		}
		emoji := r.PathValue("emoji")
		if emoji == "" || strings.ContainsAny(emoji, " /") {
			apiError(w, http.StatusBadRequest, 10014, "Unknown Emoji")
			return
		}
		i := slices.IndexFunc(m.Reactions, func(x Reaction) bool { return x.Emoji == emoji })
		switch {
		case add && i < 0:
			m.Reactions = append(m.Reactions, Reaction{Emoji: emoji, Users: []string{BotUserID}})
		case add && !slices.Contains(m.Reactions[i].Users, BotUserID):
			m.Reactions[i].Users = append(m.Reactions[i].Users, BotUserID)
		case !add && i >= 0:
			m.Reactions[i].Users = slices.DeleteFunc(m.Reactions[i].Users, func(u string) bool { return u == BotUserID })
			if len(m.Reactions[i].Users) == 0 {
				m.Reactions = slices.Delete(m.Reactions, i, i+1)
			}
		}
		f.feed.Emit(Event{Kind: "reaction", ChannelID: m.ChannelID, MessageID: m.ID, Message: ptr(copyMsg(m))})
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *Fake) webhookJSON(h *webhook) map[string]any {
	return map[string]any{"id": h.id, "type": 1, "token": h.token, "channel_id": h.channelID, "guild_id": f.opts.GuildID,
		"name": h.name, "avatar": nil, "application_id": AppID, "user": f.userJSON(BotUserID)}
}

func (f *Fake) listWebhooks(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opts.NoWebhooks {
		apiError(w, http.StatusForbidden, 50013, "Missing Permissions")
		return
	}
	out := []any{}
	for _, h := range f.webhooks {
		if h.channelID == r.PathValue("id") {
			out = append(out, f.webhookJSON(h))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) createWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(body, &in) != nil || in.Name == "" {
		badForm(w, 0, "name: required")
		return
	}
	if msg := checkWebhookName(in.Name); msg != "" {
		badForm(w, 0, msg)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	switch {
	case f.opts.NoWebhooks:
		apiError(w, http.StatusForbidden, 50013, "Missing Permissions")
		return
	case c.Type != TypeText && c.Type != TypeForum:
		apiError(w, http.StatusBadRequest, 50024, "Cannot execute action on this channel type")
		return
	}
	h := &webhook{id: f.nextID(), channelID: c.ID, name: in.Name}
	h.token = "whtoken-" + h.id + "-secret"
	f.webhooks[h.id] = h
	writeJSON(w, http.StatusOK, f.webhookJSON(h))
}

// executeWebhook posts as a channel webhook, or (id is the application)
// sends an interaction follow-up.
func (f *Fake) executeWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.PathValue("id") == AppID {
		f.followup(w, r, body)
		return
	}
	b, ok := readMessage(w, body, true)
	if !ok {
		return
	}
	if msg := checkWebhookName(b.Username); msg != "" {
		badForm(w, 0, msg)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.webhooks[r.PathValue("id")]
	if h == nil || h.token != r.PathValue("token") {
		apiError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	target := h.channelID
	if tid := r.URL.Query().Get("thread_id"); tid != "" {
		t := f.channels[tid]
		if t == nil || t.Type != TypeThread || t.ParentID != h.channelID {
			apiError(w, http.StatusBadRequest, 10003, "Unknown Channel")
			return
		}
		target = tid
	} else if c := f.channels[target]; c != nil && c.Type == TypeForum {
		apiError(w, http.StatusBadRequest, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id")
		return
	}
	c, ok := f.writable(w, target)
	if !ok {
		return
	}
	m := f.newMessage(c, f.nextID(), b)
	m.AuthorID, m.WebhookID, m.Username, m.AvatarURL = h.id, h.id, h.name, b.AvatarURL
	if b.Username != "" {
		m.Username = b.Username
	}
	f.created(m)
	if r.URL.Query().Get("wait") != "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, f.messageJSON(m, -1))
}

func (f *Fake) putCommands(w http.ResponseWriter, r *http.Request, body []byte) {
	cmds, msg := checkCommands(body)
	if msg != "" {
		badForm(w, 0, msg)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PathValue("app") != AppID || r.PathValue("guild") != f.opts.GuildID {
		apiError(w, http.StatusForbidden, 50001, "Missing Access")
		return
	}
	for i := range cmds {
		cmds[i].ID = f.nextID()
	}
	f.commands = cmds
	writeJSON(w, http.StatusOK, f.commandsJSON())
}

func (f *Fake) getCommands(w http.ResponseWriter, _ *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, f.commandsJSON())
}

func (f *Fake) commandsJSON() []any {
	out := []any{}
	for _, c := range f.commands {
		opts := []any{}
		for _, o := range c.Options {
			opts = append(opts, map[string]any{"name": o.Name, "description": o.Description, "type": o.Type, "required": o.Required})
		}
		out = append(out, map[string]any{"id": c.ID, "application_id": AppID, "guild_id": f.opts.GuildID, "name": c.Name,
			"description": c.Description, "type": 1, "options": opts, "version": c.ID})
	}
	return out
}

func ptr[T any](v T) *T { return &v }
