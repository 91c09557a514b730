package demo

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// Changes says what changed since a watcher last looked: which networks'
// timelines or DMs, which desk channels (their cards or threads), and
// whether someone got a private notice. The sets stay small: they are
// keyed by network and channel, never by post or message.
type Changes struct {
	Public   []string `json:"public,omitempty"`   // networks
	Channels []string `json:"channels,omitempty"` // "desk/channel"
	Notices  bool     `json:"notices,omitempty"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Public) == 0 && len(c.Channels) == 0 && !c.Notices }

// Watcher receives coalesced changes. It never blocks the world: changes
// pile up in its sets until Next takes them.
type Watcher struct {
	h      *hub
	notify chan struct{} // capacity 1: "something is pending"

	mu       sync.Mutex
	public   map[string]bool
	channels map[string]bool
	notices  bool
}

// Next blocks until something changed, ctx ends or the world closes
// (ok false in the last two cases), and returns everything pending.
func (wt *Watcher) Next(ctx context.Context) (c Changes, ok bool) {
	select {
	case <-ctx.Done():
		return Changes{}, false
	case <-wt.h.done:
		return Changes{}, false
	case <-wt.notify:
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	for k := range wt.public {
		c.Public = append(c.Public, k)
	}
	for k := range wt.channels {
		c.Channels = append(c.Channels, k)
	}
	slices.Sort(c.Public)
	slices.Sort(c.Channels)
	c.Notices = wt.notices
	clear(wt.public)
	clear(wt.channels)
	wt.notices = false
	return c, true
}

// Stop unregisters the watcher.
func (wt *Watcher) Stop() {
	wt.h.mu.Lock()
	defer wt.h.mu.Unlock()
	delete(wt.h.watchers, wt)
}

func (wt *Watcher) add(public, channel string, notice bool) {
	wt.mu.Lock()
	if public != "" {
		wt.public[public] = true
	}
	if channel != "" {
		wt.channels[channel] = true
	}
	wt.notices = wt.notices || notice
	wt.mu.Unlock()
	select {
	case wt.notify <- struct{}{}:
	default:
	}
}

// Watch returns a new watcher of the world's changes. Stop it when done.
func (w *World) Watch() *Watcher {
	wt := &Watcher{h: w.hub, notify: make(chan struct{}, 1), public: map[string]bool{}, channels: map[string]bool{}}
	w.hub.mu.Lock()
	w.hub.watchers[wt] = true
	w.hub.mu.Unlock()
	return wt
}

// hub reads every fake's change feed and fans it out to watchers. Its
// goroutines end when the fakes close their feeds (World.Close).
type hub struct {
	wg   sync.WaitGroup
	done chan struct{} // closed when every feed has ended

	mu       sync.Mutex
	watchers map[*Watcher]bool
}

func startHub(w *World) *hub {
	h := &hub{done: make(chan struct{}), watchers: map[*Watcher]bool{}}
	follow := func(feed func(yield func(public, channel string, notice bool))) {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			feed(h.publish)
		}()
	}
	slackFeed := w.Slack.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range slackFeed {
			switch e.Kind {
			case "message", "update", "delete", "reaction":
				yield("", SlackDesk+"/"+e.Channel, false)
			case "ephemeral":
				yield("", SlackDesk+"/"+e.Channel, true)
			}
		}
	})
	discordFeed := w.Discord.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range discordFeed {
			ch := e.ChannelID
			if c, ok := w.Discord.Channel(ch); ok && c.Type == discordfake.TypeThread {
				ch = c.ParentID // a post or a thread: its queue channel changed
			}
			switch e.Kind {
			case "message", "update", "delete", "reaction", "thread", "channel":
				yield("", DiscordDesk+"/"+ch, false)
			case "ephemeral":
				yield("", DiscordDesk+"/"+ch, true)
			}
		}
	})
	mastodonFeed := w.Mastodon.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range mastodonFeed {
			if e.Kind == "status" {
				yield(Mastodon, "", false)
			}
		}
	})
	blueskyFeed := w.Bluesky.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range blueskyFeed {
			if e.Kind == "post" || e.Kind == "dm" {
				yield(Bluesky, "", false)
			}
		}
	})
	xFeed := w.X.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range xFeed {
			if e.Kind == "tweet" || e.Kind == "published" || e.Kind == "dm" {
				yield(X, "", false)
			}
		}
	})
	reviewFeed := w.Reviews.Subscribe()
	follow(func(yield func(string, string, bool)) {
		for e := range reviewFeed {
			if e.Kind == "post" || e.Kind == "reply" || e.Kind == "dm" {
				yield(Reviews, "", false)
			}
		}
	})
	go func() {
		h.wg.Wait()
		close(h.done)
	}()
	return h
}

func (h *hub) publish(public, channel string, notice bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wt := range h.watchers {
		wt.add(public, channel, notice)
	}
}

// wait blocks until every feed has ended.
func (h *hub) wait() { <-h.done }

// sortBy sorts xs by key.
func sortBy[T any](xs []T, key func(T) string) {
	slices.SortFunc(xs, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
