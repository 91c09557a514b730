package connectortest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// ScriptedDesk is what a ScriptedBridge needs of the desk under test.
type ScriptedDesk interface {
	bridge.Desk
	bridge.Notifier
}

// ScriptedBridge is a small scripted stand-in for the bridge, for a desk's
// flow tests without the core: one case; claim (a bare claim outside a
// thread takes it too, as the next in the queue), release, resolve [summary]
// and reopen by any route (buttons, slash commands, !verb lines typed in
// the thread, answered privately with Notify); a thread message from the
// claimer "published" to a list, marked pending then sent with a link, the
// card following; anyone else's marked not sent, privately. A command
// outside the case's thread that does not name the case is answered
// "which case?". Everything that comes in is recorded by the embedded
// RecordingInbox. Safe for concurrent use.
type ScriptedBridge struct {
	*RecordingInbox
	desk ScriptedDesk

	mu        sync.Mutex
	cv        bridge.CaseView
	thread    bridge.ThreadRef
	published []string
}

// NewScriptedBridge returns a stand-in for case cv on desk d; give it the
// case's thread with SetThread once it is open.
func NewScriptedBridge(d ScriptedDesk, cv bridge.CaseView) *ScriptedBridge {
	b := &ScriptedBridge{RecordingInbox: NewRecordingInbox(), desk: d, cv: cv}
	b.Respond = func(inv bridge.Invocation) bridge.Response { return b.run(context.Background(), inv) }
	return b
}

// Case returns the case as it stands now.
func (b *ScriptedBridge) Case() bridge.CaseView {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cv
}

// SetThread says which thread is the case's.
func (b *ScriptedBridge) SetThread(t bridge.ThreadRef) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.thread = t
}

// Published returns the texts published so far, oldest first.
func (b *ScriptedBridge) Published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.published...)
}

// StaffMessage records m and acts on a new one: a !verb line runs the
// command and answers its author privately; a message from the claimer is
// published; anyone else's is marked not sent.
func (b *ScriptedBridge) StaffMessage(ctx context.Context, m bridge.StaffMessage) error {
	_ = b.RecordingInbox.StaffMessage(ctx, m)
	if m.Kind != bridge.MessageNew {
		return nil
	}
	if verb, ok := strings.CutPrefix(m.Text, "!"); ok {
		f := strings.Fields(verb)
		r := b.Command(ctx, bridge.Invocation{Desk: b.desk.Name(), Source: bridge.SourceText, Staff: m.Staff,
			Channel: m.Thread.Channel, Thread: m.Thread, Name: f[0], Args: f[1:]})
		return b.desk.Notify(ctx, m.Thread.Channel, m.Thread, m.Staff.ID, r.Text)
	}
	b.mu.Lock()
	mine := b.cv.Assignee == m.Staff.Key()
	b.mu.Unlock()
	if !mine {
		return b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliveryNotSent, Reason: "claim the case first", Private: true})
	}
	if err := b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliveryPending}); err != nil {
		return err
	}
	b.mu.Lock()
	b.published = append(b.published, m.Text)
	b.cv.RespondedAt, b.cv.Status = time.Now(), bridge.StatusWaiting
	cv, th := b.cv, b.thread
	b.mu.Unlock()
	if err := b.desk.Mark(ctx, m.Message, bridge.Delivery{State: bridge.DeliverySent, Link: "https://mastodon.social/@shop/1"}); err != nil {
		return err
	}
	return b.desk.UpdateCard(ctx, th, cv)
}

func (b *ScriptedBridge) run(ctx context.Context, inv bridge.Invocation) bridge.Response {
	b.mu.Lock()
	args := inv.Args
	named := len(args) > 0 && strings.EqualFold(args[0], string(b.cv.ID))
	if named {
		args = args[1:]
	}
	if inv.Thread.ID != b.thread.ID && !named && inv.Name != "claim" {
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "which case?", Command: inv.Name}
	}
	switch inv.Name {
	case "claim":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusClaimed, inv.Staff.Key(), inv.Staff.Name
	case "release":
		b.cv.Status, b.cv.Assignee, b.cv.AssigneeName = bridge.StatusNew, "", ""
	case "resolve":
		b.cv.Status, b.cv.Summary = bridge.StatusResolved, strings.Join(args, " ")
	case "reopen":
		b.cv.Status = bridge.StatusClaimed
	default:
		b.mu.Unlock()
		return bridge.Response{Private: true, Text: "unknown", Command: "unknown"}
	}
	cv, th := b.cv, b.thread
	b.mu.Unlock()
	if err := b.desk.UpdateCard(ctx, th, cv); err != nil {
		return bridge.Response{Private: true, Text: err.Error(), Failed: true}
	}
	return bridge.Response{OK: true, Private: true, Text: "done: " + inv.Name, Command: inv.Name}
}

// CustomerWrites is a customer follow-up arriving from the network: posted
// into the thread, and the case reopened as the bridge does.
func (b *ScriptedBridge) CustomerWrites(ctx context.Context, text string) error {
	b.mu.Lock()
	author, th := b.cv.Customer, b.thread
	b.mu.Unlock()
	if _, err := b.desk.Post(ctx, th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &author, Text: text}); err != nil {
		return err
	}
	b.mu.Lock()
	b.cv.Status, b.cv.Reopens, b.cv.Posts = bridge.StatusClaimed, b.cv.Reopens+1, b.cv.Posts+1
	cv := b.cv
	b.mu.Unlock()
	return b.desk.UpdateCard(ctx, th, cv)
}
