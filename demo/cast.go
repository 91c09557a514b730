package demo

import "time"

// The networks of the demo, in the order the sandbox shows them.
const (
	Mastodon = "mastodon"
	Bluesky  = "bluesky"
	X        = "x"
	Reviews  = "webhook" // the review site, reached through the generic webhook network
)

// Networks lists every network of the demo, in display order.
var Networks = []NetworkInfo{
	{Name: Mastodon, Label: "Mastodon", Brand: "@earshot@fake.social"},
	{Name: Bluesky, Label: "Bluesky", Brand: "@earshot.fake.bsky"},
	{Name: X, Label: "X", Brand: "@earshot"},
	{Name: Reviews, Label: "Reviews (webhook)", Brand: "the brand"},
}

// NetworkInfo names a network for people.
type NetworkInfo struct {
	Name  string `json:"name"`  // as in config and metrics
	Label string `json:"label"` // as people read it
	Brand string `json:"brand"` // how a customer addresses the brand there
}

// ReviewSource is the webhook source name of the review site.
const ReviewSource = "reviews"

// The desks of the demo: a Slack workspace for the care team, a Discord
// server for the mobile team and the network engineers.
const (
	SlackDesk   = "slack"
	DiscordDesk = "discord"
)

// Desks lists the desks in display order.
var Desks = []DeskInfo{{Name: SlackDesk, Label: "Slack"}, {Name: DiscordDesk, Label: "Discord"}}

// DeskInfo names a desk for people.
type DeskInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Channel is one desk channel: a queue, or a team cases are escalated to.
type Channel struct {
	Desk    string `json:"desk"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Queue   string `json:"queue"`
	Team    bool   `json:"team"`
	Forum   bool   `json:"forum"` // a Discord forum: one post per case
	Purpose string `json:"purpose"`
	// SLA targets of the queue (first response, resolution); zero: none.
	FirstResponse time.Duration `json:"-"`
	Resolution    time.Duration `json:"-"`
}

// Channels are the queues of the demo, the default queue first (cases no
// route claims land there).
var Channels = []Channel{
	{Desk: SlackDesk, ID: "C01CARE", Name: "social-care", Queue: "care",
		Purpose:       "Everything no other queue takes: flights, refunds, questions.",
		FirstResponse: 2 * time.Minute, Resolution: 30 * time.Minute},
	{Desk: SlackDesk, ID: "C02RAIL", Name: "rail-disruption", Queue: "rail",
		Purpose:       "Trains: delays, cancellations, signal failures.",
		FirstResponse: time.Minute, Resolution: 20 * time.Minute},
	{Desk: SlackDesk, ID: "C03BROADBAND", Name: "broadband-outage", Queue: "broadband",
		Purpose:       "Broadband and Wi-Fi: outages and slow lines.",
		FirstResponse: time.Minute, Resolution: time.Hour},
	{Desk: SlackDesk, ID: "C05REFUNDS", Name: "refunds", Queue: "refunds", Team: true,
		Purpose:       "Refunds and compensation: escalate money questions here.",
		FirstResponse: 10 * time.Minute},
	{Desk: DiscordDesk, ID: "3100000000000000001", Name: "mobile-care", Queue: "mobile",
		Purpose:       "Phones and SIM cards: no bars, roaming, a lost phone. A text channel: each card starts a thread.",
		FirstResponse: 2 * time.Minute, Resolution: time.Hour},
	{Desk: DiscordDesk, ID: "3100000000000000002", Name: "network-ops", Queue: "network-ops", Team: true, Forum: true,
		Purpose:       "The network engineers' forum: escalate line faults here. One post per case, tagged with its status.",
		FirstResponse: 5 * time.Minute},
}

// ChannelByID finds a channel of desk.
func ChannelByID(desk, id string) (Channel, bool) {
	for _, c := range Channels {
		if c.Desk == desk && c.ID == id {
			return c, true
		}
	}
	return Channel{}, false
}

// ChannelOfQueue finds the channel of a queue.
func ChannelOfQueue(queue string) (Channel, bool) {
	for _, c := range Channels {
		if c.Queue == queue {
			return c, true
		}
	}
	return Channel{}, false
}

// Roles of desk users.
const (
	RoleAgent = "agent"
	RoleLead  = "lead"
	RoleNone  = "" // in the workspace, but not staff: their messages are notes, their commands refused
)

// Person is a desk user the sandbox can act as.
type Person struct {
	Desk   string `json:"desk"`
	ID     string `json:"id"`
	Handle string `json:"handle"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Group  string `json:"group,omitempty"` // the desk group that grants the role
	About  string `json:"about"`
}

// Groups that grant roles: a Slack user group, Discord roles.
const (
	GroupCare    = "S01CARE"
	RoleMobile   = "3200000000000000001"
	RoleNetOps   = "3200000000000000002"
	discordGuild = "3000000000000000001"
)

// Staff are the desk users of the demo. On Slack: three agents of the care
// group, the lead (by a user rule) and a colleague who is not staff. On
// Discord: a mobile agent and a network engineer (each by a role), the
// lead again (her Discord account) and a colleague who is not staff.
var Staff = []Person{
	{Desk: SlackDesk, ID: "U01RUI", Handle: "rui", Name: "Rui Costa", Role: RoleAgent, Group: GroupCare, About: "agent, social care"},
	{Desk: SlackDesk, ID: "U02MEI", Handle: "mei", Name: "Mei Chen", Role: RoleAgent, Group: GroupCare, About: "agent, social care"},
	{Desk: SlackDesk, ID: "U03SAM", Handle: "sam", Name: "Sam Okafor", Role: RoleAgent, Group: GroupCare, About: "agent, social care"},
	{Desk: SlackDesk, ID: "U04LENA", Handle: "lena", Name: "Lena Fischer", Role: RoleLead, About: "team lead: may assign and force-release"},
	{Desk: SlackDesk, ID: "U06ALEX", Handle: "alex", Name: "Alex Kim", Role: RoleNone, About: "marketing, not staff: messages stay notes, commands are refused"},
	{Desk: DiscordDesk, ID: "3300000000000000001", Handle: "aiko", Name: "Aiko Tanaka", Role: RoleAgent, Group: RoleMobile, About: "agent, mobile care"},
	{Desk: DiscordDesk, ID: "3300000000000000002", Handle: "tomas", Name: "Tomás Ruiz", Role: RoleAgent, Group: RoleNetOps, About: "network engineer (the network-ops team)"},
	{Desk: DiscordDesk, ID: "3300000000000000003", Handle: "lena", Name: "Lena Fischer", Role: RoleLead, About: "team lead, on Discord too"},
	{Desk: DiscordDesk, ID: "3300000000000000004", Handle: "sasha", Name: "Sasha Novak", Role: RoleNone, About: "sales, not staff: messages stay notes, commands are refused"},
}

// PersonByID finds a desk user.
func PersonByID(desk, id string) (Person, bool) {
	for _, p := range Staff {
		if p.Desk == desk && p.ID == id {
			return p, true
		}
	}
	return Person{}, false
}

// StarterCustomers are created on every network when the world starts, so
// the sandbox's handle picker is never empty. Any other valid handle is
// created on first use.
var StarterCustomers = []struct{ Handle, Name string }{
	{"ana", "Ana Lima"},
	{"joao", "João Silva"},
	{"priya", "Priya Nair"},
	{"kai", "Kai Müller"},
	{"nadia", "Nadia Haddad"},
}

// Watched words and routes of the demo config. Posts that mention the
// brand always count; these make posts that do not mention it count too.
var (
	WatchKeywords = []string{"delayed", "cancelled", "outage", "no internet", "refund"}
	WatchHashtags = []string{"railchaos", "broadbanddown"}
	WatchExclude  = []string{"giveaway"}
)

// Route is one routing rule of the demo config.
type Route struct {
	Name     string
	Keywords []string
	Queue    string
	Priority int
	Tags     []string
}

// Routes pick a queue by words; unmatched cases go to the first queue (care).
var Routes = []Route{
	{Name: "rail", Keywords: []string{"train", "rail", "railchaos", "platform", "signal", "station", "delayed"}, Queue: "rail", Priority: 1, Tags: []string{"rail"}},
	{Name: "broadband", Keywords: []string{"broadband", "broadbanddown", "internet", "wifi", "wi-fi", "router", "outage"}, Queue: "broadband", Priority: 1, Tags: []string{"outage"}},
	{Name: "mobile", Keywords: []string{"phone", "mobile", "sim", "5g", "4g", "roaming", "bars"}, Queue: "mobile", Priority: 1, Tags: []string{"mobile"}},
	{Name: "flights", Keywords: []string{"flight", "rebook", "boarding", "gate"}, Queue: "care", Priority: 2, Tags: []string{"flight"}},
}

// DefaultUndoWindow is the demo's undo window: short enough to watch, long
// enough to edit or delete a reply before it goes.
const DefaultUndoWindow = 5 * time.Second
