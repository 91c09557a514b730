package bridge

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Incidents: many cases with one cause, in one queue, worked as one. An
// incident has one live card and thread instead of one card per
// complaint; its owner (claimed like a case: only the owner speaks for
// it) writes one acknowledgement in its thread, and the outbox publishes
// it to every linked complainant, one ordinary outbox item each (paced
// per network, at most once each, idempotent where the network is,
// uncertain otherwise). Customers whose complaints match it later are
// linked as they come and, while the incident has an acknowledgement,
// get it too. An optional public status thread takes `!incident update`s;
// resolving it sends the closing message to everyone linked and resolves
// their cases, each of which a customer's answer reopens on its own.
//
// Lifecycle (pure functions below, as for cases):
//
//	suggested ──declare──▶ open ──resolve──▶ resolved
//	    └──not an incident──▶ dismissed
//
// A suggestion comes from the surge detector (incident_detect.go); staff
// declare one by hand too (a card's "Start incident" button, `!incident
// open`). A case is linked while its incident is open; unlinking,
// splitting out or escalating it gives it its own card again.

// IncidentID is the short id of an incident, like "INC-3".
type IncidentID string

// incidentPrefix starts every incident id.
const incidentPrefix = "INC"

// FormatIncidentID makes the id of incident number seq: "INC-3".
func FormatIncidentID(seq uint64) IncidentID {
	return IncidentID(incidentPrefix + "-" + strconv.FormatUint(seq, 10))
}

// ParseIncidentID reads an incident id as staff type it: "INC-3", "inc3",
// "#INC-3". ok is false for anything else.
func ParseIncidentID(s string) (IncidentID, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) <= len(incidentPrefix) || !strings.EqualFold(s[:len(incidentPrefix)], incidentPrefix) {
		return "", false
	}
	num := strings.TrimPrefix(s[len(incidentPrefix):], "-")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || num[0] == '+' {
		return "", false
	}
	return FormatIncidentID(n), true
}

// incidentNumber reads the number of an incident id.
func incidentNumber(id IncidentID) (uint64, bool) {
	_, num, ok := strings.Cut(string(id), "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// IncidentStatus is where an incident stands.
type IncidentStatus string

const (
	IncidentSuggested IncidentStatus = "suggested" // the detector saw a surge; staff decide
	IncidentOpen      IncidentStatus = "open"
	IncidentResolved  IncidentStatus = "resolved"
	IncidentDismissed IncidentStatus = "dismissed" // staff said it is not an incident
)

// IncidentStatuses are every status, for gauges.
var IncidentStatuses = []IncidentStatus{IncidentSuggested, IncidentOpen, IncidentResolved, IncidentDismissed}

// Purposes of an incident's outbox items.
const (
	PurposeAck     = "ack"     // the acknowledgement, to one linked complainant
	PurposeClosing = "closing" // the closing message at resolve, to one linked complainant
	PurposeStatus  = "status"  // a post of the public status thread (no case)
)

// Kinds of a pending incident message.
const (
	pendingAck     = "ack"
	pendingClosing = "closing"
)

// PendingSend is an incident message in its undo window: written once by
// the owner, it goes to every linked complainant when the window ends.
type PendingSend struct {
	Kind    string     `json:"kind"` // "ack" or "closing"
	Text    string     `json:"text"`
	By      Staff      `json:"by"`
	Message MessageRef `json:"message,omitzero"`
	// Command is the text command it was typed with ("!incident
	// resolve"): an edit must still be that command.
	Command string    `json:"command,omitempty"`
	Due     time.Time `json:"due"`
}

// Incident is many cases with one cause in one queue.
type Incident struct {
	ID     IncidentID     `json:"id"`
	Seq    uint64         `json:"seq"`
	Title  string         `json:"title"`
	Queue  string         `json:"queue"`
	Terms  []string       `json:"terms,omitempty"` // normalised words a complaint must share to be linked
	Status IncidentStatus `json:"status"`
	// Origin is the case it was started from, if any.
	Origin CaseID `json:"origin,omitempty"`
	// Suggested is how many complaints the detector counted; SuggestedUntil
	// is when it may suggest the same terms again.
	Suggested      int       `json:"suggested,omitempty"`
	SuggestedUntil time.Time `json:"suggested_until,omitzero"`
	// Owner speaks for the incident (Staff.Key), like a case's claimer.
	Owner     string `json:"owner,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	// DeclaredBy names who declared it.
	DeclaredBy string `json:"declared_by,omitempty"`
	// StatusText is the latest status update.
	StatusText string `json:"status_text,omitempty"`
	// Ack is the acknowledgement every linked complainant gets (a
	// template: {name}, {handle}, {network}, {case}, {incident},
	// {status_url}); AckBy wrote it. Empty until one was released.
	Ack   string    `json:"ack,omitempty"`
	AckBy Staff     `json:"ack_by,omitzero"`
	AckAt time.Time `json:"ack_at,omitzero"`
	// LateJoiners: a complaint linked after the acknowledgement went out
	// gets it too. On by default.
	LateJoiners bool `json:"late_joiners"`
	// Pending is an acknowledgement or closing message in its undo window.
	Pending PendingSend `json:"pending,omitzero"`
	// Sent is the desk message of the latest released acknowledgement or
	// closing message (marked with the fan-out's fate), and SentKind which.
	Sent     MessageRef `json:"sent,omitzero"`
	SentKind string     `json:"sent_kind,omitempty"`
	// Closing is the closing message sent at resolve.
	Closing string `json:"closing,omitempty"`
	// Public is set once the public status thread started; StatusPosts
	// are its latest post on each network (an update replies under it).
	Public      bool      `json:"public,omitempty"`
	StatusPosts []PostRef `json:"status_posts,omitempty"`
	// StatusRoots are the thread's first post on each network (a reply
	// names its thread's root too, on Bluesky).
	StatusRoots []PostRef `json:"status_roots,omitempty"`
	// Feed counts the entries of the incident thread's feed: cases linked
	// and linked customers' follow-ups, numbered in order.
	Feed    uint64      `json:"feed"`
	Threads []ThreadRef `json:"threads,omitempty"`
	// Version is bumped on every change a card shows.
	Version    uint64    `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	DeclaredAt time.Time `json:"declared_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Live reports whether the incident takes cases (open).
func (i *Incident) Live() bool { return i.Status == IncidentOpen }

// StatusURL is the link to the public status thread on network, or "".
func (i *Incident) StatusURL(network string) string {
	for _, p := range i.StatusPosts {
		if p.Network == network {
			return p.URL
		}
	}
	return ""
}

func (i Incident) touched(at time.Time) Incident {
	i.Version++
	i.UpdatedAt = at
	return i
}

// Declare makes a suggested incident (or a new one) open.
func (i Incident) Declare(by Staff, title string, terms []string, at time.Time) (Incident, error) {
	switch i.Status {
	case IncidentOpen:
		return i, Userf("%s is already declared.", i.ID)
	case IncidentResolved:
		return i, Userf("%s is resolved; declare a new incident instead.", i.ID)
	}
	if title == "" && i.Status == IncidentSuggested {
		// A suggestion's title says what the detector saw; the incident's
		// names what it is about.
		title = capitalize(strings.Join(i.Terms, ", "))
	}
	i.Status = IncidentOpen
	if title != "" {
		i.Title = title
	}
	if len(terms) > 0 {
		i.Terms = terms
	}
	i.DeclaredBy = by.Display()
	i.DeclaredAt = at
	i.LateJoiners = true
	return i.touched(at), nil
}

// Dismiss says a suggestion is not an incident.
func (i Incident) Dismiss(at time.Time) (Incident, error) {
	if i.Status != IncidentSuggested {
		return i, Userf("%s is %s, not a suggestion.", i.ID, i.Status)
	}
	i.Status = IncidentDismissed
	return i.touched(at), nil
}

// Own gives the incident to to (nil releases it). Like a case's claim, an
// owned incident is not taken by claiming it: force (a lead's release or
// assign) is needed.
func (i Incident) Own(by Staff, to *Staff, force bool, at time.Time) (Incident, error) {
	if i.Status != IncidentOpen {
		return i, Userf("%s is %s; only an open incident has an owner.", i.ID, i.Status)
	}
	if to == nil {
		if i.Owner == "" {
			return i, Userf("Nobody owns %s.", i.ID)
		}
		if i.Owner != by.Key() && !force {
			return i, Userf("%s owns %s, not you; only they or a lead can release it.", orSomeone(i.OwnerName), i.ID)
		}
		i.Owner, i.OwnerName = "", ""
		return i.touched(at), nil
	}
	if i.Owner == to.Key() {
		return i, Userf("%s already owns %s.", to.Display(), i.ID)
	}
	if i.Owner != "" && !force {
		return i, Userf("%s already owns %s.", orSomeone(i.OwnerName), i.ID)
	}
	i.Owner, i.OwnerName = to.Key(), to.Display()
	return i.touched(at), nil
}

// Resolve closes the incident.
func (i Incident) Resolve(closing string, at time.Time) (Incident, error) {
	if i.Status != IncidentOpen {
		return i, Userf("%s is %s; only an open incident can be resolved.", i.ID, i.Status)
	}
	i.Status = IncidentResolved
	i.ResolvedAt = at
	i.Closing = closing
	return i.touched(at), nil
}

// IncidentSummary is an incident as one line of a picker or a listing.
type IncidentSummary struct {
	ID     IncidentID     `json:"id"`
	Title  string         `json:"title"`
	Status IncidentStatus `json:"status"`
	Cases  int            `json:"cases"`
}

// IncidentView is everything a desk needs to render an incident's card.
type IncidentView struct {
	Incident
	// Cases counts the linked cases; ByNetwork splits them.
	Cases     int            `json:"cases"`
	ByNetwork map[string]int `json:"by_network,omitempty"`
	// First and Last are when the first and the latest linked complaint was posted.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Samples are the newest linked complaints, newest first.
	Samples []Post `json:"samples,omitempty"`
	// Progress is where the acknowledgement (or the closing message) stands.
	Progress Progress `json:"progress"`
	// Replies are the names of the saved replies (a picker on the card).
	Replies []string `json:"replies,omitempty"`
}

// Progress counts an incident's outbox items of one purpose by fate.
type Progress struct {
	Purpose   string        `json:"purpose,omitempty"` // what is counted: "ack" or "closing"; "" when nothing was sent
	Total     int           `json:"total"`
	Sent      int           `json:"sent"`
	Pending   int           `json:"pending"` // queued or being published
	Failed    int           `json:"failed"`
	Uncertain int           `json:"uncertain"`
	Cancelled int           `json:"cancelled"`
	ETA       time.Duration `json:"eta,omitempty"` // until every pending one is out, at the networks' pace
}

// Line is the progress as a card shows it: "sent 212 / 300, 3 failed, ETA 2m".
func (p Progress) Line() string {
	if p.Total == 0 {
		return ""
	}
	what := "Acknowledged"
	if p.Purpose == PurposeClosing {
		what = "Closing message sent"
	}
	parts := []string{what + " " + strconv.Itoa(p.Sent) + " / " + strconv.Itoa(p.Total-p.Cancelled)}
	if p.Failed > 0 {
		parts = append(parts, strconv.Itoa(p.Failed)+" failed")
	}
	if p.Uncertain > 0 {
		parts = append(parts, strconv.Itoa(p.Uncertain)+" uncertain")
	}
	if p.Pending > 0 {
		eta := "ETA under a minute"
		if p.ETA >= time.Minute {
			eta = "ETA " + roughDuration(p.ETA)
		}
		parts = append(parts, strconv.Itoa(p.Pending)+" waiting", eta)
	}
	return strings.Join(parts, ", ")
}

// roughDuration is d rounded for people: "3m", "1h 10m".
func roughDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Hour {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return strconv.Itoa(h) + "h"
	}
	return strconv.Itoa(h) + "h " + strconv.Itoa(m) + "m"
}

// StatusLine is the card's one-line state.
func (v IncidentView) StatusLine() string {
	switch v.Status {
	case IncidentSuggested:
		return "Possible incident"
	case IncidentDismissed:
		return "Not an incident"
	case IncidentResolved:
		return "Resolved"
	}
	if v.OwnerName != "" {
		return "Open, owned by " + v.OwnerName
	}
	return "Open, nobody owns it yet"
}

// NetworkLine is the linked cases by network: "mastodon 120 · x 80".
func (v IncidentView) NetworkLine() string {
	names := make([]string, 0, len(v.ByNetwork))
	for n := range v.ByNetwork {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+" "+strconv.Itoa(v.ByNetwork[n]))
	}
	return strings.Join(parts, " · ")
}
