package discordfake

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gateway.go is the WebSocket gateway: HELLO (op 10), IDENTIFY (op 2) →
// READY and GUILD_CREATE, heartbeats (op 1) answered with op 11, dispatches
// (op 0) with a sequence number per session, RESUME (op 6) replaying what
// the session missed then RESUMED, INVALID_SESSION (op 9) for an unknown
// session, RECONNECT (op 7) on request. Frames are JSON text; the fake never
// compresses.

// maxBacklog is how many dispatches a session keeps for RESUME.
const maxBacklog = 4096

// frame is one dispatch kept for replay.
type frame struct {
	seq int64
	raw []byte
}

// session is one identified gateway session; it outlives its connection so
// that a RESUME can replay what was missed.
type session struct {
	id      string
	seq     int64
	intents int
	backlog []frame
	conn    *gwConn
}

// gwConn is one WebSocket connection with its ordered writer.
type gwConn struct {
	ws   *websocket.Conn
	out  chan []byte
	done chan struct{}
	once sync.Once
}

func (c *gwConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

// send queues raw for the writer; a connection that cannot keep up is
// dropped (its session resumes later and misses nothing).
func (c *gwConn) send(raw []byte) {
	select {
	case c.out <- raw:
	case <-c.done:
	default:
		c.close()
	}
}

func (c *gwConn) sendJSON(v any) {
	raw, _ := json.Marshal(v)
	c.send(raw)
}

func (c *gwConn) writer() {
	for {
		select {
		case raw := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, raw); err != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// dispatchTo sends event t with payload d to session s; f.mu held.
func (f *Fake) dispatchTo(s *session, t string, d any) {
	s.seq++
	body, _ := json.Marshal(d)
	raw, _ := json.Marshal(map[string]any{"op": 0, "s": s.seq, "t": t, "d": json.RawMessage(body)})
	s.backlog = append(s.backlog, frame{seq: s.seq, raw: raw})
	if len(s.backlog) > maxBacklog {
		s.backlog = s.backlog[len(s.backlog)-maxBacklog:]
	}
	if s.conn != nil {
		s.conn.send(raw)
	}
}

// dispatch sends event t to every session; f.mu held.
func (f *Fake) dispatch(t string, d any) {
	for _, s := range f.sessions {
		f.dispatchTo(s, t, d)
	}
}

// dispatchMessage sends a message event, shaped by each session's intents; f.mu held.
func (f *Fake) dispatchMessage(t string, m *Message) {
	for _, s := range f.sessions {
		f.dispatchTo(s, t, f.messageJSON(m, s.intents))
	}
}

type gatewayFrame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
}

// gateway serves one WebSocket connection until it closes.
func (f *Fake) gateway(w http.ResponseWriter, r *http.Request) {
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws, out: make(chan []byte, 8192), done: make(chan struct{})}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		c.close()
		return
	}
	f.wg.Add(2) // this handler and the connection's writer
	f.mu.Unlock()
	defer f.wg.Done()
	go func() {
		defer f.wg.Done()
		c.writer()
	}()
	interval := f.opts.HeartbeatInterval
	c.sendJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": interval.Milliseconds()}})

	var s *session
	defer func() {
		f.mu.Lock()
		if s != nil && s.conn == c {
			s.conn = nil
		}
		f.mu.Unlock()
		c.close()
	}()
	for {
		// Discord closes a connection that stops heartbeating.
		_ = ws.SetReadDeadline(time.Now().Add(3*interval + time.Second))
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var fr gatewayFrame
		if json.Unmarshal(raw, &fr) != nil {
			c.closeWith(4002, "Error while decoding payload.")
			return
		}
		switch fr.Op {
		case 1:
			f.mu.Lock()
			f.heartbeats++
			f.mu.Unlock()
			c.sendJSON(map[string]any{"op": 11, "d": nil})
		case 2:
			if s != nil {
				c.closeWith(4005, "Already authenticated.")
				return
			}
			if s = f.identify(c, fr.D); s == nil {
				c.closeWith(4004, "Authentication failed.")
				return
			}
		case 6:
			if s != nil {
				c.closeWith(4005, "Already authenticated.")
				return
			}
			s = f.resume(c, fr.D)
		}
	}
}

func (c *gwConn) closeWith(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.close()
}

// identify starts a session for an IDENTIFY payload, or returns nil for a bad token.
func (f *Fake) identify(c *gwConn, d json.RawMessage) *session {
	var in struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if json.Unmarshal(d, &in) != nil || in.Token != "Bot "+f.opts.Token {
		return nil
	}
	f.identifies++
	// Sessions without a connection are given up, as Discord does after a while.
	live := f.sessions[:0]
	for _, old := range f.sessions {
		if old.conn != nil {
			live = append(live, old)
		}
	}
	f.sessions = live
	s := &session{id: "sess-" + f.nextID(), intents: in.Intents, conn: c}
	f.sessions = append(f.sessions, s)
	f.dispatchTo(s, "READY", map[string]any{
		"v": 9, "user": f.userJSON(BotUserID), "session_id": s.id, "resume_gateway_url": f.GatewayURL(),
		"guilds":      []any{map[string]any{"id": f.opts.GuildID, "unavailable": true}},
		"application": map[string]any{"id": AppID, "flags": 0}, "private_channels": []any{},
	})
	f.dispatchTo(s, "GUILD_CREATE", f.guildJSON())
	return s
}

// resume reattaches a session and replays what it missed, or answers
// INVALID_SESSION (the client then identifies afresh).
func (f *Fake) resume(c *gwConn, d json.RawMessage) *session {
	var in struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	_ = json.Unmarshal(d, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	var s *session
	for _, x := range f.sessions {
		if x.id == in.SessionID {
			s = x
		}
	}
	if s == nil || in.Token != "Bot "+f.opts.Token || (len(s.backlog) > 0 && s.backlog[0].seq > in.Seq+1) {
		c.sendJSON(map[string]any{"op": 9, "d": false})
		return nil
	}
	f.resumes++
	if s.conn != nil && s.conn != c {
		s.conn.close()
	}
	s.conn = c
	for _, fr := range s.backlog {
		if fr.seq > in.Seq {
			c.send(fr.raw)
		}
	}
	f.dispatchTo(s, "RESUMED", map[string]any{"_trace": []string{"discordfake"}})
	return s
}

// Reconnect sends op 7 RECONNECT on every gateway connection: the client
// must close and RESUME its session.
func (f *Fake) Reconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.conn != nil {
			s.conn.sendJSON(map[string]any{"op": 7, "d": nil})
		}
	}
}

// DropConnections closes every gateway connection without a word: the
// client must notice and come back by itself.
func (f *Fake) DropConnections() {
	f.mu.Lock()
	var conns []*gwConn
	for _, s := range f.sessions {
		if s.conn != nil {
			conns = append(conns, s.conn)
			s.conn = nil
		}
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Connected reports how many gateway sessions have a live connection.
func (f *Fake) Connected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sessions {
		if s.conn != nil {
			n++
		}
	}
	return n
}

// Identifies reports how many IDENTIFYs succeeded; Resumes how many RESUMEs.
func (f *Fake) Identifies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.identifies
}

// Heartbeats reports how many heartbeats (op 1) the fake acknowledged.
func (f *Fake) Heartbeats() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heartbeats
}

// Resumes reports how many RESUMEs succeeded.
func (f *Fake) Resumes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resumes
}

// Intents returns the intents bit field of the latest IDENTIFY, or -1 before any.
func (f *Fake) Intents() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sessions) == 0 {
		return -1
	}
	return f.sessions[len(f.sessions)-1].intents
}

// DispatchRaw sends event t with payload d, as it is, to every session:
// for fuzzing what the app makes of any dispatch. d must be valid JSON.
func (f *Fake) DispatchRaw(t string, d json.RawMessage) error {
	if !json.Valid(d) {
		return errors.New("discordfake: dispatch payload is not valid JSON")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatch(t, d)
	return nil
}

// AskHeartbeat sends op 1 on every gateway connection: the client must
// heartbeat at once (Heartbeats counts it). Frames are read in order, so
// the answer tells a test that everything sent before was read.
func (f *Fake) AskHeartbeat() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.conn != nil {
			s.conn.sendJSON(map[string]any{"op": 1, "d": s.seq})
		}
	}
}

// Dispatched returns the dispatch frames kept for the newest session's
// RESUME (up to 4096, oldest first) as the client received them: real
// captured events, for fuzz seeds and tests.
func (f *Fake) Dispatched() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sessions) == 0 {
		return nil
	}
	var out [][]byte
	for _, fr := range f.sessions[len(f.sessions)-1].backlog {
		out = append(out, append([]byte(nil), fr.raw...))
	}
	return out
}
