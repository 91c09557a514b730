package slack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
)

// Incidents on Slack: one live card in the queue's channel (the
// suggestion's card becomes the incident's) with its thread; buttons on
// it (Declare / Not an incident on a suggestion; Claim or Release, Retry
// failed, late joiners, the saved reply picker on an incident), and
// incident buttons on case cards (Start incident, the Link to incident
// picker, Split out) and on follow-up lines (Split out). A button's action
// id is earshot:incident:<verb>, its value the incident or case it names.

const (
	incidentBlockID = "earshot:incident"
	incidentAction  = actionPrefix + "incident:"
	sayAction       = actionPrefix + "say"
	// incidentPriority puts an incident's card ahead of case cards in the
	// channel's pacing: it stands for many of them.
	incidentPriority = 1 << 20
	// urgentPriority puts what a staff action caused ahead of everything.
	urgentPriority = 1 << 30
)

var _ bridge.IncidentDesk = (*Desk)(nil)

// RenderIncident is the one Block Kit renderer of an incident card: what
// the incident is, how many complaints it holds from where, the newest of
// them, where the acknowledgement stands, and the buttons to act on it.
// Pure; no I/O.
func RenderIncident(v bridge.IncidentView) ([]slack.Block, string) {
	var blocks []slack.Block
	title := v.Title
	if v.Status == bridge.IncidentSuggested {
		title = "Possible incident"
	}
	blocks = append(blocks, slack.NewHeaderBlock(plain(cut(fmt.Sprintf("%s · %s", v.ID, title), maxHeaderText))))
	if v.Status == bridge.IncidentSuggested {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(cut(escape(v.Title)+" in *"+escape(v.Queue)+"*.", maxSectionText)), nil, nil))
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Status*\n" + cut(escape(v.StatusLine()), 1900)),
		mrkdwn("*Complaints*\n" + strconv.Itoa(v.Cases) + cut(netLine(v), 1900)),
	}
	if !v.First.IsZero() {
		fields = append(fields, mrkdwn("*First · latest*\n"+escape(when(v.First))+" · "+escape(when(v.Last))))
	}
	if len(v.Terms) > 0 {
		fields = append(fields, mrkdwn("*Terms*\n"+cut(escape(strings.Join(v.Terms, ", ")), 1900)))
	}
	if v.Status == bridge.IncidentOpen || v.Status == bridge.IncidentResolved {
		late := "on: complaints linked later get the acknowledgement"
		if !v.LateJoiners {
			late = "off"
		}
		fields = append(fields, mrkdwn("*Late joiners*\n"+late))
	}
	if v.Public {
		fields = append(fields, mrkdwn("*Public status thread*\n"+cut(statusLinks(v), 1900)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if v.StatusText != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(cut("*Status update:* "+escape(v.StatusText), maxSectionText)), nil, nil))
	}
	if line := v.Progress.Line(); line != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(cut("*"+escape(line)+"*", maxSectionText)), nil, nil))
	}
	for _, p := range v.Samples {
		// plain_text: the customers' words shown verbatim, never as markup.
		blocks = append(blocks, slack.NewContextBlock("", plain(cut(fmt.Sprintf("%s on %s: %s", p.Author.Handle, p.Network, strings.Join(strings.Fields(p.Text), " ")), 300))))
	}
	if a := incidentActions(v); a != nil {
		blocks = append(blocks, a)
	}
	fallback := cut(escape(fmt.Sprintf("%s: %s — %s, %d complaints", v.ID, title, v.StatusLine(), v.Cases)), maxFallback)
	return blocks, fallback
}

func netLine(v bridge.IncidentView) string {
	if n := v.NetworkLine(); n != "" {
		return " (" + escape(n) + ")"
	}
	return ""
}

func statusLinks(v bridge.IncidentView) string {
	if len(v.StatusPosts) == 0 {
		return "starting"
	}
	var parts []string
	for _, p := range v.StatusPosts {
		parts = append(parts, link(p.URL, p.Network))
	}
	return strings.Join(parts, " · ")
}

// incidentActions is the card's button row, by status.
func incidentActions(v bridge.IncidentView) *slack.ActionBlock {
	id := string(v.ID)
	var els []slack.BlockElement
	button := func(actionID, value, label, style string) {
		b := slack.NewButtonBlockElement(actionID, value, plain(label))
		if style != "" {
			b.Style = slack.Style(style)
		}
		els = append(els, b)
	}
	switch v.Status {
	case bridge.IncidentSuggested:
		button(incidentAction+"declare", id, "Declare incident", "primary")
		button(incidentAction+"dismiss", id, "Not an incident", "")
	case bridge.IncidentOpen:
		if v.Owner == "" {
			button(actionPrefix+"claim", id, "Claim", "primary")
		} else {
			button(actionPrefix+"release", id, "Release", "")
		}
		if v.Progress.Failed > 0 {
			button(incidentAction+"retry", id, fmt.Sprintf("Retry %d failed", v.Progress.Failed), "danger")
		}
		if v.LateJoiners {
			button(incidentAction+"late", "off", "Late joiners off", "")
		} else {
			button(incidentAction+"late", "on", "Late joiners on", "")
		}
		if p := replyPicker(v.Replies); p != nil {
			els = append(els, p)
		}
	default:
		return nil
	}
	return slack.NewActionBlock(incidentBlockID, els...)
}

// replyPicker is the saved reply picker, or nil without saved replies.
func replyPicker(names []string) slack.BlockElement {
	var opts []*slack.OptionBlockObject
	for _, n := range names {
		if len(opts) == 100 {
			break
		}
		opts = append(opts, slack.NewOptionBlockObject(n, plain(cut(n, 75)), nil))
	}
	if len(opts) == 0 {
		return nil
	}
	return slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Saved reply…"), sayAction, opts...)
}

// caseIncidentElements are the incident elements of a case card: Split
// out while it is linked; else Start incident and, when its queue has
// open incidents, the Link to incident picker; and the saved replies.
func caseIncidentElements(c bridge.CaseView) []slack.BlockElement {
	var els []slack.BlockElement
	if !c.Status.Open() {
		return nil
	}
	if c.Incident != "" {
		els = append(els, slack.NewButtonBlockElement(incidentAction+"split", string(c.ID), plain("Split out of "+string(c.Incident))))
	} else {
		els = append(els, slack.NewButtonBlockElement(incidentAction+"from", string(c.ID), plain("Start incident")))
		var opts []*slack.OptionBlockObject
		for _, i := range c.Incidents {
			if len(opts) == 100 {
				break
			}
			opts = append(opts, slack.NewOptionBlockObject(string(i.ID), plain(cut(string(i.ID)+" · "+i.Title, 75)), nil))
		}
		if len(opts) > 0 {
			els = append(els, slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Link to incident…"), incidentAction+"link", opts...))
		}
	}
	if p := replyPicker(c.Replies); p != nil {
		els = append(els, p)
	}
	return els
}

// messageActions is the button row under a desk message (Split out under
// a linked customer's follow-up), or nil.
func messageActions(m bridge.DeskMessage) slack.Block {
	var els []slack.BlockElement
	for _, a := range m.Actions {
		if len(els) == 25 {
			break
		}
		els = append(els, slack.NewButtonBlockElement(incidentAction+a.Verb, a.Arg, plain(cut(a.Label, 75))))
	}
	if len(els) == 0 {
		return nil
	}
	return slack.NewActionBlock(incidentBlockID, els...)
}

// OpenIncident posts the incident's card in channel; its ts is the thread.
func (d *Desk) OpenIncident(ctx context.Context, channel string, v bridge.IncidentView) (bridge.ThreadRef, error) {
	blocks, fallback := RenderIncident(v)
	ts, err := d.post(ctx, channel, incidentPriority, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	if err != nil {
		return bridge.ThreadRef{}, fmt.Errorf("slack: open incident card: %w", err)
	}
	d.mu.Lock()
	d.prio[ts] = incidentPriority
	d.mu.Unlock()
	return bridge.ThreadRef{Desk: Name, Channel: channel, ID: ts}, nil
}

// UpdateIncident re-renders the incident's card with chat.update.
func (d *Desk) UpdateIncident(ctx context.Context, t bridge.ThreadRef, v bridge.IncidentView) error {
	d.mu.Lock()
	d.prio[t.ID] = incidentPriority
	d.mu.Unlock()
	blocks, fallback := RenderIncident(v)
	err := d.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := d.api.UpdateMessageContext(ctx, t.Channel, t.ID, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: update incident card: %w", err)
	}
	return nil
}

// parseIncidentAction reads an incident button or the saved reply
// picker into inv's name and arguments; ok is false for anything else.
func parseIncidentAction(inv *bridge.Invocation, actionID string, a *slack.BlockAction) bool {
	value := a.Value
	if value == "" {
		value = a.SelectedOption.Value
	}
	if actionID == sayAction {
		if value == "" {
			return false
		}
		inv.Name, inv.Args = "say", []string{value}
		return true
	}
	verb, ok := strings.CutPrefix(actionID, incidentAction)
	if !ok || value == "" {
		return false
	}
	switch verb {
	case "declare", "dismiss", "split", "from", "link", "retry", "late":
		inv.Name, inv.Args = "incident", []string{verb, value}
		return true
	}
	return false
}
