package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	gomastodon "github.com/mattn/go-mastodon"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
)

// noStreamRetry is how long, once no stream works, before the streams are
// tried again (the server may gain one); polling goes on meanwhile.
const noStreamRetry = 30 * time.Minute

// listenState is which streams are connected and which gaps wait for a
// poll. Safe for concurrent use.
type listenState struct {
	mu      sync.Mutex
	userUp  bool
	userGap bool
	tagUp   map[string]bool
	tagGap  map[string]bool
	kick    chan struct{} // a gap is waiting: poll now
}

func newListenState() *listenState {
	return &listenState{tagUp: map[string]bool{}, tagGap: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// connected records a stream (tag "" for the user stream) as up and its
// gap as waiting, and wakes the poller.
func (l *listenState) connected(tag string) {
	l.mu.Lock()
	if tag == "" {
		l.userUp, l.userGap = true, true
	} else {
		l.tagUp[tag], l.tagGap[tag] = true, true
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// disconnected records a stream as down.
func (l *listenState) disconnected(tag string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if tag == "" {
		l.userUp = false
	} else {
		l.tagUp[tag] = false
	}
}

// due takes what the next poll must read: the mentions unless their stream
// is up with no gap, each tag unless trusted, up and without a gap.
func (l *listenState) due(tags []string, trusted bool) (mentions bool, due []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mentions = !l.userUp || l.userGap
	l.userGap = false
	for _, t := range tags {
		if !trusted || !l.tagUp[t] || l.tagGap[t] {
			due = append(due, t)
		}
		l.tagGap[t] = false
	}
	return mentions, due
}

// undo puts back the gaps a failed poll did not fill.
func (l *listenState) undo(mentions bool, tags []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.userGap = l.userGap || mentions && l.userUp
	for _, t := range tags {
		l.tagGap[t] = l.tagGap[t] || l.tagUp[t]
	}
}

// Listen delivers mentions, our own statuses and hashtag posts into in until
// ctx ends. It blocks. First it detects the server, settles idempotency
// (a probe where needed) and notes where history ends; then the user
// stream, the trusted hashtag streams and the poller run until ctx ends,
// each retrying by itself.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	ctx = listening(ctx)
	bo := backoff.New(n.backoff)
	for {
		err := n.start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		floor := rateLimitWait(err)
		var ae *gomastodon.APIError
		if errors.As(err, &ae) && (ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden) {
			floor = max(floor, refusedWait) // only a person fixes a refused token
		}
		wait := bo.Next(floor)
		n.health.setStart("Mastodon: cannot start listening: " + err.Error())
		n.log.Warn("mastodon: cannot start listening", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
	}
	n.health.setStart("")
	n.mu.Lock()
	info := n.server
	n.mu.Unlock()
	ls := newListenState()
	var wg sync.WaitGroup
	wg.Go(func() { n.pollLoop(ctx, in, ls, info) })
	if n.cfg.Stream == streamPoll {
		n.health.setPollOnly("polling every " + n.cfg.PollInterval.String() + " (stream: poll)")
	} else {
		wg.Go(func() { n.userStreamLoop(ctx, in, ls, info) })
		if info.trustsTagStreams() {
			for _, tag := range n.cfg.Hashtags {
				wg.Go(func() { n.tagStreamLoop(ctx, in, ls, tag) })
			}
		}
	}
	wg.Wait()
	return nil
}

// refusedWait is the least wait before trying again with a token the
// server refused: nothing changes until a person fixes the config.
const refusedWait = 5 * time.Minute

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

// start detects the server, proves idempotency where it must, and notes
// where history ends: the newest mention notification on the very first
// start, and for each hashtag not followed before, the newest status with
// it (nothing yet when the server does not know the tag), so the first
// keyword post made after the watch started is delivered.
func (n *Network) start(ctx context.Context) error {
	me, err := n.ensureMe(ctx)
	if err != nil {
		return err
	}
	if err := n.settleIdempotency(ctx, me); err != nil {
		return err
	}
	if n.notes.from() == "" {
		if err := n.fillGap(ctx, nil); err != nil {
			return fmt.Errorf("mastodon: note where the mentions begin: %w", err)
		}
	}
	for _, tag := range n.cfg.Hashtags {
		n.mu.Lock()
		_, known := n.state.Hashtags[tag]
		n.mu.Unlock()
		if known {
			continue
		}
		var sts []gomastodon.Status
		err := n.getJSON(ctx, "tag_timeline", tagPath(tag), url.Values{"limit": {"1"}}, &sts)
		if err != nil && !unknownTag(err) {
			return fmt.Errorf("mastodon: note where #%s begins: %w", tag, err)
		}
		base := "0"
		if len(sts) > 0 {
			base = string(sts[0].ID)
		}
		n.noteTagStatus(tag, base)
	}
	return nil
}

// settleIdempotency runs the probe (server.go) when idempotent: auto and
// neither the software nor an earlier probe of this version says. A probe
// that fails leaves the network not Idempotent and is tried at the next
// start; only a rate limit holds the start back.
func (n *Network) settleIdempotency(ctx context.Context, me *gomastodon.Account) error {
	n.mu.Lock()
	info, kept := n.server, n.state.Server
	n.mu.Unlock()
	if n.cfg.Idempotent != "auto" {
		return nil
	}
	if _, known := info.knownIdempotency(); known {
		return nil
	}
	if kept.Probed && kept.Software == info.Software && kept.Version == info.Version {
		return nil
	}
	honours, err := n.probeIdempotency(ctx, me)
	if rateLimitWait(err) > 0 || ctx.Err() != nil {
		return err
	}
	if err != nil {
		n.log.Warn("mastodon: could not find out whether this server honours Idempotency-Key; a reply that may have gone out will be shown as uncertain",
			"server", info.String(), "err", err)
		return nil
	}
	n.idem.Store(honours)
	n.log.Info("mastodon: idempotency probed", "server", info.String(), "honours_idempotency_key", honours)
	n.mu.Lock()
	n.state.Server = serverState{Software: info.Software, Version: info.Version, Probed: true, Idempotent: honours}
	n.saveStateLocked()
	n.mu.Unlock()
	return nil
}

// userStreamLoop keeps the user stream connected until ctx ends, over the
// configured transport or, with stream: auto, the first the server does
// not refuse as missing. When none works it says so once, at WARN, and
// leaves listening to the poller, trying the streams again now and then.
func (n *Network) userStreamLoop(ctx context.Context, in bridge.Inbox, ls *listenState, info serverInfo) {
	bo := backoff.New(n.backoff)
	modes := n.streamModes(info)
	missing := map[string]string{}
	warned := false
	for ctx.Err() == nil {
		mode := ""
		for _, m := range modes {
			if _, gone := missing[m]; !gone {
				mode = m
				break
			}
		}
		if mode == "" {
			var why []string
			for _, m := range modes {
				why = append(why, missing[m])
			}
			reason := strings.Join(why, ", ")
			n.setMode(streamPoll, reason)
			n.health.setStream(fmt.Sprintf("no stream works on %s (%s)", info, reason))
			if !warned {
				warned = true
				n.log.Warn("mastodon: no stream works on this server; polling instead", "server", info.String(),
					"why", reason, "every", n.cfg.PollInterval)
			}
			if !sleep(ctx, noStreamRetry) {
				return
			}
			clear(missing)
			continue
		}
		n.setMode(mode, autoWhy(values(missing)))
		upFor, err := n.runStream(ctx, in, ls, mode, "user", "")
		if ctx.Err() != nil {
			return
		}
		bo.Done(upFor)
		if missingStream(err) {
			missing[mode] = streamName(mode) + " refused: " + statusOf(err)
			continue
		}
		n.noteAccount(errorsOnlyAuth(err))
		n.health.setStream(fmt.Sprintf("the mentions stream (%s) is down: %v", streamName(mode), err))
		wait := bo.Next(rateLimitWait(err))
		n.log.Info("mastodon: stream ended, reconnecting", "stream", "user", "mode", mode, "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// errorsOnlyAuth is err when it is a refused token, else nil.
func errorsOnlyAuth(err error) error {
	var ae *gomastodon.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
		return err
	}
	return nil
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// setMode records the user stream's transport (streamPoll: none) and why.
func (n *Network) setMode(mode, why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mode != mode && n.modeCh != nil {
		close(n.modeCh)
		n.modeCh = nil
	}
	n.mode, n.why = mode, why
}

// modeChanged is closed when the user stream's transport next changes.
func (n *Network) modeChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.modeCh == nil {
		n.modeCh = make(chan struct{})
	}
	return n.modeCh
}

// tagStreamLoop keeps one trusted hashtag stream connected until ctx
// ends, over the transport the user stream uses (while it has none, the
// poller reads the tag).
func (n *Network) tagStreamLoop(ctx context.Context, in bridge.Inbox, ls *listenState, tag string) {
	bo := backoff.New(n.backoff)
	for ctx.Err() == nil {
		n.mu.Lock()
		mode := n.mode
		n.mu.Unlock()
		if mode != streamSSE && mode != streamWebSocket {
			select {
			case <-ctx.Done():
				return
			case <-n.modeChanged():
			}
			continue
		}
		upFor, err := n.runStream(ctx, in, ls, mode, "hashtag", tag)
		if ctx.Err() != nil {
			return
		}
		bo.Done(upFor)
		wait := bo.Next(rateLimitWait(err))
		n.log.Info("mastodon: stream ended, reconnecting", "stream", "hashtag", "tag", tag, "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// runStream connects once and handles events until the connection ends;
// upFor is how long it was connected (0: it never was). While it is, the
// poller knows, and fills the gap since the last connection.
func (n *Network) runStream(ctx context.Context, in bridge.Inbox, ls *listenState, mode, kind, tag string) (upFor time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := n.connect(ctx, cancel, mode, kind, tag)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	start := time.Now()
	// Connected first, polled second: anything newer arrives on the
	// stream, anything older through the poll, and seen drops overlaps.
	ls.connected(tag)
	defer ls.disconnected(tag)
	if kind == "user" {
		n.health.setStream("")
	}
	for {
		ev, err := src.Next()
		if err != nil {
			return max(time.Since(start), time.Nanosecond), err
		}
		n.handle(ctx, in, kind, tag, ev)
	}
}

// pollLoop reads what no stream brings: right away (the gap since the
// last run), when a stream (re)connects (the gap since it dropped), and
// every PollInterval while the mentions have no stream or a hashtag's
// stream is not trusted. A failed poll is retried after a growing delay
// that honours the rate limit's reset.
func (n *Network) pollLoop(ctx context.Context, in bridge.Inbox, ls *listenState, info serverInfo) {
	bo := backoff.New(n.backoff)
	t := time.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ls.kick:
			if failing {
				continue // the timer's retry covers it
			}
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		mentions, tags := ls.due(n.cfg.Hashtags, info.trustsTagStreams())
		var err error
		if mentions {
			err = n.fillGap(ctx, in)
		}
		for _, tag := range tags {
			if err != nil {
				break
			}
			if e := n.fillTagGap(ctx, in, tag); e != nil {
				err = fmt.Errorf("mastodon: fill the #%s gap: %w", tag, e)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if mentions || len(tags) > 0 {
			n.noteAccount(errorsOnlyAuth(err))
			n.health.setPoll(err)
		}
		wait := n.cfg.PollInterval
		failing = err != nil
		if failing {
			ls.undo(mentions, tags)
			wait = bo.Next(rateLimitWait(err))
			n.log.Info("mastodon: poll failed; trying again", "err", err, "in", wait)
		} else {
			bo.Reset()
		}
		t.Reset(wait)
	}
}

// fillGap delivers mention notifications after the poll window's start
// (see noteWindow), oldest first, page by page; it stops at one the inbox
// did not take. On the very first start (in nil) it only notes where the
// newest notification is.
func (n *Network) fillGap(ctx context.Context, in bridge.Inbox) error {
	const page = 40
	from := n.notes.from()
	for range 100 { // pages per poll, bounded
		q := url.Values{"types[]": {"mention"}, "limit": {strconv.Itoa(page)}}
		if from != "" {
			q.Set("min_id", from)
		}
		var notes []gomastodon.Notification
		if err := n.getJSON(ctx, "notifications", "/api/v1/notifications", q, &notes); err != nil {
			return fmt.Errorf("mastodon: fill the mentions gap: %w", err)
		}
		sort.Slice(notes, func(i, j int) bool { return idLess(string(notes[i].ID), string(notes[j].ID)) })
		if in == nil {
			// First start: what is there is history. "0" marks "nothing
			// yet", so the next poll delivers everything after it.
			base := "0"
			if len(notes) > 0 {
				base = string(notes[len(notes)-1].ID)
			}
			n.notes.reset(base)
			n.saveNotes(base)
			return nil
		}
		for _, nt := range notes {
			if from != "" && !idLess(from, string(nt.ID)) {
				continue
			}
			if !n.handleNotification(ctx, in, nt) {
				return fmt.Errorf("mastodon: notification %s not handed over", nt.ID)
			}
			from = string(nt.ID)
		}
		if len(notes) < page {
			break
		}
	}
	if base, changed := n.notes.settle(n.deps.Now(), n.settleFor()); changed {
		n.saveNotes(base)
	}
	return nil
}

// saveNotes keeps where the next mentions poll starts.
func (n *Network) saveNotes(base string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.state.LastNotification = base
	n.saveStateLocked()
}

func tagPath(tag string) string { return "/api/v1/timelines/tag/" + url.PathEscape(tag) }

// unknownTag reports whether a tag timeline's error means the server does
// not know the tag yet (GoToSocial answers 404 until a status used it):
// an empty timeline, not a failure.
func unknownTag(err error) bool {
	var ae *gomastodon.APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// fillTagGap delivers the public statuses with hashtag tag newer than the
// last one handled from it, oldest first, paging forward through the tag's
// timeline. It stops at a post the inbox did not take: the next poll
// starts from there.
func (n *Network) fillTagGap(ctx context.Context, in bridge.Inbox, tag string) error {
	n.mu.Lock()
	last, ok := n.state.Hashtags[tag]
	n.mu.Unlock()
	if !ok {
		last = "0"
	}
	const page = 40
	for range 100 { // pages per poll, bounded
		var sts []gomastodon.Status
		q := url.Values{"min_id": {last}, "limit": {strconv.Itoa(page)}}
		if err := n.getJSON(ctx, "tag_timeline", tagPath(tag), q, &sts); err != nil {
			if unknownTag(err) {
				return nil
			}
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
	return nil
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

// handleNotification delivers a mention's status; it reports false when
// the inbox did not take it (the next mentions poll reads it again).
func (n *Network) handleNotification(ctx context.Context, in bridge.Inbox, nt gomastodon.Notification) bool {
	if nt.Type == "mention" && nt.Status != nil && !n.deliver(ctx, in, nt.Status) {
		n.notes.failed(string(nt.ID))
		return false
	}
	n.notes.handled(string(nt.ID), n.deps.Now())
	if base, changed := n.notes.settle(n.deps.Now(), n.settleFor()); changed {
		n.saveNotes(base)
	}
	return true
}

// settleFor is how far back mentions polls read again: not at all on
// Mastodon, whose notifications become visible in id order; n.settle
// elsewhere (GoToSocial makes them asynchronously).
func (n *Network) settleFor() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.server.mastodon() {
		return 0
	}
	return n.settle
}

// deliver converts st and hands it to the inbox once. It reports whether
// the post is now with the bridge (or was already).
func (n *Network) deliver(ctx context.Context, in bridge.Inbox, st *gomastodon.Status) bool {
	id := string(st.ID)
	if !n.seen.Add(id) {
		return true
	}
	p, err := n.toPost(ctx, st)
	if err == nil {
		err = in.Post(ctx, p)
	}
	if err != nil {
		n.seen.Forget(id)
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
	domain := n.server.Domain
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
