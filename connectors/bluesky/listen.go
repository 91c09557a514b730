package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// Record types, as the lexicon names their fields.
type strongRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

type replyRef struct {
	Root   strongRef `json:"root"`
	Parent strongRef `json:"parent"`
}

type facetFeature struct {
	Type string `json:"$type"`
	DID  string `json:"did,omitempty"`
	URI  string `json:"uri,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

type facet struct {
	Index struct {
		ByteStart int `json:"byteStart"`
		ByteEnd   int `json:"byteEnd"`
	} `json:"index"`
	Features []facetFeature `json:"features"`
}

type postRecord struct {
	Type      string    `json:"$type"`
	Text      string    `json:"text"`
	CreatedAt string    `json:"createdAt"`
	Langs     []string  `json:"langs,omitempty"`
	Reply     *replyRef `json:"reply,omitempty"`
	Facets    []facet   `json:"facets,omitempty"`
}

// jetEvent is one Jetstream message (only what we read).
type jetEvent struct {
	DID    string `json:"did"`
	TimeUS int64  `json:"time_us"`
	Kind   string `json:"kind"`
	Commit *struct {
		Operation  string          `json:"operation"`
		Collection string          `json:"collection"`
		Rkey       string          `json:"rkey"`
		CID        string          `json:"cid"`
		Record     json.RawMessage `json:"record"`
	} `json:"commit"`
}

// jetPost is a decoded post commit.
type jetPost struct {
	URI, CID, DID string
	TimeUS        int64
	Record        postRecord
}

// decodeJetstream decodes one message. ok=false for messages that are not
// the creation of a post (identity, account, deletes, other collections);
// err for malformed ones.
func decodeJetstream(b []byte) (p jetPost, timeUS int64, ok bool, err error) {
	var ev jetEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return jetPost{}, 0, false, fmt.Errorf("decode jetstream event: %w", err)
	}
	if ev.Kind != "commit" || ev.Commit == nil || ev.Commit.Operation != "create" || ev.Commit.Collection != "app.bsky.feed.post" {
		return jetPost{}, ev.TimeUS, false, nil
	}
	if !strings.HasPrefix(ev.DID, "did:") || ev.Commit.Rkey == "" || strings.Contains(ev.Commit.Rkey, "/") {
		return jetPost{}, ev.TimeUS, false, errors.New("decode jetstream event: bad did or rkey")
	}
	var rec postRecord
	if err := json.Unmarshal(ev.Commit.Record, &rec); err != nil {
		return jetPost{}, ev.TimeUS, false, fmt.Errorf("decode post record: %w", err)
	}
	return jetPost{URI: "at://" + ev.DID + "/app.bsky.feed.post/" + ev.Commit.Rkey, CID: ev.Commit.CID,
		DID: ev.DID, TimeUS: ev.TimeUS, Record: rec}, ev.TimeUS, true, nil
}

// maxTimeUS bounds a time_us scanTimeUS takes (about the year 38500;
// Jetstream's are near 1.7e15).
const maxTimeUS = 1 << 60

// scanTimeUS finds the event's top-level "time_us" without decoding it all
// (Jetstream writes it before the commit). 0 when absent.
func scanTimeUS(b []byte) int64 {
	i := bytes.Index(b, []byte(`"time_us":`))
	if i < 0 {
		return 0
	}
	var us int64
	for _, c := range b[i+len(`"time_us":`):] {
		if c == ' ' && us == 0 {
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		// Refuse before multiplying: checked after, the product may
		// already have wrapped negative (9227000000000000000 did).
		d := int64(c - '0')
		if us > (maxTimeUS-d)/10 {
			return 0
		}
		us = us*10 + d
	}
	return us
}

// ---- cursor ----

func (n *Network) cursorPath() string {
	if n.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(n.deps.DataDir, "bluesky-cursor.json")
}

func (n *Network) loadCursor() error {
	p := n.cursorPath()
	if p == "" {
		return nil
	}
	var st struct {
		TimeUS int64 `json:"time_us"`
	}
	if err := statefile.ReadJSON(p, &st); err != nil {
		return fmt.Errorf("bluesky: load cursor: %w", err)
	}
	n.cursor = st.TimeUS
	return nil
}

// advance notes that every event up to us is handled; it saves the cursor
// at most once a second (force: now).
func (n *Network) advance(us int64, force bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if us > n.cursor {
		n.cursor = us
	}
	p := n.cursorPath()
	if p == "" || (!force && time.Since(n.saved) < time.Second) {
		return
	}
	n.saved = time.Now()
	if err := statefile.WriteJSON(p, map[string]int64{"time_us": n.cursor}); err != nil {
		n.log.Warn("bluesky: save cursor", "err", err)
	}
}

// ---- listening ----

// Listen reads Jetstream until ctx ends, reconnecting from the cursor.
// Customers' DMs are polled from the chat log alongside (chat.go).
// Retries wait a jittered, capped, growing delay (connectors/internal/
// backoff) that starts again from its minimum only after a connection
// stayed up; a login the PDS refuses for a reason only a person can fix
// (a wrong app password, an account taken down) is tried again at most
// every few minutes, and its reason is the connector's health.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	bo := backoff.New(n.backoff)
	var me string
	for {
		var err error
		if me, err = n.me(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		floor := time.Duration(0)
		var xe *xrpcError
		if _, refused := accountRefusal(err); refused {
			floor = refusedLoginWait
		} else if errors.As(err, &xe) {
			floor = xe.Wait
		} else {
			n.health.setStream("Bluesky: cannot reach the PDS to log in: " + err.Error())
		}
		wait := bo.Next(floor)
		n.log.Warn("bluesky: cannot log in to listen", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
	}
	bo.Reset()
	var wg sync.WaitGroup
	defer wg.Wait()
	if n.cfg.ChatPoll > 0 {
		wg.Go(func() { n.chatLoop(ctx, in, me) })
	}
	for ctx.Err() == nil {
		upFor, err := n.runStream(ctx, in, me)
		if ctx.Err() != nil {
			break
		}
		bo.Done(upFor)
		if upFor == 0 {
			n.health.setStream("Bluesky: cannot connect to Jetstream: " + err.Error())
		}
		wait := bo.Next(0)
		n.log.Info("bluesky: stream ended, reconnecting", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			break
		}
	}
	n.mu.Lock()
	cur := n.cursor
	n.mu.Unlock()
	n.advance(cur, true)
	return nil
}

// refusedLoginWait is the least wait between logins the PDS refused for a
// reason only a person can fix: createSession is scarce (bsky.social
// allows 30 in 5 minutes), and nothing changes faster than that.
const refusedLoginWait = 5 * time.Minute

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runStream connects once from the cursor and handles events until the
// connection ends; upFor is how long it was connected (0: it never was).
// Events are replayed from the cursor inclusive; seen drops what was
// already delivered.
func (n *Network) runStream(ctx context.Context, in bridge.Inbox, me string) (upFor time.Duration, err error) {
	n.mu.Lock()
	cursor := n.cursor
	n.mu.Unlock()
	q := url.Values{"wantedCollections": {"app.bsky.feed.post"}}
	if cursor > 0 {
		q.Set("cursor", strconv.FormatInt(cursor, 10))
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	start := time.Now()
	c, _, err := websocket.Dial(dctx, n.cfg.Jetstream+"?"+q.Encode(), &websocket.DialOptions{HTTPClient: &http.Client{}})
	cancel()
	if err != nil {
		n.deps.Requests.ObserveRequest(Name, "jetstream", bridge.OutcomeError, time.Since(start))
		return 0, fmt.Errorf("bluesky: connect jetstream: %w", err)
	}
	n.deps.Requests.ObserveRequest(Name, "jetstream", bridge.OutcomeOK, time.Since(start))
	n.health.setStream("")
	connected := time.Now()
	defer c.CloseNow()
	sctx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	go keepAlive(sctx, cancelStream, c, n.idle)
	if cursor == 0 {
		// First connection ever: from now on (a little earlier, for clock
		// skew), so a drop before the first event still resumes without a gap.
		n.advance(n.deps.Now().Add(-5*time.Second).UnixMicro(), false)
	}
	c.SetReadLimit(2 << 20)
	defer func() {
		n.mu.Lock()
		cur := n.cursor
		n.mu.Unlock()
		n.advance(cur, true)
	}()
	meBytes := []byte(me)
	for {
		_, b, err := c.Read(sctx)
		if err != nil {
			return max(time.Since(connected), time.Nanosecond), err
		}
		if len(n.cfg.Keywords) == 0 && !bytes.Contains(b, meBytes) {
			// Without keywords only posts naming our DID (author, mention
			// facet, reply ref) matter: skip the full decode of the rest.
			if us := scanTimeUS(b); us > 0 {
				n.advance(us, false)
			}
			continue
		}
		p, us, ok, err := decodeJetstream(b)
		if err != nil {
			n.log.Debug("bluesky: skipped a malformed event", "err", err)
		}
		if ok {
			if err := n.consider(ctx, in, me, p); err != nil {
				// Not handed over: reconnect from the cursor before it.
				return max(time.Since(connected), time.Nanosecond), err
			}
		}
		if us > 0 {
			n.advance(us, false)
		}
	}
}

// consider delivers p if it concerns us.
func (n *Network) consider(ctx context.Context, in bridge.Inbox, me string, p jetPost) error {
	post, relevant := n.classifyPost(me, p)
	if !relevant || !n.seen.Add(p.URI) {
		return nil
	}
	post.Author = n.author(ctx, p.DID)
	_, rkey, _ := splitPostURI(p.URI)
	post.URL = "https://bsky.app/profile/" + post.Author.Handle + "/post/" + rkey
	if err := in.Post(ctx, post); err != nil {
		n.seen.Forget(p.URI)
		return fmt.Errorf("bluesky: hand over %s: %w", p.URI, err)
	}
	return nil
}

// classifyPost builds the Post (without author details) and says whether it
// concerns us: a mention, a reply to us, our own, or a keyword. Pure.
func (n *Network) classifyPost(me string, p jetPost) (bridge.Post, bool) {
	r := p.Record
	post := bridge.Post{
		Network: Name, ID: p.URI, Text: r.Text,
		Ref:    map[string]string{"uri": p.URI, "cid": p.CID},
		FromUs: p.DID == me,
	}
	if t, err := time.Parse(time.RFC3339Nano, r.CreatedAt); err == nil {
		post.CreatedAt = t
	} else {
		post.CreatedAt = time.UnixMicro(p.TimeUS).UTC()
	}
	if len(r.Langs) > 0 {
		post.Lang = r.Langs[0]
	}
	if r.Reply != nil && r.Reply.Parent.URI != "" {
		post.InReplyTo = r.Reply.Parent.URI
		post.Conversation = r.Reply.Root.URI
		if post.Conversation == "" {
			post.Conversation = r.Reply.Parent.URI
		}
		post.Ref["root_uri"], post.Ref["root_cid"] = r.Reply.Root.URI, r.Reply.Root.CID
		if post.Ref["root_uri"] == "" {
			post.Ref["root_uri"], post.Ref["root_cid"] = r.Reply.Parent.URI, r.Reply.Parent.CID
		}
		post.ReplyToUs = strings.HasPrefix(r.Reply.Parent.URI, "at://"+me+"/")
	}
	for _, f := range r.Facets {
		for _, feat := range f.Features {
			if feat.Type == "app.bsky.richtext.facet#mention" && feat.DID == me {
				post.MentionsUs = true
			}
		}
	}
	relevant := post.MentionsUs || post.ReplyToUs || post.FromUs
	if !relevant && len(n.cfg.Keywords) > 0 {
		low := strings.ToLower(r.Text)
		for _, k := range n.cfg.Keywords {
			if strings.Contains(low, k) {
				relevant = true
				break
			}
		}
	}
	return post, relevant
}

// ---- small helpers ----

// keepAlive pings the Jetstream connection every idle/3 and ends the
// stream (cancel) when no pong comes back within idle/3: a half-open
// connection would otherwise block the read forever.
func keepAlive(ctx context.Context, cancel context.CancelFunc, c *websocket.Conn, idle time.Duration) {
	t := time.NewTicker(idle / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, idle/3)
		err := c.Ping(pctx)
		pcancel()
		if err != nil {
			cancel()
			return
		}
	}
}
