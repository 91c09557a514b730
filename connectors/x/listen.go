package x

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/backoff"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// state is what survives a restart, in Deps.DataDir/x-state.json.
type state struct {
	SinceID       string    `json:"since_id,omitempty"`        // newest mention delivered
	Primed        bool      `json:"primed,omitempty"`          // the mentions baseline is set
	StreamSinceID string    `json:"stream_since_id,omitempty"` // newest keyword post delivered
	StreamFrom    time.Time `json:"stream_from,omitzero"`      // first stream connection, the gap-fill floor before any keyword post
	DMSinceID     string    `json:"dm_since_id,omitempty"`     // newest DM event seen
	DMPrimed      bool      `json:"dm_primed,omitempty"`
}

func (n *Network) statePath() string {
	if n.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(n.deps.DataDir, "x-state.json")
}

func (n *Network) loadState() error {
	p := n.statePath()
	if p == "" {
		return nil
	}
	if err := statefile.ReadJSON(p, &n.state); err != nil {
		return fmt.Errorf("x: load state: %w", err)
	}
	return nil
}

// saveStateLocked writes the state atomically; n.mu is held.
func (n *Network) saveStateLocked() {
	p := n.statePath()
	if p == "" {
		return
	}
	if err := statefile.WriteJSON(p, n.state); err != nil {
		n.log.Warn("x: save state", "err", err)
	}
}

// idLess compares X ids (decimal snowflakes of any length).
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Connected reports whether the first mentions poll is done and, when
// keywords are configured, the filtered stream is connected.
func (n *Network) Connected() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.polled && (len(n.cfg.Keywords) == 0 || n.streams > 0)
}

// Listen polls mentions and, with keywords, reads the filtered stream,
// delivering into in until ctx ends. It blocks, reconnects by itself, and
// returns nil when ctx ends, or an error when X refuses our credentials.
// It reports its health: down while X cannot be reached or refuses us,
// degraded while mentions arrive but the keyword stream does not, or
// while X's rate limit holds the mentions poll back, up otherwise.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	bo := backoff.New(n.backoffPolicy())
	var me *user
	refused := 0
	for {
		var err error
		me, err = n.ensureMe(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403) {
			// Once more: after a 401 the next request refreshes the token.
			if refused++; refused >= 2 {
				n.deps.Health.Report(Name, bridge.HealthDown, "X refuses our credentials: "+err.Error())
				return err
			}
		}
		wait := bo.Next(rateLimitWait(err))
		n.deps.Health.Report(Name, bridge.HealthDown, err.Error())
		n.log.Warn(msgConnectRetry, "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
	n.mu.Lock()
	n.health = listenHealth{}
	n.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { n.pollLoop(ctx, in, me) })
	if len(n.cfg.Keywords) > 0 {
		wg.Go(func() { n.streamLoop(ctx, in, me) })
	}
	wg.Wait()
	return nil
}

// Log messages of the retries, for operators and tests.
const (
	msgConnectRetry = "x: cannot reach X yet"
	msgStreamRetry  = "x: stream ended; reconnecting"
)

// rateLimitWait is how long X's rate limit asked us to wait, or 0.
func rateLimitWait(err error) time.Duration {
	var ae *apiError
	if errors.As(err, &ae) && ae.rateLimited() {
		return ae.Wait
	}
	return 0
}

// backoffPolicy bounds the stream's and the first call's retries.
func (n *Network) backoffPolicy() backoff.Policy {
	return backoff.Policy{Min: n.backoffMin, Max: n.backoffMax, Healthy: time.Minute}
}

// listenHealth is what the two loops of Listen last saw (n.mu).
type listenHealth struct {
	polled    bool
	pollErr   error
	streamUp  bool
	streamErr error
}

// notePoll records the outcome of a mentions poll and reports health.
func (n *Network) notePoll(err error) {
	n.mu.Lock()
	n.health.polled = true
	n.health.pollErr = err
	n.mu.Unlock()
	n.reportHealth()
}

// noteStream records whether the keyword stream is connected (err: why
// it is not) and reports health.
func (n *Network) noteStream(up bool, err error) {
	n.mu.Lock()
	n.health.streamUp, n.health.streamErr = up, err
	n.mu.Unlock()
	n.reportHealth()
}

// reportHealth tells Deps.Health how listening stands (nothing before the
// first poll).
func (n *Network) reportHealth() {
	n.mu.Lock()
	h := n.health
	n.mu.Unlock()
	switch {
	case !h.polled:
	case h.pollErr != nil && rateLimitWait(h.pollErr) > 0:
		n.deps.Health.Report(Name, bridge.HealthDegraded, "mentions poll held back by X's rate limit: "+h.pollErr.Error())
	case h.pollErr != nil:
		n.deps.Health.Report(Name, bridge.HealthDown, "mentions poll: "+h.pollErr.Error())
	case len(n.cfg.Keywords) > 0 && !h.streamUp && h.streamErr != nil:
		n.deps.Health.Report(Name, bridge.HealthDegraded, "keyword stream down (mentions still arrive): "+h.streamErr.Error())
	default:
		n.deps.Health.Report(Name, bridge.HealthUp, "")
	}
}

// ---- mentions ----

var tweetQuery = url.Values{
	"tweet.fields": {"author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets,entities,lang"},
	"expansions":   {"author_id"},
	"user.fields":  {"username,name,profile_image_url,public_metrics"},
}

func baseQuery() url.Values {
	q := url.Values{}
	for k, v := range tweetQuery {
		q[k] = v
	}
	return q
}

// timelinePage is a page of the mentions timeline or of recent search.
type timelinePage struct {
	Data     []tweet  `json:"data"`
	Includes includes `json:"includes"`
	Meta     struct {
		NewestID  string `json:"newest_id"`
		NextToken string `json:"next_token"`
		ResultCnt int    `json:"result_count"`
	} `json:"meta"`
}

// maxPages bounds one gap fill (the mentions timeline keeps 800 posts).
const maxPages = 20

func (n *Network) pollLoop(ctx context.Context, in bridge.Inbox, me *user) {
	for {
		wait := n.cfg.PollInterval
		err := n.pollMentions(ctx, in, me)
		if err != nil && ctx.Err() == nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Wait > wait {
				wait = ae.Wait
			}
			n.log.Warn("x: poll mentions", "err", err, "next_in", wait)
		}
		if n.cfg.DirectMessages {
			if err := n.pollDMs(ctx, in, me); err != nil && ctx.Err() == nil {
				var ae *apiError
				if errors.As(err, &ae) && ae.Wait > wait {
					wait = ae.Wait
				}
				n.log.Warn("x: poll direct messages", "err", err, "next_in", wait)
			}
		}
		if err == nil {
			n.mu.Lock()
			n.polled = true
			n.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		n.notePoll(err)
		if wait > n.cfg.PollInterval {
			bridge.ObserveWait(n.deps.Requests, Name, wait-n.cfg.PollInterval)
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// pollMentions fetches every mention since the last one delivered, pages
// through the gap, delivers oldest first, then moves since_id.
func (n *Network) pollMentions(ctx context.Context, in bridge.Inbox, me *user) error {
	n.mu.Lock()
	st := n.state
	n.mu.Unlock()
	path := "/2/users/" + url.PathEscape(me.ID) + "/mentions"
	if !st.Primed && !n.cfg.Backfill {
		// First start: begin from now rather than flooding the queue with the past.
		q := baseQuery()
		q.Set("max_results", "5")
		var page timelinePage
		if _, err := n.api.do(ctx, "mentions", http.MethodGet, path, q, nil, &page); err != nil {
			return err
		}
		n.mu.Lock()
		n.state.Primed = true
		if page.Meta.NewestID != "" {
			n.state.SinceID = page.Meta.NewestID
		}
		n.saveStateLocked()
		n.mu.Unlock()
		return nil
	}
	q := baseQuery()
	q.Set("max_results", "100")
	if st.SinceID != "" {
		q.Set("since_id", st.SinceID)
	}
	tweets, users, err := n.pages(ctx, "mentions", path, q, "pagination_token")
	// Oldest first; since_id moves only over delivered posts, so a failed
	// delivery is fetched again by the next poll.
	newest := st.SinceID
	for _, t := range tweets {
		if derr := n.deliver(ctx, in, t, users, true, me); derr != nil {
			err = errors.Join(err, derr)
			break
		}
		if idLess(newest, t.ID) {
			newest = t.ID
		}
	}
	n.mu.Lock()
	n.state.Primed = true
	if idLess(n.state.SinceID, newest) {
		n.state.SinceID = newest
	}
	n.saveStateLocked()
	n.mu.Unlock()
	return err
}

var errPartialPages = errors.New("x: not every page could be read")

// pages reads every page (at most maxPages) of a newest-first listing and
// returns its tweets oldest first. If a page after the first fails, it
// returns no tweets at all: the pages read are the newer ones, and
// delivering them would move since_id over the older posts not yet read.
func (n *Network) pages(ctx context.Context, op, path string, q url.Values, tokenParam string) ([]tweet, map[string]user, error) {
	users := map[string]user{}
	var all []tweet
	for page := 0; page < maxPages; page++ {
		var p timelinePage
		partial, err := n.api.do(ctx, op, http.MethodGet, path, q, nil, &p)
		if err != nil {
			if page == 0 {
				return nil, nil, err
			}
			return nil, nil, errors.Join(errPartialPages, err)
		}
		if len(partial) > 0 {
			n.log.Warn("x: answer carried partial errors", "op", op, "count", len(partial), "first", partial[0].Detail)
		}
		all = append(all, p.Data...)
		for _, u := range p.Includes.Users {
			users[u.ID] = u
		}
		if p.Meta.NextToken == "" {
			break
		}
		q.Set(tokenParam, p.Meta.NextToken)
	}
	sort.Slice(all, func(i, j int) bool { return idLess(all[i].ID, all[j].ID) })
	return all, users, nil
}

// deliver hands one tweet to the inbox unless it was delivered before.
func (n *Network) deliver(ctx context.Context, in bridge.Inbox, t tweet, users map[string]user, viaMentions bool, me *user) error {
	n.mu.Lock()
	if n.seen.has(t.ID) || n.inflight[t.ID] {
		n.mu.Unlock()
		return nil
	}
	n.inflight[t.ID] = true
	n.mu.Unlock()
	err := in.Post(ctx, n.toPost(t, users, viaMentions, me))
	n.mu.Lock()
	delete(n.inflight, t.ID)
	if err == nil {
		n.seen.add(t.ID)
	}
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("x: deliver post: %w", err)
	}
	return nil
}

// toPost maps a tweet and its expanded author.
func (n *Network) toPost(t tweet, users map[string]user, viaMentions bool, me *user) bridge.Post {
	u, ok := users[t.AuthorID]
	if !ok {
		u = user{ID: t.AuthorID, Username: t.AuthorID}
	}
	p := bridge.Post{
		Network: Name,
		ID:      t.ID,
		Author: bridge.Author{ID: u.ID, Handle: u.Username, Name: u.Name, URL: "https://x.com/" + u.Username,
			Avatar: u.ProfileImageURL, Followers: u.PublicMetrics.Followers},
		Text: html.UnescapeString(t.Text), // X escapes &, < and > in text
		URL:  "https://x.com/" + u.Username + "/status/" + t.ID,
		Lang: t.Lang,
		Ref:  map[string]string{"author_id": t.AuthorID, "conversation_id": t.ConversationID},
	}
	if ts, err := time.Parse(time.RFC3339Nano, t.CreatedAt); err == nil {
		p.CreatedAt = ts.UTC()
	} else {
		p.CreatedAt = n.deps.Now().UTC()
	}
	for _, r := range t.ReferencedTweets {
		if r.Type == "replied_to" {
			p.InReplyTo = r.ID
		}
	}
	if t.ConversationID != "" && t.ConversationID != t.ID {
		p.Conversation = t.ConversationID
	}
	p.FromUs = t.AuthorID == me.ID
	p.ReplyToUs = !p.FromUs && t.InReplyToUserID == me.ID
	for _, m := range t.Entities.Mentions {
		if strings.EqualFold(m.Username, me.Username) {
			p.MentionsUs = true
		}
	}
	if viaMentions && !p.ReplyToUs && !p.FromUs {
		p.MentionsUs = true
	}
	return p
}

// ---- direct messages ----

// dmEvent is one DM event as GET /2/dm_events returns it.
type dmEvent struct {
	ID             string `json:"id"`
	EventType      string `json:"event_type"`
	Text           string `json:"text"`
	SenderID       string `json:"sender_id"`
	ConversationID string `json:"dm_conversation_id"`
	CreatedAt      string `json:"created_at"`
}

// pollDMs delivers customers' DMs newer than the last one seen. The
// endpoint has no since_id: pages (newest first) are read until an event
// already seen, then delivered oldest first.
func (n *Network) pollDMs(ctx context.Context, in bridge.Inbox, me *user) error {
	n.mu.Lock()
	st := n.state
	n.mu.Unlock()
	q := url.Values{
		"event_types":     {"MessageCreate"},
		"dm_event.fields": {"id,text,event_type,sender_id,dm_conversation_id,created_at"},
		"expansions":      {"sender_id"},
		"user.fields":     {"username,name,profile_image_url,public_metrics"},
		"max_results":     {"100"},
	}
	if !st.DMPrimed {
		q.Set("max_results", "1")
	}
	users := map[string]user{}
	var fresh []dmEvent
	newest := st.DMSinceID
pages:
	for page := 0; page < maxPages; page++ {
		var p struct {
			Data     []dmEvent `json:"data"`
			Includes includes  `json:"includes"`
			Meta     struct {
				NextToken string `json:"next_token"`
			} `json:"meta"`
		}
		if _, err := n.api.do(ctx, "dm_events", http.MethodGet, "/2/dm_events", q, nil, &p); err != nil {
			return err // nothing delivered: the next poll reads the same pages
		}
		for _, u := range p.Includes.Users {
			users[u.ID] = u
		}
		for _, e := range p.Data {
			if st.DMSinceID != "" && !idLess(st.DMSinceID, e.ID) {
				break pages
			}
			if idLess(newest, e.ID) {
				newest = e.ID
			}
			fresh = append(fresh, e)
		}
		if !st.DMPrimed || p.Meta.NextToken == "" {
			break
		}
		q.Set("pagination_token", p.Meta.NextToken)
	}
	if st.DMPrimed {
		sort.Slice(fresh, func(i, j int) bool { return idLess(fresh[i].ID, fresh[j].ID) })
		for i, e := range fresh {
			if e.EventType != "MessageCreate" || e.SenderID == me.ID {
				continue
			}
			if err := n.deliverDM(ctx, in, e, users); err != nil {
				// Keep the position just before the failed one.
				newest = st.DMSinceID
				if i > 0 {
					newest = fresh[i-1].ID
				}
				n.setDMSince(newest)
				return err
			}
		}
	}
	n.setDMSince(newest)
	return nil
}

func (n *Network) setDMSince(id string) {
	n.mu.Lock()
	n.state.DMPrimed = true
	if idLess(n.state.DMSinceID, id) {
		n.state.DMSinceID = id
	}
	n.saveStateLocked()
	n.mu.Unlock()
}

func (n *Network) deliverDM(ctx context.Context, in bridge.Inbox, e dmEvent, users map[string]user) error {
	u, ok := users[e.SenderID]
	if !ok {
		u = user{ID: e.SenderID, Username: e.SenderID}
	}
	p := bridge.Post{
		Network: Name, ID: "dm:" + e.ID,
		Author: bridge.Author{ID: u.ID, Handle: u.Username, Name: u.Name, URL: "https://x.com/" + u.Username,
			Avatar: u.ProfileImageURL, Followers: u.PublicMetrics.Followers},
		Text: e.Text, URL: "https://x.com/messages/" + e.ConversationID,
		Conversation: "dm:" + e.ConversationID, Direct: true,
		Ref: map[string]string{"author_id": e.SenderID, "dm_conversation_id": e.ConversationID},
	}
	if ts, err := time.Parse(time.RFC3339Nano, e.CreatedAt); err == nil {
		p.CreatedAt = ts.UTC()
	} else {
		p.CreatedAt = n.deps.Now().UTC()
	}
	n.mu.Lock()
	if n.seen.has(p.ID) {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	if err := in.Post(ctx, p); err != nil {
		return fmt.Errorf("x: deliver direct message: %w", err)
	}
	n.mu.Lock()
	n.seen.add(p.ID)
	n.mu.Unlock()
	return nil
}

// ---- filtered stream ----

// ruleValue turns a configured keyword into a rule: phrases are quoted.
func ruleValue(k string) string {
	if strings.ContainsAny(k, " \t") && !strings.HasPrefix(k, `"`) && !strings.ContainsAny(k, "()") && !strings.Contains(k, " OR ") {
		return `"` + k + `"`
	}
	return k
}

type ruleList struct {
	Data []struct {
		ID    string `json:"id"`
		Value string `json:"value"`
		Tag   string `json:"tag"`
	} `json:"data"`
}

// syncRules makes the stream rules tagged "earshot" equal the configured keywords.
func (n *Network) syncRules(ctx context.Context) error {
	var cur ruleList
	if _, err := n.api.do(ctx, "stream.rules", http.MethodGet, "/2/tweets/search/stream/rules", nil, nil, &cur); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, k := range n.cfg.Keywords {
		want[ruleValue(k)] = true
	}
	var del []string
	have := map[string]bool{}
	for _, r := range cur.Data {
		if r.Tag != ruleTag {
			continue
		}
		if want[r.Value] && !have[r.Value] {
			have[r.Value] = true
			continue
		}
		del = append(del, r.ID)
	}
	if len(del) > 0 {
		body := map[string]any{"delete": map[string]any{"ids": del}}
		if _, err := n.api.do(ctx, "stream.rules", http.MethodPost, "/2/tweets/search/stream/rules", nil, body, nil); err != nil {
			return err
		}
	}
	var add []map[string]string
	for _, k := range n.cfg.Keywords {
		v := ruleValue(k)
		if !have[v] {
			have[v] = true
			add = append(add, map[string]string{"value": v, "tag": ruleTag})
		}
	}
	if len(add) > 0 {
		body := map[string]any{"add": add}
		if _, err := n.api.do(ctx, "stream.rules", http.MethodPost, "/2/tweets/search/stream/rules", nil, body, nil); err != nil {
			return err
		}
	}
	return nil
}

func (n *Network) streamLoop(ctx context.Context, in bridge.Inbox, me *user) {
	bo := backoff.New(n.backoffPolicy())
	synced := false
	for ctx.Err() == nil {
		var err error
		if !synced {
			if err = n.syncRules(ctx); err == nil {
				synced = true
			}
		}
		var upFor time.Duration
		if err == nil {
			upFor, err = n.runStream(ctx, in, me)
		}
		if ctx.Err() != nil {
			return
		}
		bo.Done(upFor)
		floor := rateLimitWait(err)
		wait := bo.Next(floor)
		n.noteStream(false, err)
		if floor > 0 {
			bridge.ObserveWait(n.deps.Requests, Name, wait)
		}
		n.log.Info(msgStreamRetry, "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// runStream connects the filtered stream, fills the gap since the last
// keyword post through recent search, and reads until the stream ends.
// upFor is how long the connection was up (0: it never was), for the
// backoff.
func (n *Network) runStream(ctx context.Context, in bridge.Inbox, me *user) (upFor time.Duration, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The answer's headers (and an error's body) must come within the
	// request timeout; only then does the stream run on, under the stall timer.
	connecting := time.AfterFunc(n.cfg.RequestTimeout, cancel)
	defer connecting.Stop()
	resp, _, err := n.api.send(sctx, "stream", http.MethodGet, "/2/tweets/search/stream", baseQuery(), nil)
	if err != nil {
		if ctx.Err() == nil && sctx.Err() != nil {
			return 0, fmt.Errorf("x: connect the filtered stream: no answer within %v", n.cfg.RequestTimeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw := make([]byte, 64<<10)
		k, _ := readAtMost(resp.Body, raw)
		return 0, n.api.failure("stream", resp, raw[:k])
	}
	if !connecting.Stop() {
		return 0, fmt.Errorf("x: connect the filtered stream: no answer within %v", n.cfg.RequestTimeout)
	}
	stall := time.AfterFunc(n.cfg.StallTimeout, cancel)
	defer stall.Stop()

	n.mu.Lock()
	n.streams++
	first := n.state.StreamFrom.IsZero()
	if first {
		n.state.StreamFrom = n.deps.Now().UTC()
		n.saveStateLocked()
	}
	// The gap is what came after the last post streamed before this
	// connection: read now, as this connection's posts move it on.
	gapSince, gapFrom := n.state.StreamSinceID, n.state.StreamFrom
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.streams--
		n.mu.Unlock()
	}()
	connected := time.Now()
	n.noteStream(true, nil)

	// Gap fill runs alongside the reader; the seen set drops overlaps.
	var wg sync.WaitGroup
	defer wg.Wait()
	if !first {
		wg.Go(func() {
			err := n.fillStreamGap(sctx, in, me, gapSince, gapFrom)
			if err == nil || sctx.Err() != nil {
				return
			}
			var ae *apiError
			if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && !ae.rateLimited() {
				// Not allowed (an access tier without recent search): live
				// with the gap rather than reconnecting forever.
				n.log.Error("x: cannot fill the stream gap; keyword posts made while the stream was down are missed", "err", err)
				return
			}
			n.log.Warn("x: stream gap fill; reconnecting to try again", "err", err)
			cancel() // StreamSinceID did not move past the gap
		})
	}

	rd := newStreamReader(resp.Body)
	for {
		line, err := rd.next()
		if err != nil {
			return time.Since(connected), fmt.Errorf("x: stream: %w", err)
		}
		stall.Reset(n.cfg.StallTimeout)
		msg, keepAlive, err := decodeLine(line)
		if keepAlive {
			continue
		}
		if err != nil {
			if errors.Is(err, errDisconnect) {
				return time.Since(connected), err
			}
			n.log.Warn("x: stream: skipped a line", "err", err)
			continue
		}
		users := map[string]user{}
		for _, u := range msg.Includes.Users {
			users[u.ID] = u
		}
		if err := n.deliver(sctx, in, *msg.Data, users, false, me); err != nil {
			return time.Since(connected), err // reconnect: the gap fill brings it again
		}
		n.noteStreamed(msg.Data.ID)
	}
}

func readAtMost(r interface{ Read([]byte) (int, error) }, b []byte) (int, error) {
	total := 0
	for total < len(b) {
		k, err := r.Read(b[total:])
		total += k
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (n *Network) noteStreamed(id string) {
	n.mu.Lock()
	if idLess(n.state.StreamSinceID, id) {
		n.state.StreamSinceID = id
		n.saveStateLocked()
	}
	n.mu.Unlock()
}

// searchQueries turns the rules into recent-search queries of at most 512
// characters each.
func (n *Network) searchQueries() []string {
	var out []string
	cur := ""
	for _, k := range n.cfg.Keywords {
		v := "(" + ruleValue(k) + ")"
		switch {
		case cur == "":
			cur = v
		case len(cur)+4+len(v) <= 512:
			cur += " OR " + v
		default:
			out = append(out, cur)
			cur = v
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// fillStreamGap delivers keyword posts made while the stream was down:
// those after post since (or, when none was streamed yet, made from from).
func (n *Network) fillStreamGap(ctx context.Context, in bridge.Inbox, me *user, since string, from time.Time) error {
	for _, query := range n.searchQueries() {
		q := baseQuery()
		q.Set("query", query)
		q.Set("max_results", "100")
		if since != "" {
			q.Set("since_id", since)
		} else if !from.IsZero() {
			q.Set("start_time", from.Add(-time.Second).UTC().Format(time.RFC3339))
		}
		tweets, users, err := n.pages(ctx, "search.recent", "/2/tweets/search/recent", q, "next_token")
		if err != nil {
			return err
		}
		for _, t := range tweets {
			if err := n.deliver(ctx, in, t, users, false, me); err != nil {
				return err
			}
			n.noteStreamed(t.ID)
		}
	}
	return nil
}

// ---- small helpers ----

// seenSet remembers up to max ids, forgetting the oldest first.
type seenSet struct {
	ids   map[string]bool
	order []string
	max   int
}

func newSeenSet(max int) *seenSet { return &seenSet{ids: map[string]bool{}, max: max} }

func (s *seenSet) has(id string) bool { return s.ids[id] }

func (s *seenSet) add(id string) {
	if s.ids[id] {
		return
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
