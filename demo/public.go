package demo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

// MaxPostRunes bounds what a person may post through the world; each
// network's own, smaller limit is then checked by its fake.
const MaxPostRunes = 3000

// PublicPost is one post on a network as people see it there.
type PublicPost struct {
	Network   string    `json:"network"`
	ID        string    `json:"id"` // what a reply refers to (a Bluesky at:// uri)
	Author    string    `json:"author"`
	Name      string    `json:"name"`
	Brand     bool      `json:"brand"` // written by the brand's own account (an Earshot reply)
	Text      string    `json:"text"`
	InReplyTo string    `json:"in_reply_to,omitempty"`
	At        time.Time `json:"at"`
}

// DM is one direct message between a customer and the brand.
type DM struct {
	Network string    `json:"network"`
	ID      string    `json:"id"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Brand   bool      `json:"brand"` // sent by the brand
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
}

// PostOptions are the optional parts of a customer's post.
type PostOptions struct {
	InReplyTo string // the id of the post answered (as PublicPost.ID)
	Direct    bool   // a direct message to the brand instead of a public post
	// At is when the customer wrote it (zero: now). Only the review site
	// forwards older posts (a backlog from last night); elsewhere a post
	// is always new.
	At time.Time
}

// ErrBadText is returned for an empty or oversized text.
var ErrBadText = fmt.Errorf("the text must be 1 to %d characters", MaxPostRunes)

// ErrNoSuchPost is returned when the post replied to does not exist.
var ErrNoSuchPost = errors.New("no such post to reply to")

// ErrRefused wraps a network's own refusal of a post (over its length
// limit, a DM the recipient does not accept).
var ErrRefused = errors.New("refused")

// ErrUnreachable wraps a failure to reach Earshot (the review site posts
// to Earshot's webhook route).
var ErrUnreachable = errors.New("earshot unreachable")

// Post publishes text as customer handle on network, as that network's
// app would, and returns the post. A network's own refusal (Mastodon's
// 500-character limit, Bluesky's 300 graphemes) comes back as an error
// naming it. A review-site post blocks until Earshot answered it.
func (w *World) Post(ctx context.Context, network, handle, text string, o PostOptions) (PublicPost, error) {
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > MaxPostRunes {
		return PublicPost{}, ErrBadText
	}
	c, err := w.Customer(network, handle, "")
	if err != nil {
		return PublicPost{}, err
	}
	if !o.At.IsZero() && network != Reviews {
		return PublicPost{}, fmt.Errorf("only the review site forwards posts written earlier, not %s", network)
	}
	switch network {
	case Mastodon:
		po := mastodonfake.PostOptions{InReplyTo: o.InReplyTo}
		if o.Direct {
			po.Visibility = "direct"
			if !strings.Contains(text, "@"+w.Mastodon.Us().Username) {
				text = "@" + w.Mastodon.Us().Username + " " + text // a direct status reaches only those it mentions
			}
		}
		if o.InReplyTo != "" && !w.mastodonHas(o.InReplyTo) {
			return PublicPost{}, ErrNoSuchPost
		}
		st, err := w.Mastodon.Post(c.ID, text, po)
		if err != nil {
			return PublicPost{}, fmt.Errorf("%w by mastodon: %v", ErrRefused, err)
		}
		return w.mastodonPost(st), nil
	case Bluesky:
		if o.Direct {
			m, err := w.Bluesky.SendDM(c.ID, w.Bluesky.Us().DID, text)
			if err != nil {
				return PublicPost{}, fmt.Errorf("%w by bluesky: %v", ErrRefused, err)
			}
			return PublicPost{Network: Bluesky, ID: m.ID, Author: c.Display, Name: c.Name, Text: m.Text, At: m.SentAt}, nil
		}
		if o.InReplyTo != "" && !strings.HasPrefix(o.InReplyTo, "at://") {
			return PublicPost{}, ErrNoSuchPost
		}
		p, err := w.Bluesky.Post(c.ID, text, o.InReplyTo)
		if err != nil {
			if strings.HasPrefix(err.Error(), "no post") {
				return PublicPost{}, ErrNoSuchPost
			}
			return PublicPost{}, fmt.Errorf("%w by bluesky: %v", ErrRefused, err)
		}
		return w.blueskyPost(p.URI, p.Author, p.Record.Text, replyParent(p.Record.Reply), p.TimeUS), nil
	case X:
		if o.Direct {
			d := w.X.SendDM(c.ID, w.X.Us().ID, text)
			return PublicPost{Network: X, ID: d.ID, Author: c.Display, Name: c.Name, Text: d.Text, At: d.CreatedAt}, nil
		}
		t, err := w.X.Tweet(c.ID, text, xfake.TweetOptions{ReplyTo: o.InReplyTo})
		if err != nil {
			if strings.Contains(err.Error(), "no tweet") {
				return PublicPost{}, ErrNoSuchPost
			}
			return PublicPost{}, fmt.Errorf("%w by x: %v", ErrRefused, err)
		}
		return w.xPost(t), nil
	case Reviews:
		po := webhookfake.PostOptions{InReplyTo: o.InReplyTo, Direct: o.Direct, At: o.At}
		if o.InReplyTo != "" {
			conv, ok := w.reviewConversation(o.InReplyTo)
			if !ok {
				return PublicPost{}, ErrNoSuchPost
			}
			po.Conversation = conv
		}
		p, res, err := w.Reviews.Post(ctx, webhookfake.Author{ID: c.ID, Handle: c.Handle, Name: c.Name}, text, po)
		if err != nil {
			return PublicPost{}, fmt.Errorf("%w: the review site: %v", ErrUnreachable, err)
		}
		if res.Status/100 != 2 {
			return PublicPost{}, fmt.Errorf("%w: it answered the review site %d: %s", ErrUnreachable, res.Status, strings.TrimSpace(res.Body))
		}
		return reviewPost(p), nil
	}
	return PublicPost{}, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
}

// Timeline returns the latest public posts of network, newest first, at
// most limit, with the total count.
func (w *World) Timeline(network string, limit int) ([]PublicPost, int, error) {
	var all []PublicPost
	switch network {
	case Mastodon:
		for _, st := range w.Mastodon.PublicTimeline() {
			all = append(all, w.mastodonPost(st))
		}
	case Bluesky:
		for _, p := range w.Bluesky.Posts() {
			all = append(all, w.blueskyPost(p.URI, p.Author, p.Record.Text, replyParent(p.Record.Reply), p.TimeUS))
		}
	case X:
		for _, t := range w.X.Tweets() {
			all = append(all, w.xPost(t))
		}
	case Reviews:
		for _, p := range w.Reviews.Timeline() {
			if !p.Direct {
				all = append(all, reviewPost(p))
			}
		}
	default:
		return nil, 0, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
	}
	return newestFirst(all, limit), len(all), nil
}

// DMs returns the latest direct messages between customers and the brand
// on network, newest first, at most limit.
func (w *World) DMs(network string, limit int) ([]DM, error) {
	var all []DM
	switch network {
	case Mastodon:
		us := w.Mastodon.Us()
		for _, st := range w.Mastodon.DMs(us.ID) {
			d := DM{Network: Mastodon, ID: st.ID, From: "@" + st.Account.Acct(), Brand: st.Account.ID == us.ID, Text: st.Text, At: st.CreatedAt}
			for _, m := range st.Mentions {
				if m.ID != st.Account.ID {
					d.To = "@" + m.Acct()
					break
				}
			}
			all = append(all, d)
		}
	case Bluesky:
		us := w.Bluesky.Us()
		for _, m := range w.Bluesky.DMs(us.DID) {
			all = append(all, DM{Network: Bluesky, ID: m.ID, From: w.blueskyHandle(m.From), To: w.blueskyHandle(m.To),
				Brand: m.From == us.DID, Text: m.Text, At: m.SentAt})
		}
	case X:
		us := w.X.Us()
		for _, m := range w.X.DMs() {
			if m.SenderID != us.ID && m.RecipientID != us.ID {
				continue
			}
			all = append(all, DM{Network: X, ID: m.ID, From: w.xHandle(m.SenderID), To: w.xHandle(m.RecipientID),
				Brand: m.SenderID == us.ID, Text: m.Text, At: m.CreatedAt})
		}
	case Reviews:
		for _, p := range w.Reviews.Timeline() {
			if !p.Direct {
				continue
			}
			d := DM{Network: Reviews, ID: p.ID, From: p.Author.Handle, Brand: p.FromBrand, Text: p.Text, At: p.At}
			if p.FromBrand {
				d.From = "the brand"
			}
			all = append(all, d)
		}
		for _, r := range w.Reviews.Replies() { // who the brand's private replies went to
			for i := range all {
				if all[i].ID == r.ID && r.Private {
					all[i].To = r.To.Handle
				}
			}
		}
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
	}
	slices.SortStableFunc(all, func(a, b DM) int { return b.At.Compare(a.At) })
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

func newestFirst(all []PublicPost, limit int) []PublicPost {
	slices.SortStableFunc(all, func(a, b PublicPost) int { return b.At.Compare(a.At) })
	if len(all) > limit {
		all = all[:limit]
	}
	return all
}

func (w *World) mastodonHas(id string) bool {
	for _, st := range w.Mastodon.Statuses() {
		if st.ID == id {
			return true
		}
	}
	return false
}

func (w *World) mastodonPost(st mastodonfake.Status) PublicPost {
	return PublicPost{Network: Mastodon, ID: st.ID, Author: "@" + st.Account.Acct(), Name: st.Account.Name,
		Brand: st.Account.ID == w.Mastodon.Us().ID, Text: st.Text, InReplyTo: st.InReplyTo, At: st.CreatedAt}
}

func (w *World) blueskyHandle(did string) string {
	if a, ok := w.Bluesky.Lookup(did); ok {
		return "@" + a.Handle
	}
	return did
}

func (w *World) blueskyPost(uri, did, text, parent string, timeUS int64) PublicPost {
	p := PublicPost{Network: Bluesky, ID: uri, Author: did, Text: text, InReplyTo: parent,
		Brand: did == w.Bluesky.Us().DID, At: time.UnixMicro(timeUS).UTC()}
	if a, ok := w.Bluesky.Lookup(did); ok {
		p.Author, p.Name = "@"+a.Handle, a.Name
	}
	return p
}

func (w *World) xHandle(id string) string {
	if id == w.X.Us().ID {
		return "@" + w.X.Us().Username
	}
	if c, ok := w.customerByID(X, id); ok {
		return c.Display
	}
	return id
}

func (w *World) xPost(t xfake.Tweet) PublicPost {
	p := PublicPost{Network: X, ID: t.ID, Author: w.xHandle(t.AuthorID), Text: t.Text, InReplyTo: t.InReplyTo,
		Brand: t.AuthorID == w.X.Us().ID, At: t.CreatedAt}
	if p.Brand {
		p.Name = w.X.Us().Name
	} else if c, ok := w.customerByID(X, t.AuthorID); ok {
		p.Name = c.Name
	}
	return p
}

func reviewPost(p webhookfake.Post) PublicPost {
	out := PublicPost{Network: Reviews, ID: p.ID, Author: p.Author.Handle, Name: p.Author.Name, Brand: p.FromBrand,
		Text: p.Text, InReplyTo: p.InReplyTo, At: p.At}
	if p.FromBrand {
		out.Author, out.Name = "the brand", "Earshot Support"
	}
	return out
}

// reviewConversation finds the conversation of post id on the review site.
func (w *World) reviewConversation(id string) (string, bool) {
	for _, p := range w.Reviews.Timeline() {
		if p.ID == id {
			if p.Conversation != "" {
				return p.Conversation, true
			}
			if p.InReplyTo != "" {
				return p.InReplyTo, true
			}
			return p.ID, true
		}
	}
	return "", false
}

// replyParent is the uri a Bluesky post answers ("" for a root post).
func replyParent(r *blueskyfake.ReplyRefs) string {
	if r == nil {
		return ""
	}
	return r.Parent.URI
}

// Place is where a link from a desk message points in the public world.
type Place struct {
	Network string `json:"network"`
	ID      string `json:"id,omitempty"` // the post, as PublicPost.ID; "" for a DM conversation
	DM      bool   `json:"dm,omitempty"` // the link is a DM conversation
}

// Locate finds the post or DM conversation a link points at: the links
// Earshot puts on cards and "sent" lines name the fakes' hosts (Mastodon,
// the review site) or the real sites' public paths (bsky.app, x.com).
func (w *World) Locate(link string) (Place, bool) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Place{}, false
	}
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	last := seg[len(seg)-1]
	host := func(base string) string {
		b, _ := url.Parse(base)
		return b.Host
	}
	switch {
	case u.Host == host(w.Mastodon.URL()) && len(seg) == 2:
		if w.mastodonHas(last) {
			return Place{Network: Mastodon, ID: last}, true
		}
	case u.Host == host(w.Reviews.ReplyURL()) && len(seg) == 2 && seg[0] == "p":
		for _, p := range w.Reviews.Timeline() {
			if p.ID == last {
				return Place{Network: Reviews, ID: p.ID, DM: p.Direct}, true
			}
		}
	case u.Host == "bsky.app" && len(seg) >= 2 && seg[0] == "messages":
		return Place{Network: Bluesky, DM: true}, true
	case u.Host == "bsky.app" && len(seg) == 4 && seg[2] == "post":
		for _, p := range w.Bluesky.Posts() {
			if p.Rkey == last {
				return Place{Network: Bluesky, ID: p.URI}, true
			}
		}
	case u.Host == "x.com" && len(seg) >= 2 && seg[0] == "messages":
		return Place{Network: X, DM: true}, true
	case u.Host == "x.com" && len(seg) == 3 && seg[1] == "status":
		for _, t := range w.X.Tweets() {
			if t.ID == last {
				return Place{Network: X, ID: t.ID}, true
			}
		}
	}
	return Place{}, false
}
