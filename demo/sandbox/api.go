package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

// writeJSON answers v with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers a problem in plain words: {"error": msg}.
func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// action wraps a POST handler: the body must be JSON, at most maxBody
// bytes, with only known fields, decoded into the handler's request type.
// The handler returns what to answer, or an error to map with status.
func action[Req any](h func(r *http.Request, req Req) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "send the action as application/json")
			return
		}
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", maxBody))
				return
			}
			fail(w, http.StatusBadRequest, "the request is not the JSON this action takes: "+err.Error())
			return
		}
		if dec.Decode(&struct{}{}) != io.EOF {
			fail(w, http.StatusBadRequest, "the request has data after its JSON object")
			return
		}
		out, err := h(r, req)
		if err != nil {
			fail(w, status(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// nonNil makes an empty list JSON [] rather than null, for the page.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// castView is what the page needs to draw its pickers.
type castView struct {
	Networks      []demo.NetworkInfo             `json:"networks"`
	Customers     map[string][]demo.Customer     `json:"customers"`
	Desks         []demo.DeskInfo                `json:"desks"`
	Staff         []demo.Person                  `json:"staff"`
	Channels      []demo.Channel                 `json:"channels"`
	SlashCommands map[string][]demo.SlashCommand `json:"slash_commands"` // by desk
	UndoSeconds   float64                        `json:"undo_seconds"`
	Keywords      []string                       `json:"keywords"`
	Hashtags      []string                       `json:"hashtags"`
}

func (s *Sandbox) cast(w http.ResponseWriter, r *http.Request) {
	v := castView{Networks: demo.Networks, Customers: map[string][]demo.Customer{}, Desks: demo.Desks, Staff: demo.Staff,
		Channels: demo.Channels, SlashCommands: map[string][]demo.SlashCommand{}, UndoSeconds: s.opts.UndoWindow.Seconds(),
		Keywords: demo.WatchKeywords, Hashtags: demo.WatchHashtags}
	for _, n := range demo.Networks {
		v.Customers[n.Name] = s.w.Customers(n.Name, 200)
	}
	for _, d := range demo.Desks {
		v.SlashCommands[d.Name] = s.w.SlashCommands(d.Name)
	}
	writeJSON(w, http.StatusOK, v)
}

type publicView struct {
	Network string            `json:"network"`
	Posts   []demo.PublicPost `json:"posts"`
	Total   int               `json:"total"`
	DMs     []demo.DM         `json:"dms"`
}

func (s *Sandbox) public(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("network")
	posts, total, err := s.w.Timeline(n, maxPosts)
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	dms, _ := s.w.DMs(n, maxDMs)
	writeJSON(w, http.StatusOK, publicView{Network: n, Posts: nonNil(posts), Total: total, DMs: nonNil(dms)})
}

type channelView struct {
	Desk    string         `json:"desk"`
	Channel string         `json:"channel"`
	Cards   []demo.Message `json:"cards"`
	Total   int            `json:"total"`
	Notices []demo.Notice  `json:"notices"`
}

// as reads the acting staff member (?as=U...), which may be absent.
func as(r *http.Request) (string, error) {
	id := r.URL.Query().Get("as")
	if id == "" {
		return "", nil
	}
	if _, ok := demo.PersonByID(r.PathValue("desk"), id); !ok {
		return "", fmt.Errorf("%w %q", demo.ErrUnknownPerson, id)
	}
	return id, nil
}

func (s *Sandbox) channel(w http.ResponseWriter, r *http.Request) {
	desk, ch := r.PathValue("desk"), r.PathValue("channel")
	user, err := as(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	cards, total, err := s.w.Cards(desk, ch, maxCards)
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	v := channelView{Desk: desk, Channel: ch, Cards: nonNil(cards), Total: total}
	if user != "" {
		v.Notices, _ = s.w.Notices(desk, ch, user, maxNotes)
	}
	v.Notices = nonNil(v.Notices)
	writeJSON(w, http.StatusOK, v)
}

type threadView struct {
	Desk     string         `json:"desk"`
	Channel  string         `json:"channel"`
	Thread   string         `json:"thread"`
	Messages []demo.Message `json:"messages"`
	Notices  []demo.Notice  `json:"notices"`
}

func (s *Sandbox) thread(w http.ResponseWriter, r *http.Request) {
	desk, ch, ts := r.PathValue("desk"), r.PathValue("channel"), r.PathValue("thread")
	user, err := as(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	msgs, err := s.w.Thread(desk, ch, ts)
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	v := threadView{Desk: desk, Channel: ch, Thread: ts, Messages: nonNil(msgs), Notices: []demo.Notice{}}
	if user != "" {
		all, _ := s.w.Notices(desk, ch, user, 1000)
		for _, n := range all {
			if n.Thread == ts {
				v.Notices = append(v.Notices, n)
			}
		}
		if len(v.Notices) > maxNotes {
			v.Notices = v.Notices[len(v.Notices)-maxNotes:]
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Sandbox) locate(w http.ResponseWriter, r *http.Request) {
	link := r.URL.Query().Get("url")
	if link == "" || len(link) > 2048 {
		fail(w, http.StatusBadRequest, "give the link as ?url=")
		return
	}
	p, ok := s.w.Locate(link)
	if !ok {
		fail(w, http.StatusNotFound, "that link points at nothing in the demo's networks")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// ---- actions ----

type postReq struct {
	Network   string `json:"network"`
	Handle    string `json:"handle"`
	Text      string `json:"text"`
	InReplyTo string `json:"in_reply_to"`
	Direct    bool   `json:"direct"`
}

func (s *Sandbox) post(r *http.Request, q postReq) (any, error) {
	if q.Direct && q.InReplyTo != "" {
		return nil, errors.New("a direct message does not reply to a public post: leave one of them out")
	}
	if len(q.InReplyTo) > 512 {
		return nil, demo.ErrNoSuchPost
	}
	return s.w.Post(r.Context(), q.Network, q.Handle, q.Text, demo.PostOptions{InReplyTo: q.InReplyTo, Direct: q.Direct})
}

// actor is who acts: every desk action names its desk and person.
type actor struct {
	Desk string `json:"desk"`
	As   string `json:"as"`
}

var errNobody = errors.New("pick who you are acting as")

func (a actor) check() error {
	if a.As == "" {
		return errNobody
	}
	return nil
}

// msgRef names a message: the channel it lives in (demo.Message.Channel) and its id.
type msgRef struct {
	actor
	Channel string `json:"channel"`
	ID      string `json:"id"`
}

type sayReq struct {
	actor
	Channel string `json:"channel"`
	Thread  string `json:"thread"`
	Text    string `json:"text"`
}

// sent is the answer to a message written: its id.
type sent struct {
	ID string `json:"id"`
}

type ok struct {
	OK bool `json:"ok"`
}

func (s *Sandbox) say(_ *http.Request, q sayReq) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	id, err := s.w.Say(q.Desk, q.Channel, q.Thread, q.As, q.Text)
	return sent{ID: id}, err
}

type editReq struct {
	msgRef
	Text string `json:"text"`
}

func (s *Sandbox) edit(_ *http.Request, q editReq) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return ok{true}, s.w.Edit(q.Desk, q.Channel, q.ID, q.As, q.Text)
}

func (s *Sandbox) deleteMsg(_ *http.Request, q msgRef) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return ok{true}, s.w.Delete(q.Desk, q.Channel, q.ID, q.As)
}

type pressReq struct {
	msgRef
	Action string `json:"action"`
	Option string `json:"option"`
}

func (s *Sandbox) press(_ *http.Request, q pressReq) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return ok{true}, s.w.Press(q.Desk, q.Channel, q.ID, q.As, q.Action, q.Option)
}

type slashReq struct {
	actor
	Channel string `json:"channel"`
	Thread  string `json:"thread"` // run inside this thread (where the desk allows it)
	// Line is the whole command as typed: "/claim E-3".
	Line string `json:"line"`
}

func (s *Sandbox) slash(_ *http.Request, q slashReq) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	line := strings.TrimSpace(q.Line)
	if !strings.HasPrefix(line, "/") {
		return nil, fmt.Errorf("%w: a slash command starts with / (try /earshot help)", demo.ErrBadCommand)
	}
	return ok{true}, s.w.Slash(q.Desk, q.Channel, q.Thread, q.As, line)
}

// retryAfter is sent to the browser for reconnecting live updates.
const retryAfter = 2 * time.Second
