package connectortest

import (
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// IncidentCards returns incident views like the bridge hands a desk, one
// per state a card shows, for the desks' golden tests: a suggestion, an
// open incident nobody owns, one owned with its acknowledgement going out
// (some failed) and a public status thread, a resolved one, and one whose
// title and samples are full of markup.
func IncidentCards() map[string]bridge.IncidentView {
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	sample := func(handle, network, text string, min int) bridge.Post {
		return bridge.Post{Network: network, ID: "p-" + handle, Author: bridge.Author{ID: "id-" + handle, Handle: handle},
			Text: text, CreatedAt: at.Add(time.Duration(min) * time.Minute)}
	}
	base := bridge.IncidentView{
		Incident: bridge.Incident{ID: "INC-3", Seq: 3, Title: "Fibre cut near Braga", Queue: "broadband",
			Terms: []string{"broadband", "braga", "internet"}, Status: bridge.IncidentOpen, LateJoiners: true,
			DeclaredBy: "Rui", CreatedAt: at, DeclaredAt: at.Add(6 * time.Minute), UpdatedAt: at.Add(7 * time.Minute), Version: 4},
		Cases: 47, ByNetwork: map[string]int{"mastodon": 20, "bluesky": 15, "x": 12},
		First: at, Last: at.Add(6 * time.Minute),
		Samples: []bridge.Post{
			sample("kai.bsky.social", "bluesky", "broadband down in Braga since 9, router blinking red", 6),
			sample("ana@mastodon.social", "mastodon", "no internet at all in Braga!!", 5),
			sample("nadia", "x", "is @isp broadband down? Braga", 4),
		},
		Replies: []string{"outage", "sorry-delay"},
	}
	suggested := base
	suggested.Status, suggested.Title, suggested.Suggested = bridge.IncidentSuggested, "47 complaints in 6 min mention broadband, braga, internet", 47
	suggested.LateJoiners, suggested.DeclaredBy, suggested.DeclaredAt = false, "", time.Time{}

	owned := base
	owned.Owner, owned.OwnerName = "slack:U1", "Rui Costa"
	owned.Ack, owned.AckAt = "Hi {name}, we know broadband is down around Braga; engineers are on site.", at.Add(8*time.Minute)
	owned.StatusText = "Engineers on site; next update 16:00"
	owned.Public = true
	owned.StatusPosts = []bridge.PostRef{{Network: "mastodon", ID: "s1", URL: "https://mastodon.social/@isp/s1"}, {Network: "x", ID: "s2", URL: "https://x.com/isp/status/s2"}}
	owned.Progress = bridge.Progress{Purpose: bridge.PurposeAck, Total: 47, Sent: 41, Pending: 3, Failed: 2, Uncertain: 1, ETA: 2 * time.Minute}

	resolved := owned
	resolved.Status, resolved.ResolvedAt, resolved.Closing = bridge.IncidentResolved, at.Add(3*time.Hour), "Service is back in Braga."
	resolved.Progress = bridge.Progress{Purpose: bridge.PurposeClosing, Total: 47, Sent: 47}

	hostile := base
	hostile.Title = "<!channel> *cut* @everyone <@U123> `x` & co"
	hostile.Samples = []bridge.Post{sample("<@U9>", "x", "<!here> **bold** [link](https://evil.example) @everyone", 1)}
	hostile.Terms = []string{"<!here>", "*x*"}

	return map[string]bridge.IncidentView{"suggested": suggested, "open": base, "owned": owned, "resolved": resolved, "hostile": hostile}
}

// IncidentBridgeConfig is the core's config of a desk's incident flow
// test: one queue on desk in channel, the mentions of network "mastodon"
// (StubNetwork) watched, staff granted by group, no undo window, the
// incident card and its batch lines paced in milliseconds, a surge
// suggested at four complaints, one saved reply.
func IncidentBridgeConfig(desk, channel, group string) bridge.Config {
	return bridge.Config{
		Queues:        []bridge.QueueConfig{{Name: "support", Desk: desk, Channel: channel}},
		Watch:         []bridge.WatchRule{{Network: "mastodon", Mentions: true}},
		Staff:         []bridge.StaffRule{{Desk: desk, Group: group, Role: bridge.RoleAgent}},
		UndoWindowSet: true,
		Incidents: bridge.IncidentConfig{BatchEvery: 10 * time.Millisecond, CardEvery: 10 * time.Millisecond,
			Surge: bridge.SurgeConfig{Threshold: 4, Window: time.Hour}},
		Replies: []bridge.SavedReply{{Name: "outage", Text: "Sorry {name}, we are on it."}},
	}
}
