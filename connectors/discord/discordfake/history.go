package discordfake

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// history.go serves what lets a client find again what it created without
// hearing the answer (a crash, a timeout): nonces with enforce_nonce on
// message creation (a repeat within NonceWindow by the same author answers
// the first message, as Discord does for "the past few minutes"), the
// channel's message history (GET /channels/{id}/messages with before,
// after, around and limit, newest first), and the guild's active threads
// (GET /guilds/{guild}/threads/active). HoldAnswers holds the answers of
// a route after they took effect, to stand for the moment between Discord
// doing something and the client learning of it.

// NonceWindow is how long an enforced nonce answers the first message.
const NonceWindow = 5 * time.Minute

// MaxNonce is the longest nonce Discord takes.
const MaxNonce = 25

// byNonce finds author's message in c created with nonce within
// NonceWindow; f.mu held.
func (f *Fake) byNonce(c *storedChannel, author, nonce string) *Message {
	if nonce == "" {
		return nil
	}
	now := f.opts.Now()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		m := c.msgs[i]
		if now.Sub(m.Timestamp) > NonceWindow {
			break
		}
		if m.AuthorID == author && m.Nonce == nonce && !m.Deleted {
			return m
		}
	}
	return nil
}

func (f *Fake) listMessages(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			badForm(w, 0, "limit: int value should be less than or equal to 100.")
			return
		}
		limit = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channelOf(w, r.PathValue("id"))
	if !ok {
		return
	}
	if c.Type == TypeForum {
		apiError(w, http.StatusBadRequest, 50024, "Cannot execute action on this channel type")
		return
	}
	var live []*Message
	for _, m := range c.msgs {
		if !m.Deleted {
			live = append(live, m)
		}
	}
	before, after, around := snowflake(q.Get("before")), snowflake(q.Get("after")), snowflake(q.Get("around"))
	var pick []*Message // oldest first
	switch {
	case q.Get("after") != "":
		for _, m := range live {
			if snowflake(m.ID) > after && len(pick) < limit {
				pick = append(pick, m)
			}
		}
	case q.Get("around") != "":
		i := slices.IndexFunc(live, func(m *Message) bool { return snowflake(m.ID) >= around })
		if i < 0 {
			i = len(live)
		}
		lo := max(0, i-limit/2)
		pick = live[lo:min(len(live), lo+limit)]
	default:
		for i := len(live) - 1; i >= 0 && len(pick) < limit; i-- {
			if q.Get("before") == "" || snowflake(live[i].ID) < before {
				pick = append([]*Message{live[i]}, pick...)
			}
		}
	}
	out := []any{}
	for i := len(pick) - 1; i >= 0; i-- {
		out = append(out, f.messageJSON(pick[i], -1))
	}
	writeJSON(w, http.StatusOK, out)
}

func snowflake(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

func (f *Fake) activeThreads(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inGuild(w, r) {
		return
	}
	threads := []any{}
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == TypeThread && !c.Archived {
			threads = append(threads, f.channelJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"threads": threads, "members": []any{}})
}

// HoldAnswers holds the answers of route (a pattern as in Calls, such as
// "POST /channels/{id}/messages") after the request took effect, until
// release is called (or the client gives up); answered receives once per
// answer held. Only one hold per route at a time.
func (f *Fake) HoldAnswers(route string) (answered <-chan struct{}, release func()) {
	return f.holds.Hold(route)
}

// respond runs h and sends its answer, held first when route is held.
func (f *Fake) respond(route string, w http.ResponseWriter, r *http.Request, run func(w http.ResponseWriter)) {
	if !f.holds.Holding(route) {
		run(w)
		return
	}
	rec := httptest.NewRecorder()
	run(rec)
	if !f.holds.Wait(r.Context(), f.stop, route) {
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

var (
	userMentionRE = regexp.MustCompile(`<@!?(\d+)>`)
	roleMentionRE = regexp.MustCompile(`<@&(\d+)>`)
)

// mentionsJSON fills a message's mentions, mention_roles and
// mention_everyone from its content, as Discord does; f.mu held.
func (f *Fake) mentionsJSON(out map[string]any, content string) {
	users := []any{}
	seen := map[string]bool{}
	for _, sub := range userMentionRE.FindAllStringSubmatch(content, -1) {
		if id := sub[1]; !seen[id] && f.users[id] != nil {
			seen[id] = true
			u := f.userJSON(id)
			u["member"] = f.memberJSON(id, false)
			users = append(users, u)
		}
	}
	roles := []any{}
	for _, sub := range roleMentionRE.FindAllStringSubmatch(content, -1) {
		if _, ok := f.roles[sub[1]]; ok {
			roles = append(roles, sub[1])
		}
	}
	out["mentions"], out["mention_roles"] = users, roles
	out["mention_everyone"] = strings.Contains(content, "@everyone") || strings.Contains(content, "@here")
}
