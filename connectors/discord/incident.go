package discord

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
)

// Incidents on Discord: one live card in the queue's channel (a forum post
// in a forum, a message with its thread in a text channel; the
// suggestion's card becomes the incident's), with its components
// (Declare / Not an incident on a suggestion; Claim or Release, Retry
// failed, late joiners and the saved reply picker on an incident), and
// incident components on case cards (Start incident or Split out, the
// Link to incident picker) and under follow-up lines (Split out). A
// button's custom id is earshot:incident:<verb>:<id>; a picker's is
// earshot:incident:link or earshot:say, its value the choice.

const (
	incidentPrefix = customPrefix + "incident:"
	sayID          = customPrefix + "say"
	// incidentPriority puts an incident's card ahead of case cards in
	// the channel's pacing: it stands for many of them.
	incidentPriority = 1 << 20
	// urgentPriority puts what a staff action caused ahead of everything.
	urgentPriority = 1 << 30
)

var _ bridge.IncidentDesk = (*Desk)(nil)

// urgent is prio, or urgentPriority when a staff action caused the call.
func urgent(ctx context.Context, prio int) int {
	if bridge.Urgent(ctx) {
		return urgentPriority
	}
	return prio
}

// Incident card colours by status.
var incidentColors = map[bridge.IncidentStatus]int{
	bridge.IncidentSuggested: 0xFEE75C,
	bridge.IncidentOpen:      0xED4245,
	bridge.IncidentResolved:  0x57F287,
	bridge.IncidentDismissed: 0x949BA4,
}

// RenderIncident is the one renderer of an incident card: an embed
// saying what the incident is, how many complaints it holds from where,
// the newest of them and where the acknowledgement stands, and its
// components. Names and words of customers are escaped. Pure; no I/O.
func RenderIncident(v bridge.IncidentView) (*discordgo.MessageEmbed, []discordgo.MessageComponent) {
	title := v.Title
	if v.Status == bridge.IncidentSuggested {
		title = "Possible incident"
	}
	var desc []string
	if v.Status == bridge.IncidentSuggested {
		desc = append(desc, escapeCut(oneLine(v.Title), 500)+" in **"+escapeCut(v.Queue, 100)+"**.")
	}
	if v.StatusText != "" {
		desc = append(desc, "**Status update:** "+escapeCut(oneLine(v.StatusText), 1000))
	}
	if line := v.Progress.Line(); line != "" {
		desc = append(desc, "**"+escape(line)+"**")
	}
	for _, p := range v.Samples {
		desc = append(desc, "> "+escapeCut(oneLine(p.Author.Handle), 80)+" on "+escape(p.Network)+": "+escapeCut(oneLine(p.Text), 280))
	}
	complaints := strconv.Itoa(v.Cases)
	if n := v.NetworkLine(); n != "" {
		complaints += " (" + escape(n) + ")"
	}
	fields := []*discordgo.MessageEmbedField{
		field("Status", escapeCut(v.StatusLine(), 300)),
		field("Complaints", cut(complaints, maxFieldValue)),
	}
	if !v.First.IsZero() {
		fields = append(fields, field("First · latest", when(v.First)+" · "+when(v.Last)))
	}
	if len(v.Terms) > 0 {
		fields = append(fields, field("Terms", escapeCut(strings.Join(v.Terms, ", "), 300)))
	}
	if v.Status == bridge.IncidentOpen || v.Status == bridge.IncidentResolved {
		late := "on"
		if !v.LateJoiners {
			late = "off"
		}
		fields = append(fields, field("Late joiners", late))
	}
	if v.Public {
		var links []string
		for _, p := range v.StatusPosts {
			links = append(links, link(p.URL, p.Network))
		}
		if len(links) == 0 {
			links = append(links, "starting")
		}
		fields = append(fields, field("Public status thread", cut(strings.Join(links, " · "), maxFieldValue)))
	}
	e := &discordgo.MessageEmbed{
		Type:        discordgo.EmbedTypeRich,
		Title:       escapeCut(oneLine(string(v.ID)+" · "+title), maxTitle),
		Description: cut(strings.Join(desc, "\n"), maxCardText),
		Color:       incidentColors[v.Status],
		Fields:      fields,
		Footer:      &discordgo.MessageEmbedFooter{Text: "Earshot · incident in " + cut(v.Queue, 60)},
	}
	if !v.CreatedAt.IsZero() {
		e.Timestamp = v.CreatedAt.UTC().Format(time.RFC3339)
	}
	return e, incidentComponents(v)
}

// incidentComponents are the card's components, by status.
func incidentComponents(v bridge.IncidentView) []discordgo.MessageComponent {
	id := string(v.ID)
	button := func(customID, label string, style discordgo.ButtonStyle) discordgo.MessageComponent {
		return discordgo.Button{CustomID: customID, Label: label, Style: style}
	}
	var row []discordgo.MessageComponent
	switch v.Status {
	case bridge.IncidentSuggested:
		row = append(row, button(incidentPrefix+"declare:"+id, "Declare incident", discordgo.PrimaryButton),
			button(incidentPrefix+"dismiss:"+id, "Not an incident", discordgo.SecondaryButton))
	case bridge.IncidentOpen:
		if v.Owner == "" {
			row = append(row, button(customPrefix+"claim", "Claim", discordgo.PrimaryButton))
		} else {
			row = append(row, button(customPrefix+"release", "Release", discordgo.SecondaryButton))
		}
		if v.Progress.Failed > 0 {
			row = append(row, button(incidentPrefix+"retry:"+id, fmt.Sprintf("Retry %d failed", v.Progress.Failed), discordgo.DangerButton))
		}
		if v.LateJoiners {
			row = append(row, button(incidentPrefix+"late:off", "Late joiners off", discordgo.SecondaryButton))
		} else {
			row = append(row, button(incidentPrefix+"late:on", "Late joiners on", discordgo.SecondaryButton))
		}
	default:
		return nil
	}
	rows := []discordgo.MessageComponent{discordgo.ActionsRow{Components: row}}
	if v.Status == bridge.IncidentOpen {
		if p := picker(sayID, "Saved reply…", v.Replies, nil); p != nil {
			rows = append(rows, p)
		}
	}
	return rows
}

// picker is a select row of values (labels when given), or nil when
// there is nothing to pick.
func picker(customID, placeholder string, values, labels []string) discordgo.MessageComponent {
	var opts []discordgo.SelectMenuOption
	for i, v := range values {
		if len(opts) == maxOptions || v == "" || len(v) > maxOptionText {
			continue
		}
		label := v
		if i < len(labels) {
			label = cut(oneLine(labels[i]), maxOptionText)
		}
		opts = append(opts, discordgo.SelectMenuOption{Label: label, Value: v})
	}
	if len(opts) == 0 {
		return nil
	}
	return discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.SelectMenu{
		MenuType: discordgo.StringSelectMenu, CustomID: customID, Placeholder: placeholder, Options: opts}}}
}

// caseIncidentComponents adds a case card's incident components to its
// rows: Start incident or Split out in the button row, the Link to
// incident and saved reply pickers in rows of their own.
func caseIncidentComponents(c bridge.CaseView, rows []discordgo.MessageComponent) []discordgo.MessageComponent {
	if !c.Status.Open() || len(rows) == 0 {
		return rows
	}
	first := rows[0].(discordgo.ActionsRow)
	if c.Incident != "" {
		first.Components = append(first.Components, discordgo.Button{CustomID: incidentPrefix + "split:" + string(c.ID),
			Label: "Split out of " + string(c.Incident), Style: discordgo.SecondaryButton})
	} else {
		first.Components = append(first.Components, discordgo.Button{CustomID: incidentPrefix + "from:" + string(c.ID),
			Label: "Start incident", Style: discordgo.SecondaryButton})
	}
	rows[0] = first
	var ids, labels []string
	for _, i := range c.Incidents {
		ids, labels = append(ids, string(i.ID)), append(labels, string(i.ID)+" · "+i.Title)
	}
	if p := picker(incidentPrefix+"link", "Link to incident…", ids, labels); p != nil && c.Incident == "" && len(rows) < 5 {
		rows = append(rows, p)
	}
	if p := picker(sayID, "Saved reply…", c.Replies, nil); p != nil && len(rows) < 5 {
		rows = append(rows, p)
	}
	return rows
}

// messageActions are the buttons under a desk message (Split out under a
// linked customer's follow-up), or nil.
func messageActions(m bridge.DeskMessage) []discordgo.MessageComponent {
	var row []discordgo.MessageComponent
	for _, a := range m.Actions {
		id := incidentPrefix + a.Verb + ":" + a.Arg
		if len(row) == 5 || len(id) > maxCustomID {
			continue
		}
		row = append(row, discordgo.Button{CustomID: id, Label: cut(a.Label, 80), Style: discordgo.SecondaryButton})
	}
	if len(row) == 0 {
		return nil
	}
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: row}}
}

// parseIncidentComponent reads an incident component (the verb after
// "earshot:") into inv; ok is false for anything else.
func parseIncidentComponent(inv *bridge.Invocation, verb string, values []string) bool {
	if verb == "say" {
		if len(values) == 0 || values[0] == "" {
			return false
		}
		inv.Name, inv.Args = "say", []string{values[0]}
		return true
	}
	rest, ok := strings.CutPrefix(verb, "incident:")
	if !ok {
		return false
	}
	sub, arg, _ := strings.Cut(rest, ":")
	if arg == "" && len(values) > 0 {
		arg = values[0]
	}
	switch sub {
	case "declare", "dismiss", "split", "from", "link", "retry", "late":
	default:
		return false
	}
	if arg == "" {
		return false
	}
	inv.Name, inv.Args = "incident", []string{sub, arg}
	return true
}

// incidentThreadName names an incident's thread or forum post.
func incidentThreadName(v bridge.IncidentView) string {
	return cut(oneLine(string(v.ID)+" · incident · "+v.Title), maxThreadName)
}

// OpenIncident posts the incident's card in channel (a forum or text
// channel) and returns its thread.
func (d *Desk) OpenIncident(ctx context.Context, channel string, v bridge.IncidentView) (bridge.ThreadRef, error) {
	info, err := d.channelInfo(ctx, channel)
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("discord: open incident card: channel %s: %w", channel, err)
	}
	embed, comps := RenderIncident(v)
	var id string
	switch info.kind {
	case kindForum:
		id, err = d.openForumCard(ctx, channel, incidentThreadName(v), embed, comps, incidentPriority, nil)
	case kindText:
		id, err = d.openTextCard(ctx, channel, incidentThreadName(v), embed, comps, incidentPriority, "")
	default:
		err = fmt.Errorf("channel %s is neither a text nor a forum channel", channel)
	}
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("discord: open incident card: %w", err)
	}
	archived := false
	d.mu.Lock()
	d.threads[id] = &threadState{parent: channel, forum: info.kind == kindForum, prio: incidentPriority, archived: &archived}
	d.channels[id] = chanInfo{kind: kindThread, parent: channel}
	d.mu.Unlock()
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: id}, nil
}

// UpdateIncident re-renders the incident's card.
func (d *Desk) UpdateIncident(ctx context.Context, t bridge.ThreadRef, v bridge.IncidentView) error {
	st, err := d.thread(ctx, t)
	if err != nil {
		return fmt.Errorf("discord: update incident card: %w", err)
	}
	d.mu.Lock()
	st.prio = incidentPriority
	d.mu.Unlock()
	embed, comps := RenderIncident(v)
	if err := d.editEmbed(ctx, t, st, embed, comps); err != nil {
		return fmt.Errorf("discord: update incident card: %w", err)
	}
	return nil
}
