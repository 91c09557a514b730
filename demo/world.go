// Package demo is the world `earshot demo` runs in: every platform fake on
// loopback (Slack, Discord, Mastodon, Bluesky, X and a review site that
// speaks the generic webhook), a cast of customers and staff, the config file that
// points Earshot's real connectors at those fakes, what people do there
// (post as a customer; press, type and run commands as staff) and what
// they see there (timelines, DMs, channels, cards, threads, private
// notices), with a change feed for live pages.
//
// The world never talks to Earshot: it drives the fakes as people would,
// and Earshot, configured like any production install, reacts through
// its connectors. Start does loopback I/O (it binds the fakes' listeners);
// the person actions do I/O only where the fake does (a webhook post is
// an HTTP request to Earshot). Everything is safe for concurrent use.
package demo

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

// maxCustomers bounds the accounts the world creates (the outage scene
// needs 300; a person in the sandbox a handful).
const maxCustomers = 5000

// webhookSecret signs the review site's posts and Earshot's replies.
const webhookSecret = "demo-webhook-secret"

// Customer is one customer account on one network.
type Customer struct {
	Network string `json:"network"`
	Handle  string `json:"handle"` // as typed in the sandbox: "ana"
	Name    string `json:"name"`
	ID      string `json:"-"` // the platform's id: Mastodon account id, Bluesky DID, X user id, review author id
	Display string `json:"display"`
}

// World is the running set of fakes with their cast.
type World struct {
	Slack    *slackfake.Fake
	Discord  *discordfake.Fake
	Mastodon *mastodonfake.Server
	Bluesky  *blueskyfake.Server
	X        *xfake.Server
	Reviews  *webhookfake.Site

	hub   *hub
	desks map[string]deskSide

	mu        sync.Mutex
	customers map[string]map[string]Customer // network -> handle -> customer
	byID      map[string]Customer            // network + "/" + platform id -> customer
	created   int
	closed    bool
}

// Start starts every fake on 127.0.0.1 and creates the cast: staff, groups,
// roles and channels in Slack and Discord, the starter customers on every
// network. Close it.
func Start() (*World, error) {
	w := &World{customers: map[string]map[string]Customer{}, byID: map[string]Customer{}}
	var err error
	w.Slack, err = slackfake.New(slackfake.Options{Customize: true})
	if err != nil {
		return nil, fmt.Errorf("demo: start fake slack: %w", err)
	}
	w.Discord, err = discordfake.New(discordfake.Options{GuildID: discordGuild})
	if err != nil {
		w.Slack.Close()
		return nil, fmt.Errorf("demo: start fake discord: %w", err)
	}
	w.desks = map[string]deskSide{SlackDesk: slackSide{w.Slack}, DiscordDesk: discordSide{w.Discord}}
	w.Mastodon = mastodonfake.New(mastodonfake.Options{})
	w.Bluesky = blueskyfake.New()
	w.X = xfake.New(xfake.Options{})
	w.Reviews = webhookfake.New(webhookfake.Options{Source: ReviewSource, Secret: webhookSecret})

	var care []string
	w.Discord.AddRole(RoleMobile, "mobile-care")
	w.Discord.AddRole(RoleNetOps, "network-ops")
	for _, p := range Staff {
		switch p.Desk {
		case SlackDesk:
			w.Slack.AddUser(slackfake.User{ID: p.ID, Name: p.Handle, DisplayName: p.Name})
			if p.Group == GroupCare {
				care = append(care, p.ID)
			}
		case DiscordDesk:
			u := discordfake.User{ID: p.ID, Username: p.Handle, GlobalName: p.Name}
			if p.Group != "" {
				u.Roles = []string{p.Group}
			}
			w.Discord.AddUser(u)
		}
	}
	w.Slack.AddGroup(GroupCare, "care-agents", care...)
	for _, c := range Channels {
		switch {
		case c.Desk == SlackDesk:
			w.Slack.AddChannel(c.ID, c.Name)
		case c.Forum:
			w.Discord.AddForum(c.ID, c.Name, "New", "Claimed", "Escalated", "Waiting", "Resolved")
		default:
			w.Discord.AddChannel(c.ID, c.Name)
		}
	}
	for _, n := range Networks {
		for _, c := range StarterCustomers {
			if _, err := w.Customer(n.Name, c.Handle, c.Name); err != nil {
				w.Close()
				return nil, err
			}
		}
	}
	w.hub = startHub(w)
	return w, nil
}

// Close stops every fake and the change feed.
func (w *World) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	w.Slack.Close()
	w.Discord.Close()
	w.Mastodon.Close()
	w.Bluesky.Close()
	w.X.Close()
	w.Reviews.Close()
	if w.hub != nil {
		w.hub.wait()
	}
}

// SetEarshotURL tells the review site where Earshot listens
// ("http://127.0.0.1:8080"): its posts go to /webhook/reviews there.
func (w *World) SetEarshotURL(base string) { w.Reviews.SetTarget(base) }

// Connected reports whether every connector has reached its fake: the
// Slack socket and the Discord gateway are open, the Mastodon, Bluesky and
// X streams are open and X has polled its mentions once. (The webhook
// network has nothing to dial.)
func (w *World) Connected() bool {
	for _, d := range w.desks {
		if !d.connected() {
			return false
		}
	}
	return w.Mastodon.Streams() > 0 && w.Bluesky.Streams() > 0 && w.X.Streams() > 0 && w.X.MentionPolls() > 0
}

var handleRE = regexp.MustCompile(`^[a-z0-9_]{1,15}$`)

// ErrBadHandle is returned for a handle that is not 1 to 15 lowercase
// letters, digits or underscores (what every network of the demo accepts).
var ErrBadHandle = errors.New("a handle is 1 to 15 lowercase letters, digits or _")

// ErrUnknownNetwork is returned for a network the demo does not run.
var ErrUnknownNetwork = errors.New("unknown network")

// KnownNetwork reports whether the demo runs network.
func KnownNetwork(network string) bool {
	for _, n := range Networks {
		if n.Name == network {
			return true
		}
	}
	return false
}

// Customer returns the customer with handle on network, creating the
// account on the network's fake on first use (name defaults to the handle).
func (w *World) Customer(network, handle, name string) (Customer, error) {
	if !KnownNetwork(network) {
		return Customer{}, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
	}
	handle = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(handle)), "@")
	if !handleRE.MatchString(handle) {
		return Customer{}, ErrBadHandle
	}
	if handle == "earshot" || handle == "brand" {
		return Customer{}, fmt.Errorf("%q is the brand's own account: pick a customer handle", handle)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.customers[network][handle]; ok {
		return c, nil
	}
	if w.created >= maxCustomers {
		return Customer{}, fmt.Errorf("the demo holds at most %d customers", maxCustomers)
	}
	if name == "" {
		name = strings.ToUpper(handle[:1]) + handle[1:]
	}
	c := Customer{Network: network, Handle: handle, Name: name}
	switch network {
	case Mastodon:
		a := w.Mastodon.AddAccount(handle, name, 40+len(w.byID)%900)
		c.ID, c.Display = a.ID, "@"+a.Acct()
	case Bluesky:
		a := w.Bluesky.AddAccount(handle, name, 40+len(w.byID)%900)
		c.ID, c.Display = a.DID, "@"+a.Handle
	case X:
		u := w.X.AddUser(handle, name, 40+len(w.byID)%900)
		c.ID, c.Display = u.ID, "@"+u.Username
	case Reviews:
		c.ID, c.Display = handle, handle
	}
	if w.customers[network] == nil {
		w.customers[network] = map[string]Customer{}
	}
	w.customers[network][handle] = c
	w.byID[network+"/"+c.ID] = c
	w.created++
	return c, nil
}

// Customers lists the customers of network, sorted by handle, at most limit.
func (w *World) Customers(network string, limit int) []Customer {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Customer, 0, len(w.customers[network]))
	for _, c := range w.customers[network] {
		out = append(out, c)
	}
	sortBy(out, func(c Customer) string { return c.Handle })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// customerByID finds a customer by platform id.
func (w *World) customerByID(network, id string) (Customer, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.byID[network+"/"+id]
	return c, ok
}

// LoopbackAddr reports whether addr ("127.0.0.1:8080", "localhost:0",
// "[::1]:8080") is a host:port on the loopback interface.
func LoopbackAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL is the http:// URL of a listener address, for people to open.
func BaseURL(addr net.Addr) string {
	u := url.URL{Scheme: "http", Host: addr.String(), Path: "/"}
	return u.String()
}
