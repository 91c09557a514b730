package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	gomastodon "github.com/mattn/go-mastodon"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// state is what survives a restart, in Deps.DataDir/mastodon-state.json.
type state struct {
	LastNotification string `json:"last_notification_id"`
	// Hashtags is, per followed hashtag, the newest status handled from
	// it ("0": none yet): after a reconnect or a restart the tag's
	// timeline is read from there, so keyword posts made meanwhile arrive.
	Hashtags map[string]string `json:"hashtags,omitempty"`
}

func (n *Network) statePath() string {
	if n.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(n.deps.DataDir, "mastodon-state.json")
}

func (n *Network) loadState() error {
	p := n.statePath()
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mastodon: read state: %w", err)
	}
	if err := json.Unmarshal(b, &n.state); err != nil {
		return fmt.Errorf("mastodon: decode state %s: %w", p, err)
	}
	return nil
}

// saveState writes the state atomically; called with n.mu held.
func (n *Network) saveStateLocked() {
	p := n.statePath()
	if p == "" {
		return
	}
	if err := statefile.WriteJSON(p, n.state); err != nil {
		n.log.Warn("mastodon: save state", "err", err)
	}
}

// idLess compares Mastodon ids (numeric strings of any length).
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// noteNotification remembers the newest notification handled.
func (n *Network) noteNotification(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if idLess(n.state.LastNotification, id) {
		n.state.LastNotification = id
		n.saveStateLocked()
	}
}

// noteTagStatus remembers the newest status handled from hashtag tag.
func (n *Network) noteTagStatus(tag, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state.Hashtags == nil {
		n.state.Hashtags = map[string]string{}
	}
	if last, ok := n.state.Hashtags[tag]; !ok || idLess(last, id) {
		n.state.Hashtags[tag] = id
		n.saveStateLocked()
	}
}

// seenSet remembers the last ids delivered, so a status that arrives twice
// (stream and gap-fill poll, notification and hashtag) goes in once.
type seenSet struct {
	mu    sync.Mutex
	ids   map[string]bool
	order []string
	max   int
}

func newSeenSet(max int) *seenSet { return &seenSet{ids: map[string]bool{}, max: max} }

// add returns false when id was already there.
func (s *seenSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

func (s *seenSet) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// Listen delivers mentions, our own statuses and hashtag posts into in until
// ctx ends. It blocks, reconnects with backoff, and fills gaps by polling.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	backoff := newBackoff()
	for {
		_, err := n.ensureMe(ctx)
		if err == nil {
			// The very first start notes where history ends, before a
			// stream opens: everything after that point is delivered.
			err = n.baseline(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.log.Warn("mastodon: cannot start listening", "err", err)
			if !backoff.sleep(ctx) {
				return nil
			}
			continue
		}
		break
	}
	var wg sync.WaitGroup
	wg.Go(func() { n.streamLoop(ctx, in, "user", "") })
	for _, tag := range n.cfg.Hashtags {
		wg.Go(func() { n.streamLoop(ctx, in, "hashtag", tag) })
	}
	wg.Wait()
	return nil
}

// streamLoop keeps one stream connected until ctx ends.
func (n *Network) streamLoop(ctx context.Context, in bridge.Inbox, kind, tag string) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		healthy, err := n.runStream(ctx, in, kind, tag)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			backoff.reset()
		}
		n.log.Info("mastodon: stream ended, reconnecting", "stream", kind, "err", err)
		var rl *rateLimitError
		if errors.As(err, &rl) && rl.wait > 0 {
			// The instance said when: wait for its reset, not the backoff.
			t := time.NewTimer(rl.wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if !backoff.sleep(ctx) {
			return
		}
	}
}

// eventSource yields stream events until the connection ends.
type eventSource interface {
	Next() (sseEvent, error)
	Close()
}

// runStream connects once, fills the gap (user stream), then handles events
// until the connection ends. healthy reports that it connected.
func (n *Network) runStream(ctx context.Context, in bridge.Inbox, kind, tag string) (healthy bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := n.connect(ctx, cancel, kind, tag)
	if err != nil {
		return false, err
	}
	defer src.Close()
	// Connected first, polled second: anything newer arrives on the
	// stream, anything older through the poll, and seen drops overlaps.
	if kind == "user" {
		if err := n.fillGap(ctx, in); err != nil {
			return true, fmt.Errorf("mastodon: fill the mentions gap: %w", err)
		}
	} else if err := n.fillTagGap(ctx, in, tag); err != nil {
		return true, fmt.Errorf("mastodon: fill the #%s gap: %w", tag, err)
	}
	for {
		ev, err := src.Next()
		if err != nil {
			return true, err
		}
		n.handle(ctx, in, kind, tag, ev)
	}
}

// connect opens one stream; cancel ends it (runStream cancels on return).
func (n *Network) connect(ctx context.Context, cancel context.CancelFunc, kind, tag string) (eventSource, error) {
	n.mu.Lock()
	base := n.streamURL
	n.mu.Unlock()
	start := time.Now()
	if n.cfg.Stream == "websocket" {
		q := url.Values{"stream": {kind}}
		if tag != "" {
			q.Set("tag", tag)
		}
		dctx, dcancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer dcancel()
		c, _, err := websocket.Dial(dctx, base+"/api/v1/streaming?"+q.Encode(), &websocket.DialOptions{
			HTTPClient: &http.Client{Transport: http.DefaultTransport},
			HTTPHeader: http.Header{"Authorization": {"Bearer " + n.cfg.AccessToken}},
		})
		if err != nil {
			n.deps.Requests.ObserveRequest(Name, "stream", bridge.OutcomeError, time.Since(start))
			return nil, fmt.Errorf("mastodon: open %s stream: %w", kind, redact(err, n.cfg.AccessToken))
		}
		n.deps.Requests.ObserveRequest(Name, "stream", bridge.OutcomeOK, time.Since(start))
		c.SetReadLimit(maxSSELine)
		go keepAlive(ctx, cancel, c, n.idle)
		return &wsSource{ctx: ctx, c: c}, nil
	}
	u := "http" + strings.TrimPrefix(base, "ws") + "/api/v1/streaming/" + kind
	if tag != "" {
		u += "?tag=" + url.QueryEscape(tag)
	}
	req, err := http.NewRequestWithContext(withOp(ctx, "stream"), http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("mastodon: open %s stream: %w", kind, err)
	}
	req.Header.Set("Authorization", "Bearer "+n.cfg.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	// Bound the wait for the response headers only; the body streams on.
	timer := time.AfterFunc(n.cfg.RequestTimeout, cancel)
	resp, err := n.stream.Do(req)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		return nil, fmt.Errorf("mastodon: open %s stream: %w", kind, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("mastodon: open %s stream: %w", kind, apiError(resp))
	}
	body := &idleReader{r: resp.Body, t: time.AfterFunc(n.idle, cancel), idle: n.idle}
	return &sseSource{r: newSSEReader(body), body: resp.Body, t: body.t}, nil
}

// idleReader ends a stream (through the timer's cancel) when no byte, not
// even a ":thump" keep-alive, arrived for idle: a half-open connection.
type idleReader struct {
	r    io.Reader
	t    *time.Timer
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
	}
	return n, err
}

// keepAlive pings a WebSocket every idle/3 and ends the stream (cancel)
// when a pong does not come back within idle/3: a half-open connection.
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

type sseSource struct {
	r    *sseReader
	body io.ReadCloser
	t    *time.Timer
}

func (s *sseSource) Next() (sseEvent, error) { return s.r.Next() }
func (s *sseSource) Close()                  { s.t.Stop(); s.body.Close() }

type wsSource struct {
	ctx context.Context
	c   *websocket.Conn
}

func (s *wsSource) Next() (sseEvent, error) {
	for {
		_, b, err := s.c.Read(s.ctx)
		if err != nil {
			return sseEvent{}, err
		}
		ev, err := decodeWSMessage(b)
		if err != nil {
			continue // one bad frame does not end the stream
		}
		return ev, nil
	}
}
func (s *wsSource) Close() { _ = s.c.CloseNow() }

// redact removes the token from an error's text (a dial error may quote the URL).
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// baseline, on the very first start (no id kept), notes the newest
// notification as history. Otherwise it does nothing.
func (n *Network) baseline(ctx context.Context) error {
	n.mu.Lock()
	last := n.state.LastNotification
	n.mu.Unlock()
	if last != "" {
		return nil
	}
	return n.fillGap(ctx, nil)
}

// fillGap delivers mention notifications newer than the last one handled.
// On the very first start (no id kept) it only notes where "now" is.
func (n *Network) fillGap(ctx context.Context, in bridge.Inbox) error {
	n.mu.Lock()
	last := n.state.LastNotification
	n.mu.Unlock()
	const page = 40
	for {
		q := url.Values{"types[]": {"mention"}, "limit": {strconv.Itoa(page)}}
		if last != "" {
			q.Set("min_id", last)
		}
		var notes []gomastodon.Notification
		if err := n.getJSON(ctx, "notifications", "/api/v1/notifications", q, &notes); err != nil {
			return err
		}
		sort.Slice(notes, func(i, j int) bool { return idLess(string(notes[i].ID), string(notes[j].ID)) })
		if last == "" {
			// First start (baseline, before any stream opens): what is
			// there is history. "0" marks "nothing yet", so the next gap
			// fill delivers everything after it.
			base := "0"
			if len(notes) > 0 {
				base = string(notes[len(notes)-1].ID)
			}
			n.noteNotification(base)
			return nil
		}
		for _, nt := range notes {
			if !idLess(last, string(nt.ID)) {
				continue
			}
			n.handleNotification(ctx, in, nt)
			last = string(nt.ID)
		}
		if len(notes) < page {
			return nil
		}
	}
}

// fillTagGap delivers the public statuses with hashtag tag newer than the
// last one handled from it, oldest first, paging forward through the tag's
// timeline. The very first time (nothing kept) it only notes where the
// timeline is. It stops at a post the inbox did not take: the next
// (re)connect starts from there.
func (n *Network) fillTagGap(ctx context.Context, in bridge.Inbox, tag string) error {
	n.mu.Lock()
	last, known := n.state.Hashtags[tag]
	n.mu.Unlock()
	path := "/api/v1/timelines/tag/" + url.PathEscape(tag)
	if !known {
		var sts []gomastodon.Status
		if err := n.getJSON(ctx, "tag_timeline", path, url.Values{"limit": {"1"}}, &sts); err != nil {
			return err
		}
		base := "0"
		if len(sts) > 0 {
			base = string(sts[0].ID)
		}
		n.noteTagStatus(tag, base)
		return nil
	}
	const page = 40
	for {
		var sts []gomastodon.Status
		q := url.Values{"min_id": {last}, "limit": {strconv.Itoa(page)}}
		if err := n.getJSON(ctx, "tag_timeline", path, q, &sts); err != nil {
			return err
		}
		sort.Slice(sts, func(i, j int) bool { return idLess(string(sts[i].ID), string(sts[j].ID)) })
		for i := range sts {
			st := &sts[i]
			if !idLess(last, string(st.ID)) {
				continue
			}
			if st.Reblog == nil && !n.deliver(ctx, in, st) {
				return fmt.Errorf("status %s not handed over", st.ID)
			}
			last = string(st.ID)
			n.noteTagStatus(tag, last)
		}
		if len(sts) < page {
			return nil
		}
	}
}

// handle dispatches one stream event (tag: the hashtag of a hashtag stream).
func (n *Network) handle(ctx context.Context, in bridge.Inbox, kind, tag string, ev sseEvent) {
	switch ev.Event {
	case "notification":
		var nt gomastodon.Notification
		if err := json.Unmarshal([]byte(ev.Data), &nt); err != nil {
			n.log.Warn("mastodon: undecodable notification", "err", err)
			return
		}
		n.handleNotification(ctx, in, nt)
	case "update":
		var st gomastodon.Status
		if err := json.Unmarshal([]byte(ev.Data), &st); err != nil {
			n.log.Warn("mastodon: undecodable status", "err", err)
			return
		}
		if st.Reblog != nil {
			return
		}
		me, _ := n.ensureMe(ctx)
		fromUs := me != nil && st.Account.ID == me.ID
		if kind == "user" && !fromUs {
			return // home timeline noise; mentions come as notifications
		}
		if n.deliver(ctx, in, &st) && kind == "hashtag" {
			n.noteTagStatus(tag, string(st.ID))
		}
	}
}

func (n *Network) handleNotification(ctx context.Context, in bridge.Inbox, nt gomastodon.Notification) {
	if nt.Type == "mention" && nt.Status != nil {
		if !n.deliver(ctx, in, nt.Status) {
			return // not handed over: keep the id so the next gap fill retries
		}
	}
	n.noteNotification(string(nt.ID))
}

// deliver converts st and hands it to the inbox once. It reports whether
// the post is now with the bridge (or was already).
func (n *Network) deliver(ctx context.Context, in bridge.Inbox, st *gomastodon.Status) bool {
	id := string(st.ID)
	if !n.seen.add(id) {
		return true
	}
	p, err := n.toPost(ctx, st)
	if err == nil {
		err = in.Post(ctx, p)
	}
	if err != nil {
		n.seen.forget(id)
		n.log.Warn("mastodon: could not hand over a post", "post", id, "err", err)
		return false
	}
	return true
}

// toPost converts a status. It may fetch the status context to find the
// conversation root (cached).
func (n *Network) toPost(ctx context.Context, st *gomastodon.Status) (bridge.Post, error) {
	me, err := n.ensureMe(ctx)
	if err != nil {
		return bridge.Post{}, err
	}
	n.mu.Lock()
	domain := n.domain
	n.mu.Unlock()
	p := bridge.Post{
		Network: Name,
		ID:      string(st.ID),
		Author: bridge.Author{
			ID: string(st.Account.ID), Handle: fullHandle(st.Account.Acct, domain), Name: st.Account.DisplayName,
			URL: st.Account.URL, Avatar: st.Account.Avatar, Followers: int(st.Account.FollowersCount),
		},
		Text:      PlainText(st.Content),
		URL:       st.URL,
		InReplyTo: idString(st.InReplyToID),
		Lang:      st.Language,
		CreatedAt: st.CreatedAt,
		Direct:    st.Visibility == gomastodon.VisibilityDirectMessage,
		FromUs:    st.Account.ID == me.ID,
		ReplyToUs: idString(st.InReplyToAccountID) == string(me.ID),
	}
	if st.SpoilerText != "" {
		p.Text = "CW: " + st.SpoilerText + "\n\n" + p.Text
	}
	for _, m := range st.Mentions {
		if m.ID == me.ID {
			p.MentionsUs = true
		}
	}
	if p.InReplyTo != "" {
		root, err := n.rootOf(ctx, p.ID, p.InReplyTo)
		if err != nil {
			return bridge.Post{}, err
		}
		p.Conversation = root
	}
	n.mu.Lock()
	n.roots[p.ID] = p.ConversationKey()
	n.mu.Unlock()
	return p, nil
}

// rootOf finds the conversation root of status id, whose parent is parent:
// from the cache when the parent is known, else from the status context.
func (n *Network) rootOf(ctx context.Context, id, parent string) (string, error) {
	n.mu.Lock()
	root, ok := n.roots[parent]
	n.mu.Unlock()
	if ok {
		return root, nil
	}
	cctx, cancel := n.reqCtx(ctx, "status_context")
	defer cancel()
	c, err := n.api.GetStatusContext(cctx, gomastodon.ID(id))
	if err != nil {
		var ae *gomastodon.APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
			return parent, nil // the thread is gone: the parent is the best root we know
		}
		return "", fmt.Errorf("mastodon: find conversation of %s: %w", id, err)
	}
	if len(c.Ancestors) == 0 {
		return parent, nil
	}
	return string(c.Ancestors[0].ID), nil
}

// fullHandle makes "ana" into "ana@instance" (local accounts come without a domain).
func fullHandle(acct, domain string) string {
	if acct == "" || strings.Contains(acct, "@") || domain == "" {
		return acct
	}
	return acct + "@" + domain
}

// idString reads go-mastodon's interface{} ids (string, number or null).
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

// backoff is the reconnect delay: 200ms doubling to 30s, with jitter.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 200 * time.Millisecond} }
func (b *backoff) reset()  { b.d = 200 * time.Millisecond }

// sleep waits the current delay (or until ctx ends: false) and doubles it.
func (b *backoff) sleep(ctx context.Context) bool {
	d := b.d/2 + rand.N(b.d/2+1)
	b.d = min(2*b.d, 30*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
