package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
)

// MarkReactions are the reactions the desk puts on a staff message for each
// delivery state. Exactly one is shown at a time.
var MarkReactions = map[bridge.DeliveryState]string{
	bridge.DeliveryPending:   "hourglass_flowing_sand",
	bridge.DeliverySent:      "white_check_mark",
	bridge.DeliveryFailed:    "x",
	bridge.DeliveryNotSent:   "no_entry_sign",
	bridge.DeliveryCancelled: "wastebasket",
	bridge.DeliveryUncertain: "warning",
}

// StateOfReaction maps a mark reaction back to its state ("" if none).
func StateOfReaction(name string) bridge.DeliveryState {
	for s, r := range MarkReactions {
		if r == name {
			return s
		}
	}
	return ""
}

// retryValue is what a Retry button carries: the outbox id and the staff
// message it belongs to (so the Invocation can name it).
type retryValue struct {
	Outbox  string `json:"o"`
	Message string `json:"m"`
	Author  string `json:"a,omitempty"`
}

func isSlackErr(err error, codes ...string) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		for _, c := range codes {
			if se.Err == c {
				return true
			}
		}
	}
	return false
}

// Mark shows m's delivery: one reaction on the message; a line in the
// thread when sent (with the public link), failed (with a Retry button) or
// uncertain; and a private explanation to its author when not sent.
func (d *Desk) Mark(ctx context.Context, m bridge.MessageRef, dl bridge.Delivery) error {
	key := m.Channel + "/" + m.ID
	item := slack.ItemRef{Channel: m.Channel, Timestamp: m.ID}
	want := MarkReactions[dl.State]
	d.mu.Lock()
	prev, known := d.marks[key]
	line := d.lines[key]
	d.mu.Unlock()

	var stale []string // our mark reactions to take off
	if known {
		if prev != "" && prev != want {
			stale = append(stale, prev)
		}
	} else if dl.State != bridge.DeliveryPending {
		// Forgotten (a restart, or an old message): ask Slack what we show.
		// A first mark is always "pending", which needs no look.
		shown, err := d.shownMarks(ctx, item)
		if err != nil && !isSlackErr(err, "message_not_found") {
			return fmt.Errorf("slack: mark: read reactions: %w", err)
		}
		for _, r := range shown {
			if r != want {
				stale = append(stale, r)
			} else {
				prev = want
			}
		}
	}
	if prev != want || len(stale) > 0 {
		for _, r := range stale {
			err := d.call(ctx, "reactions.remove", func(ctx context.Context) error {
				return d.api.RemoveReactionContext(ctx, r, item)
			})
			if err != nil && !isSlackErr(err, "no_reaction", "message_not_found") {
				return fmt.Errorf("slack: mark: remove reaction: %w", err)
			}
		}
		if want != "" {
			err := d.call(ctx, "reactions.add", func(ctx context.Context) error {
				return d.api.AddReactionContext(ctx, want, item)
			})
			if err != nil && !isSlackErr(err, "already_reacted", "message_not_found") {
				return fmt.Errorf("slack: mark: add reaction: %w", err)
			}
		}
		d.remember(d.marks, key, want)
	}

	text, blocks := markLine(m, dl)
	switch {
	case text == "" && line == "":
	case text == "":
		// The line no longer applies (pending again after a retry): say so.
		if err := d.setLine(ctx, m, line, "Sending again…", nil); err != nil {
			return err
		}
	default:
		if err := d.setLine(ctx, m, line, text, blocks); err != nil {
			return err
		}
	}
	if dl.State == bridge.DeliveryNotSent && dl.Reason != "" && m.Author != "" {
		if err := d.ephemeral(ctx, m.Channel, m.Thread, m.Author, "Not sent: "+dl.Reason, nil); err != nil {
			return fmt.Errorf("slack: mark: explain: %w", err)
		}
	}
	return nil
}

// markLine is the thread line for a delivery, or "" when none is needed.
func markLine(m bridge.MessageRef, dl bridge.Delivery) (string, []slack.Block) {
	var text string
	switch dl.State {
	case bridge.DeliveryPending:
		if dl.Text == "" {
			return "", nil
		}
		// The exact public text, while it can still be edited or deleted.
		text = ":hourglass_flowing_sand: To be published as:\n" + quoteLines(escape(cut(dl.Text, maxSectionText-200))) +
			"\n_Edit or delete your message before it goes to change or stop it._"
	case bridge.DeliverySent:
		if dl.Link == "" && dl.Reason == "" {
			return "", nil
		}
		text = ":white_check_mark: Sent"
		if dl.Link != "" {
			text += ": " + link(dl.Link, dl.Link)
		}
		if dl.Reason != "" {
			text += "\n:warning: " + escape(dl.Reason)
		}
	case bridge.DeliveryFailed:
		text = ":x: Not delivered"
		if dl.Reason != "" {
			text += ": " + escape(dl.Reason)
		}
	case bridge.DeliveryUncertain:
		text = ":warning: Unsure whether this was sent"
		if dl.Link != "" {
			text += "; check " + link(dl.Link, dl.Link) + " before sending again"
		}
		if dl.Reason != "" {
			text += " (" + escape(dl.Reason) + ")"
		}
	case bridge.DeliveryCancelled:
		text = ":wastebasket: Cancelled"
	default:
		return "", nil
	}
	text = cut(text, maxSectionText)
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}
	if dl.Retry != "" && (dl.State == bridge.DeliveryFailed || dl.State == bridge.DeliveryUncertain) {
		v, _ := json.Marshal(retryValue{Outbox: dl.Retry, Message: m.ID, Author: m.Author})
		label := "Retry"
		if dl.State == bridge.DeliveryUncertain {
			label = "Send again"
		}
		blocks = append(blocks, slack.NewActionBlock(retryBlockID,
			slack.NewButtonBlockElement(actionPrefix+"retry", string(v), plain(label))))
	}
	return text, blocks
}

// quoteLines makes every line of s a mrkdwn quote line.
func quoteLines(s string) string {
	return ">" + strings.ReplaceAll(s, "\n", "\n>")
}

// setLine posts the message's delivery line in its thread, or edits it.
func (d *Desk) setLine(ctx context.Context, m bridge.MessageRef, line, text string, blocks []slack.Block) error {
	if len(blocks) == 0 {
		blocks = []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}
	}
	if line != "" {
		err := d.call(ctx, "chat.update", func(ctx context.Context) error {
			_, _, _, err := d.api.UpdateMessageContext(ctx, m.Channel, line, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
			return err
		})
		if err == nil || !isSlackErr(err, "message_not_found") {
			if err != nil {
				return fmt.Errorf("slack: mark: update line: %w", err)
			}
			return nil
		}
	}
	thread := m.Thread
	if thread == "" {
		thread = m.ID
	}
	ts, err := d.post(ctx, m.Channel, d.priority(thread), slack.MsgOptionTS(thread), slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...), slack.MsgOptionDisableLinkUnfurl())
	if err != nil {
		return fmt.Errorf("slack: mark: post line: %w", err)
	}
	d.remember(d.lines, m.Channel+"/"+m.ID, ts)
	return nil
}

// maxRemembered bounds the marks and lines the desk keeps in memory; past
// it they are forgotten and read back from Slack when needed.
const maxRemembered = 20000

// remember sets m[key] = v, forgetting everything when m is full.
func (d *Desk) remember(m map[string]string, key, v string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := m[key]; !ok && len(m) >= maxRemembered {
		clear(m)
	}
	m[key] = v
}

// shownMarks lists the mark reactions our bot now shows on item.
func (d *Desk) shownMarks(ctx context.Context, item slack.ItemRef) ([]string, error) {
	bot, err := d.botUserID(ctx)
	if err != nil {
		return nil, err
	}
	var got slack.ReactedItem
	err = d.call(ctx, "reactions.get", func(ctx context.Context) error {
		var err error
		got, err = d.api.GetReactionsContext(ctx, item, slack.GetReactionsParameters{Full: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range got.Reactions {
		if StateOfReaction(r.Name) != "" && slices.Contains(r.Users, bot) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}
