package discord

import (
	"context"
	"strings"
	"time"
	"unicode"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
)

// interactions.go turns slash commands, card buttons, the team picker and
// Retry buttons into commands for the bridge, and answers them within
// Discord's three seconds: with the answer itself when the bridge is quick,
// else "thinking…" first (a deferred answer) and the answer as an edit of
// it. Private answers and refusals are ephemeral (flag 64).

// argsOption is the one text option every Earshot slash command takes.
const argsOption = "args"

// umbrella is the catch-all command: /earshot <verb> ...
const umbrella = "earshot"

// ParseInteraction turns an application command or component interaction
// into an Invocation, or ok=false when it is none of ours. where tells
// where the interaction's channel sits. Staff comes from the member (or
// user). Pure; never panics on any payload discordgo decodes.
func ParseInteraction(ia *discordgo.Interaction, where Where) (bridge.Invocation, bool) {
	return parseInteraction(ia, where, nil)
}

// parseInteraction is ParseInteraction with a way to read back hashed
// Retry ids (see retryID); retry may be nil.
func parseInteraction(ia *discordgo.Interaction, where Where, retry func(string) (string, bool)) (inv bridge.Invocation, ok bool) {
	if ia == nil || ia.ChannelID == "" {
		return inv, false
	}
	var user *discordgo.User
	var member *discordgo.Member
	switch {
	case ia.Member != nil && ia.Member.User != nil:
		user, member = ia.Member.User, ia.Member
	case ia.User != nil:
		user = ia.User
	default:
		return inv, false
	}
	if user.ID == "" {
		return inv, false
	}
	inv = bridge.Invocation{Desk: Name, Staff: staffOf(user, member), Channel: ia.ChannelID}
	if where.Thread {
		inv.Channel = where.Parent
		inv.Thread = bridge.ThreadRef{Desk: Name, Channel: where.Parent, ID: ia.ChannelID}
	}
	switch data := ia.Data.(type) {
	case discordgo.ApplicationCommandInteractionData:
		if ia.Type != discordgo.InteractionApplicationCommand || data.Name == "" {
			return inv, false
		}
		inv.Source = bridge.SourceSlash
		inv.Name, inv.Raw = strings.ToLower(data.Name), commandText(data.Options)
		if inv.Name == umbrella {
			inv.Name, inv.Raw = firstWord(inv.Raw)
			if inv.Name == "" {
				inv.Name = "help"
			}
		}
		inv.Args = splitArgs(inv.Raw)
		return inv, true
	case discordgo.MessageComponentInteractionData:
		if ia.Type != discordgo.InteractionMessageComponent {
			return inv, false
		}
		return parseComponent(inv, ia, data, where, retry)
	}
	return inv, false
}

// parseComponent reads a card button, the team picker or a Retry button.
func parseComponent(inv bridge.Invocation, ia *discordgo.Interaction, data discordgo.MessageComponentInteractionData,
	where Where, retry func(string) (string, bool)) (bridge.Invocation, bool) {
	verb, found := strings.CutPrefix(data.CustomID, customPrefix)
	if !found || verb == "" {
		return inv, false
	}
	inv.Source = bridge.SourceButton
	if !where.Thread {
		// A card in a text channel: the thread has the card's id.
		if ia.Message == nil || ia.Message.ID == "" {
			return inv, false
		}
		inv.Thread = bridge.ThreadRef{Desk: Name, Channel: ia.ChannelID, ID: ia.Message.ID}
	}
	switch {
	case verb == "escalate":
		if len(data.Values) == 0 || data.Values[0] == "" {
			return inv, false
		}
		inv.Name, inv.Args = "escalate", []string{data.Values[0]} // no Raw: a team name is one argument, spaces and all
	case strings.HasPrefix(data.CustomID, retryPrefix) || strings.HasPrefix(data.CustomID, retryHashed):
		var outbox string
		if id, ok := strings.CutPrefix(data.CustomID, retryPrefix); ok {
			outbox = id
		} else if retry != nil {
			outbox, _ = retry(data.CustomID)
		}
		if outbox == "" || !where.Thread || ia.Message == nil || ia.Message.MessageReference == nil {
			return inv, false
		}
		inv.Name, inv.Args = "retry", []string{outbox}
		inv.Message = bridge.MessageRef{Desk: Name, Channel: where.Parent, Thread: ia.ChannelID, ID: ia.Message.MessageReference.MessageID}
		if ref := ia.Message.ReferencedMessage; ref != nil && ref.Author != nil {
			inv.Message.Author = ref.Author.ID
		}
	case verb == "claim" || verb == "release" || verb == "resolve" || verb == "reopen" || verb == "dm":
		inv.Name = verb
	case !parseIncidentComponent(&inv, verb, data.Values): // incident.go
		return inv, false
	}
	return inv, true
}

// commandText is the text of a slash command's options: the args option,
// or every string option joined (commands registered by an older Earshot).
func commandText(opts []*discordgo.ApplicationCommandInteractionDataOption) string {
	var parts []string
	for _, o := range opts {
		if o == nil {
			continue
		}
		if s, ok := o.Value.(string); ok {
			if o.Name == argsOption {
				return strings.TrimSpace(s)
			}
			parts = append(parts, s)
		}
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

// firstWord splits "claim E-42" into "claim" and "E-42".
func firstWord(s string) (string, string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return strings.ToLower(s), ""
	}
	return strings.ToLower(s[:i]), strings.TrimSpace(s[i:])
}

// splitArgs splits command text the way the command registry does (it is
// the authority and re-splits Raw); text it cannot read (an unclosed
// quote) is split on whitespace.
func splitArgs(raw string) []string {
	args, err := commands.Split(raw)
	if err != nil {
		return strings.Fields(raw)
	}
	return args
}

// answerer sends an interaction's first answer (over REST for gateway
// interactions, in the HTTP response for the interactions endpoint).
type answerer func(ctx context.Context, r *discordgo.InteractionResponse) error

// handleInteraction runs one interaction: parse, run the command, answer.
// It blocks until the answer is out (or handlerTimeout).
func (d *Desk) handleInteraction(ctx context.Context, in bridge.Inbox, ia *discordgo.Interaction, first answerer) {
	if ia.ID != "" && d.seenInteraction(ia.ID) {
		return
	}
	where, err := d.where(ctx, ia.ChannelID)
	if err != nil {
		d.log.Warn("discord: interaction in an unknown channel", "err", err)
	}
	inv, ok := parseInteraction(ia, where, d.retryOutbox)
	if !ok {
		_ = first(ctx, ephemeral("That is not an Earshot command or button (any more)."))
		return
	}
	if ia.Member != nil {
		d.people.saw(inv.Staff) // with the member's roles
	}
	if inv.Source == bridge.SourceSlash && inv.Raw != "" {
		// Command text is read like a message: "/reply" follows the
		// same rules as a reply typed in the thread.
		inv.Raw, inv.Mentions = d.readText(ctx, inv.Raw, nil)
		inv.Args = splitArgs(inv.Raw)
	}
	result := make(chan bridge.Response, 1)
	go func() { result <- in.Command(ctx, inv) }()
	timer := time.NewTimer(d.cfg.DeferAfter)
	defer timer.Stop()
	select {
	case r := <-result:
		if err := first(ctx, d.response(ia, r)); err != nil {
			d.log.Warn("discord: interaction answer not delivered", "err", err)
			return
		}
		d.holdInteraction(ia, inv.Staff.ID)
		return
	case <-timer.C:
	}
	// Slow: say "thinking…" (privately) in time, then finish.
	if err := first(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}); err != nil {
		d.log.Warn("discord: interaction deferral not delivered", "err", err)
	}
	var r bridge.Response
	select {
	case r = <-result:
	case <-ctx.Done():
		r = bridge.Response{Text: "Sorry, that took too long; it may still happen. Check the card in a moment.", Private: true}
	}
	d.finish(context.WithoutCancel(ctx), ia, r)
	d.holdInteraction(ia, inv.Staff.ID)
}

// response is the immediate answer for r: a message, ephemeral when
// private or refused; nothing visible for a button without text.
func (d *Desk) response(ia *discordgo.Interaction, r bridge.Response) *discordgo.InteractionResponse {
	if r.Text == "" {
		if ia.Type == discordgo.InteractionMessageComponent {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		}
		r.Text = "Done."
	}
	data := &discordgo.InteractionResponseData{Content: cut(r.Text, maxContent), AllowedMentions: noMentions()}
	if r.Private || !r.OK {
		data.Flags = discordgo.MessageFlagsEphemeral
	}
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: data}
}

func ephemeral(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: text, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()}}
}

// finish completes a deferred answer: the private "thinking…" becomes the
// answer; a public answer goes to the channel and "thinking…" goes away.
func (d *Desk) finish(ctx context.Context, ia *discordgo.Interaction, r bridge.Response) {
	text := r.Text
	if text == "" {
		text = "Done."
	}
	text = cut(text, maxContent)
	var err error
	if r.Private || !r.OK || r.Text == "" {
		err = d.call(ctx, "interaction.edit", func(opts ...discordgo.RequestOption) error {
			_, err := d.s.InteractionResponseEdit(ia, &discordgo.WebhookEdit{Content: &text, AllowedMentions: noMentions()}, opts...)
			return err
		})
	} else {
		err = d.call(ctx, "interaction.followup", func(opts ...discordgo.RequestOption) error {
			_, err := d.s.FollowupMessageCreate(ia, true, &discordgo.WebhookParams{Content: text, AllowedMentions: noMentions()}, opts...)
			return err
		})
		if err == nil {
			err = d.call(ctx, "interaction.delete", func(opts ...discordgo.RequestOption) error {
				return d.s.InteractionResponseDelete(ia, opts...)
			})
		}
	}
	if err != nil {
		d.log.Warn("discord: deferred interaction answer not delivered", "err", err)
	}
}

// seenInteraction records id and reports whether it was handled before
// (a gateway RESUME may replay; an endpoint may be retried). Keeps an hour.
func (d *Desk) seenInteraction(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if _, ok := d.seen[id]; ok {
		return true
	}
	if len(d.seen) > 10000 {
		for k, at := range d.seen {
			if now.Sub(at) > time.Hour {
				delete(d.seen, k)
			}
		}
		if len(d.seen) > 10000 {
			clear(d.seen)
		}
	}
	d.seen[id] = now
	return false
}
