package bridge

import (
	"strings"
	"time"
)

// CaseID is the short, human id of a case, like "E-1042". Staff type it in
// commands, so it stays short and case-insensitive on input.
type CaseID string

// Author is a customer (or any account) on a network.
type Author struct {
	ID        string `json:"id"`               // the network's opaque account id (DID, numeric id, ...)
	Handle    string `json:"handle"`           // what staff read and what a reply mentions: "ana@mastodon.social", "ana.bsky.social", "ana"
	Name      string `json:"name,omitempty"`   // display name
	URL       string `json:"url,omitempty"`    // profile link
	Avatar    string `json:"avatar,omitempty"` // avatar image URL
	Followers int    `json:"followers,omitempty"`
}

// Post is one message on a network, as a connector hands it to the bridge.
type Post struct {
	Network      string    `json:"network"`
	ID           string    `json:"id"`
	Author       Author    `json:"author"`
	Text         string    `json:"text"` // plain text (connectors strip HTML)
	URL          string    `json:"url,omitempty"`
	InReplyTo    string    `json:"in_reply_to,omitempty"`  // the post this one answers, if any
	Conversation string    `json:"conversation,omitempty"` // the conversation root id; empty means the post is its own root
	Lang         string    `json:"lang,omitempty"`
	CreatedAt    time.Time `json:"created_at"`

	// What the connector already knows about how the post relates to us.
	MentionsUs bool `json:"mentions_us,omitempty"` // the post mentions our account
	ReplyToUs  bool `json:"reply_to_us,omitempty"` // the post replies to one of our posts
	Direct     bool `json:"direct,omitempty"`      // the post arrived as a direct message
	FromUs     bool `json:"from_us,omitempty"`     // written by our own account (never a complaint)

	// Ref is filled by connectors that need more than the id to reply
	// (Bluesky needs uri and cid of parent and root). Opaque to the bridge.
	Ref map[string]string `json:"ref,omitempty"`
}

// ConversationKey is the id that groups posts into one conversation.
func (p Post) ConversationKey() string {
	if p.Conversation != "" {
		return p.Conversation
	}
	return p.ID
}

// PostRef points at a post we published.
type PostRef struct {
	Network string `json:"network"`
	ID      string `json:"id"`
	URL     string `json:"url,omitempty"`
	// Warning, from Publish, is what staff should know about a reply that
	// went out ("the post answered was deleted meanwhile"): the outbox
	// shows it on the sent mark. Not part of the stored reference.
	Warning string `json:"-"`
}

// ThreadRef is a case's thread in a desk. ID is opaque to the bridge
// (Slack "C123:1712.0001", a Discord thread id).
type ThreadRef struct {
	Desk    string `json:"desk"`
	Channel string `json:"channel"`
	ID      string `json:"id"`
}

// IsZero reports whether the ref points nowhere.
func (t ThreadRef) IsZero() bool { return t.ID == "" }

// MessageRef is one message in a desk. Author is the desk user who wrote it,
// so a desk can explain privately to them why it was not sent.
type MessageRef struct {
	Desk    string `json:"desk"`
	Channel string `json:"channel"`
	Thread  string `json:"thread,omitempty"`
	ID      string `json:"id"`
	Author  string `json:"author,omitempty"`
}

// Status is where a case stands in its lifecycle.
type Status string

const (
	StatusNew       Status = "new"
	StatusClaimed   Status = "claimed"
	StatusEscalated Status = "escalated"
	StatusWaiting   Status = "waiting" // waiting on the customer
	StatusResolved  Status = "resolved"
)

// OpenStatuses are the statuses counted in queue depth.
var OpenStatuses = []Status{StatusNew, StatusClaimed, StatusEscalated, StatusWaiting}

// Open reports whether the case still needs work.
func (s Status) Open() bool { return s != StatusResolved && s != "" }

// Label is the status as staff read it on a card.
func (s Status) Label() string {
	switch s {
	case StatusNew:
		return "New"
	case StatusClaimed:
		return "Claimed"
	case StatusEscalated:
		return "Escalated"
	case StatusWaiting:
		return "Waiting on customer"
	case StatusResolved:
		return "Resolved"
	}
	return string(s)
}

// Staff is a desk user acting on cases.
type Staff struct {
	Desk   string   `json:"desk"`
	ID     string   `json:"id"`               // the desk's user id
	Name   string   `json:"name,omitempty"`   // display name, for cards and notes
	Groups []string `json:"groups,omitempty"` // desk groups or roles the user belongs to (Slack user groups, Discord roles)
}

// Key is the staff member's identity across the bridge: "slack:U123".
func (s Staff) Key() string { return s.Desk + ":" + s.ID }

// Display is how a card shows the staff member.
func (s Staff) Display() string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// Role is what a staff member may do.
type Role int

const (
	RoleNone  Role = iota // not staff: messages are notes, commands are refused
	RoleAgent             // claims, replies, escalates, resolves
	RoleLead              // and assigns, force-releases
)

func (r Role) String() string {
	switch r {
	case RoleAgent:
		return "agent"
	case RoleLead:
		return "lead"
	}
	return "none"
}

// Case is one customer conversation that staff handle.
type Case struct {
	ID           CaseID      `json:"id"`
	Seq          uint64      `json:"seq"` // the number in the id, for ordering
	Network      string      `json:"network"`
	Conversation string      `json:"conversation"`
	Customer     Author      `json:"customer"`
	Queue        string      `json:"queue"`          // the queue that owns it now (the team after an escalation)
	Origin       string      `json:"origin"`         // the queue it was routed to first
	Team         string      `json:"team,omitempty"` // escalated to
	Status       Status      `json:"status"`
	Assignee     string      `json:"assignee,omitempty"` // Staff.Key of the claimer
	AssigneeName string      `json:"assignee_name,omitempty"`
	Priority     int         `json:"priority"` // higher is more urgent
	Tags         []string    `json:"tags,omitempty"`
	Private      bool        `json:"private,omitempty"` // moved to DM, or opened by one: replies go by DM
	First        Post        `json:"first"`             // the post that opened the case
	Last         Post        `json:"last"`              // the customer's latest public post: public replies answer it
	Previous     []CaseID    `json:"previous,omitempty"`
	Reopens      int         `json:"reopens,omitempty"`
	Summary      string      `json:"summary,omitempty"` // the resolve summary
	PostCount    int         `json:"post_count"`        // customer posts in the case, the opening one included
	Threads      []ThreadRef `json:"threads,omitempty"` // the case's threads, oldest first (one per queue it was in)
	Version      uint64      `json:"version"`           // bumped on every change; a card showing an older version is stale
	OpenedAt     time.Time   `json:"opened_at"`
	ClaimedAt    time.Time   `json:"claimed_at,omitzero"`
	RespondedAt  time.Time   `json:"responded_at,omitzero"` // first public answer
	ResolvedAt   time.Time   `json:"resolved_at,omitzero"`
	UpdatedAt    time.Time   `json:"updated_at"`
	SnoozedUntil time.Time   `json:"snoozed_until,omitzero"`

	// SLA bookkeeping: each breach is counted once.
	FirstResponseBreached bool `json:"first_response_breached,omitempty"`
	ResolutionBreached    bool `json:"resolution_breached,omitempty"`

	// Incident is the incident the case is linked to (incident.go): while
	// linked to an open one it has no card of its own and its follow-ups
	// show in the incident's thread. IncidentN is its place in that
	// thread's feed.
	Incident  IncidentID `json:"incident,omitempty"`
	IncidentN uint64     `json:"incident_n,omitempty"`
}

// CaseSummary is a line of a customer's history or of a queue listing.
type CaseSummary struct {
	ID           CaseID    `json:"id"`
	Status       Status    `json:"status"`
	Queue        string    `json:"queue"`
	AssigneeName string    `json:"assignee_name,omitempty"`
	Priority     int       `json:"priority"`
	Text         string    `json:"text"` // the opening complaint, shortened
	OpenedAt     time.Time `json:"opened_at"`
	ResolvedAt   time.Time `json:"resolved_at,omitzero"`
	Due          time.Time `json:"due,omitzero"` // the next SLA deadline
}

// CaseView is everything a desk needs to render a card: the case, its SLA
// deadlines, the customer's history and the teams it may be escalated to.
type CaseView struct {
	Case
	FirstResponseDue time.Time     `json:"first_response_due,omitzero"`
	ResolutionDue    time.Time     `json:"resolution_due,omitzero"`
	History          []CaseSummary `json:"history,omitempty"`
	Teams            []string      `json:"teams,omitempty"`
	Posts            int           `json:"posts"` // customer posts in the case
	// IncidentTitle is the title of the incident the case is linked to.
	IncidentTitle string `json:"incident_title,omitempty"`
	// Incidents are the open incidents of the case's queue it may be
	// linked to (a picker on the card); empty while it is linked.
	Incidents []IncidentSummary `json:"incidents,omitempty"`
	// Replies are the names of the saved replies (a picker on the card).
	Replies []string `json:"replies,omitempty"`
}

// Due is the next SLA deadline that matters: first response until someone
// answered, then resolution. Zero when the queue has no targets or the case is resolved.
func (v CaseView) Due() time.Time {
	if !v.Status.Open() {
		return time.Time{}
	}
	if v.RespondedAt.IsZero() && !v.FirstResponseDue.IsZero() {
		return v.FirstResponseDue
	}
	return v.ResolutionDue
}

// StatusLine is the card's one-line state: "Claimed by Ana", "Escalated to billing".
func (v CaseView) StatusLine() string {
	switch v.Status {
	case StatusClaimed:
		return "Claimed by " + v.AssigneeName
	case StatusEscalated:
		if v.AssigneeName != "" {
			return "Escalated to " + v.Team + " (" + v.AssigneeName + ")"
		}
		return "Escalated to " + v.Team
	case StatusWaiting:
		return "Waiting on customer"
	case StatusResolved:
		return "Resolved"
	}
	return "New"
}

// MessageKind tells a new staff message from an edit or a delete.
type MessageKind string

const (
	MessageNew     MessageKind = "new"
	MessageEdited  MessageKind = "edited"
	MessageDeleted MessageKind = "deleted"
)

// StaffMessage is a message written by a desk user in a case's thread.
type StaffMessage struct {
	Kind    MessageKind `json:"kind"`
	Thread  ThreadRef   `json:"thread"`
	Message MessageRef  `json:"message"`
	Staff   Staff       `json:"staff"`
	// Text is the message as its desk reads it: plain text, with the
	// desk's markup turned into what a reader sees (formatting marks
	// dropped, a link as its address, a mention as "@Name"). Desks say
	// exactly how in their READMEs; the bridge publishes it as it is.
	Text string `json:"text"`
	// Mentions are the desk's own references the desk found in the text
	// (colleagues, groups, channels, @here): the bridge never lets one
	// reach a network.
	Mentions []DeskMention `json:"mentions,omitempty"`
	At       time.Time     `json:"at"`
}

// MentionKind says what a desk mention points at.
type MentionKind string

const (
	MentionUser     MentionKind = "user"     // a desk user: a colleague
	MentionGroup    MentionKind = "group"    // a user group or role
	MentionChannel  MentionKind = "channel"  // a desk channel
	MentionEveryone MentionKind = "everyone" // @here, @channel, @everyone
)

// DeskMention is something in a staff message that points into the desk
// itself. It means nothing to a customer, and a colleague's name is not
// theirs to read: a reply holding one is refused, never rewritten.
type DeskMention struct {
	Kind MentionKind `json:"kind"`
	ID   string      `json:"id,omitempty"`
	// Name is how staff know it: "Mei Chen", "support-team", "general", "here".
	Name string `json:"name,omitempty"`
	// Groups are a mentioned user's desk groups or roles, when the desk
	// knows them (so a lead can assign by mention to staff named by group).
	Groups []string `json:"groups,omitempty"`
}

// Label is how an explanation names the mention: "your colleague Mei
// Chen", "the group @support", "the channel #general", "@here".
func (m DeskMention) Label() string {
	name := m.Name
	if name == "" {
		name = m.ID
	}
	switch m.Kind {
	case MentionUser:
		return "your colleague " + name
	case MentionGroup:
		return "the group @" + strings.TrimPrefix(name, "@")
	case MentionChannel:
		return "the channel #" + strings.TrimPrefix(name, "#")
	}
	return "@" + strings.TrimPrefix(name, "@")
}

// Source is how a command reached us.
type Source string

const (
	SourceSlash  Source = "slash"
	SourceButton Source = "button"
	SourceText   Source = "text" // "!claim" typed in a thread
)

// Invocation is one staff command, whatever the desk and the way it came.
type Invocation struct {
	Desk    string     `json:"desk"`
	Source  Source     `json:"source"`
	Staff   Staff      `json:"staff"`
	Channel string     `json:"channel"`          // where it was run
	Thread  ThreadRef  `json:"thread,omitzero"`  // the case thread it was run in, if any
	Message MessageRef `json:"message,omitzero"` // the message a button belongs to (Retry), if any
	Name    string     `json:"name"`             // the verb or alias as typed ("claim")
	Args    []string   `json:"args,omitempty"`
	Raw     string     `json:"raw,omitempty"` // the argument text as typed, unsplit
	// Mentions are the desk mentions in the text (see StaffMessage).
	Mentions []DeskMention `json:"mentions,omitempty"`
}

// Response is what a command answers. Private answers are shown only to the
// caller (ephemeral) where the desk can.
type Response struct {
	Text    string `json:"text"`
	Private bool   `json:"private"`
	OK      bool   `json:"ok"` // false for refusals and errors
	// Command is the canonical verb that ran ("claim" for "/take"), or
	// "unknown"; it is a metric label, so never free text.
	Command string `json:"command,omitempty"`
	// Failed is set when the command broke rather than being refused
	// (a journal write failed): counted as result "error".
	Failed bool `json:"failed,omitempty"`
}

// Reply is a staff answer to publish on a network.
type Reply struct {
	Case      CaseID            `json:"case"`
	Network   string            `json:"network"`
	InReplyTo string            `json:"in_reply_to,omitempty"` // the customer's post to answer (public replies)
	InRef     map[string]string `json:"in_ref,omitempty"`      // Post.Ref of that post
	To        Author            `json:"to"`
	Text      string            `json:"text"`
	Private   bool              `json:"private,omitempty"` // a direct message instead of a public reply
	// IdempotencyKey is stable across attempts of the same reply; networks
	// that honour one (Mastodon's Idempotency-Key) use it.
	IdempotencyKey string `json:"idempotency_key"`
	// Broadcast marks a post to everyone rather than an answer to one
	// customer: an incident's public status thread. Its InReplyTo is empty
	// (the thread's first post) or one of our own posts; To is empty.
	Broadcast bool `json:"broadcast,omitempty"`
}

// DeliveryState is the fate of a staff message.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // waiting out the undo window, or being published
	DeliverySent      DeliveryState = "sent"      // published; Link points at it
	DeliveryFailed    DeliveryState = "failed"    // the network refused or every try failed; Retry possible
	DeliveryNotSent   DeliveryState = "not_sent"  // never meant to go (a note, not claimed, too long)
	DeliveryCancelled DeliveryState = "cancelled" // deleted inside the undo window
	DeliveryUncertain DeliveryState = "uncertain" // a crash left an attempt without outcome; check Link, then send again
)

// Delivery is the mark a desk shows on a staff message.
type Delivery struct {
	State  DeliveryState `json:"state"`
	Reason string        `json:"reason,omitempty"` // why not sent / failed (sent: what staff should know, if anything), in plain words
	Link   string        `json:"link,omitempty"`   // the public post when sent; where to check when uncertain
	Until  time.Time     `json:"until,omitzero"`   // end of the undo window while pending
	// Retry is the outbox id a Retry / Send again button acts on ("retry" command), when one applies.
	Retry string `json:"retry,omitempty"`
	// Private is set when the explanation should reach only the author.
	Private bool `json:"private,omitempty"`
	// Text is, while pending, the exact text that will be published, so
	// its author can still edit or delete it inside the undo window.
	Text string `json:"text,omitempty"`
}

// DeskMessageKind says what a desk message is, so desks can style it.
type DeskMessageKind string

const (
	DeskCustomer DeskMessageKind = "customer" // a customer's follow-up post
	DeskNotice   DeskMessageKind = "notice"   // a line from Earshot (escalated here, resolved, reply sent ...)
)

// DeskMessage is something the bridge posts into a thread.
type DeskMessage struct {
	Kind   DeskMessageKind `json:"kind"`
	Author *Author         `json:"author,omitempty"` // the customer, for DeskCustomer
	Text   string          `json:"text"`
	Link   string          `json:"link,omitempty"`
	// Actions are buttons under the message (a linked customer's follow-up
	// in an incident thread has Split out); each press is the command
	// Verb with Arg as its one argument.
	Actions []DeskAction `json:"actions,omitempty"`
}

// DeskAction is a button under a desk message.
type DeskAction struct {
	Verb  string `json:"verb"`  // the command a press runs ("split")
	Label string `json:"label"` // "Split out"
	Arg   string `json:"arg"`   // its argument ("E-42")
}

// TextLimits is how a network counts text and how much it takes.
type TextLimits struct {
	Max        int    // for public posts
	PrivateMax int    // for direct messages; 0 means Max
	Unit       string // "characters", "graphemes", "weighted characters"
	// Count returns the length the network would compute. Nil counts runes.
	Count func(text string) int
	// Refuse, when set, says why the network refuses text whatever its
	// length (X refuses U+FFFE, U+FEFF and U+FFFF in a post), in a sentence
	// staff can act on, or returns "". No I/O.
	Refuse func(text string, private bool) string
}

// Check returns the length of text and whether it fits.
func (l TextLimits) Check(text string, private bool) (n, limit int, ok bool) {
	limit = l.Max
	if private && l.PrivateMax > 0 {
		limit = l.PrivateMax
	}
	if l.Count != nil {
		n = l.Count(text)
	} else {
		n = len([]rune(text))
	}
	if limit <= 0 {
		return n, limit, true
	}
	return n, limit, n <= limit
}
