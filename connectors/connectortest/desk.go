// desk.go is the conformance suite for bridge.Desk (Slack, Discord). A desk
// package builds a fresh fake of its chat platform and the Desk under test
// pointed at it (a DeskHarness); RunDeskSuite then opens case threads,
// re-renders cards, posts customer follow-ups and notices, acts as a staff
// member through the fake (writes, edits and deletes thread messages, presses
// card buttons, runs slash commands) and inspects what the fake now shows
// (card text and buttons, thread messages, delivery marks, private lines).
// No mocks: everything goes over the fake's real wire protocol.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// DeskHarness makes a fresh Desk under test, each against its own fake.
type DeskHarness struct {
	// New starts a fresh fake (closed by t.Cleanup) and returns the desk
	// under test pointed at it. Called once per subtest.
	New func(t *testing.T) *DeskEnv
}

// DeskEnv is one Desk under test with its fake, as the suite sees it. Every
// func field may block on the fake; all are safe for concurrent use.
type DeskEnv struct {
	Desk bridge.Desk

	// Channel is a channel (queue) the desk may open case threads in.
	Channel string

	// Staff is the staff member the Act* functions act as: the ID and Name
	// the desk must report in Invocation.Staff / StaffMessage.Staff, and the
	// Groups the fake puts them in (the desk must report at least these).
	Staff bridge.Staff

	// Secrets are the credentials the desk was configured with. None may
	// appear in any error text.
	Secrets []string

	// Listening reports whether Listen is connected to the fake (socket
	// up, or routes mounted), so the suite acts only once nothing can be
	// missed. Nil means "ready as soon as Listen runs".
	Listening func() bool

	// StaffPost writes text, as Staff, in the case thread t; it returns the
	// message's ref as the desk must report it (MessageRef.ID, Channel).
	StaffPost func(tb testing.TB, t bridge.ThreadRef, text string) bridge.MessageRef
	// StaffEdit changes the text of a message written with StaffPost.
	StaffEdit func(tb testing.TB, m bridge.MessageRef, text string)
	// StaffDelete deletes a message written with StaffPost.
	StaffDelete func(tb testing.TB, m bridge.MessageRef)

	// Press presses, as Staff, a button: on the card of thread t when m is
	// zero, else on the message m (a Retry button of a mark). verb is the
	// button's verb ("claim", "escalate", "retry"); arg picks an option when
	// the button is a picker (the team for "escalate"), else "".
	Press func(tb testing.TB, t bridge.ThreadRef, m bridge.MessageRef, verb, arg string)

	// Slash runs, as Staff in channel, a channel command such as
	// ("claim", "E-42") or ("escalate", "E-42 billing"), however the
	// platform spells it. Nil skips the slash command tests.
	Slash func(tb testing.TB, channel, verb, args string)

	// SlashChannel is where the suite runs channel commands (Slash), when
	// commands cannot be typed in Channel itself (a Discord forum channel
	// has no message box); the desk must report it as Invocation.Channel.
	// Empty means Channel.
	SlashChannel string

	// SlashInThread runs, as Staff inside the case thread t, a slash
	// command that acts on the thread's case, for desks whose platform
	// allows commands in threads (Discord; Slack refuses them). The desk
	// must report Invocation.Thread = t and Invocation.Channel = t.Channel.
	// Nil skips the test.
	SlashInThread func(tb testing.TB, t bridge.ThreadRef, verb, args string)

	// Card returns what the card of thread t now shows.
	Card func(tb testing.TB, t bridge.ThreadRef) CardView

	// Messages returns the thread's messages after the card, oldest first,
	// as everyone sees them (not private lines).
	Messages func(tb testing.TB, t bridge.ThreadRef) []ThreadMessage

	// Mark returns the delivery state staff now see on message m ("" for
	// none), read back from the fake (a reaction, an emoji, ...).
	Mark func(tb testing.TB, m bridge.MessageRef) bridge.DeliveryState

	// Private returns the texts shown only to staff member staffID so far
	// (ephemeral messages, ephemeral interaction answers), oldest first.
	Private func(tb testing.TB, staffID string) []string

	// Fail makes the next n write calls of the desk fail with HTTP status;
	// for 429 the fake also says to wait `wait`. The desk must honour
	// 429s itself: a rate-limited call still succeeds eventually.
	Fail func(tb testing.TB, status, n int, wait time.Duration)
}

// CardView is a card as staff see it.
type CardView struct {
	// Text is every visible text of the card joined by newlines, with the
	// platform's escaping undone (what a reader sees, not the markup).
	Text string
	// Buttons are the verbs of the card's buttons ("claim", "escalate",
	// "resolve", "dm", "release", "reopen"), in display order.
	Buttons []string
	// Options are the choices of picker buttons, by verb ("escalate": teams).
	Options map[string][]string
}

// ThreadMessage is one message of a case thread.
type ThreadMessage struct {
	ID     string
	Author string // the desk user id; for messages by the bot, the bot's id
	Bot    bool   // written by the desk under test (customer follow-ups, notices, link lines)
	// Text is the visible text with the platform's escaping undone,
	// including a customer's name when the platform shows it as the
	// sender (Slack's username override) rather than in the text.
	Text string
}

// Default waits of the desk suite.
const deskWait = 10 * time.Second

// SuiteCase returns a CaseView like the bridge would hand a desk, for the
// suite and for desk packages' own tests.
func SuiteCase(id string) bridge.CaseView {
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	cust := bridge.Author{ID: "109", Handle: "ana@mastodon.social", Name: "Ana Lima",
		URL: "https://mastodon.social/@ana", Avatar: "https://files.mastodon.social/ana.png", Followers: 1234}
	first := bridge.Post{Network: "mastodon", ID: "p-" + id, Author: cust,
		Text: "my order never arrived & nobody answers <support> *again*", URL: "https://mastodon.social/@ana/1",
		CreatedAt: at, MentionsUs: true}
	return bridge.CaseView{
		Case: bridge.Case{ID: bridge.CaseID(id), Seq: 42, Network: "mastodon", Conversation: first.ID,
			Customer: cust, Queue: "support", Origin: "support", Status: bridge.StatusNew, Priority: 2,
			Tags: []string{"orders"}, First: first, Last: first, Previous: []bridge.CaseID{"E-7"},
			OpenedAt: at, UpdatedAt: at},
		FirstResponseDue: at.Add(time.Hour),
		ResolutionDue:    at.Add(24 * time.Hour),
		History: []bridge.CaseSummary{{ID: "E-7", Status: bridge.StatusResolved, Queue: "support",
			Text: "late delivery", OpenedAt: at.Add(-72 * time.Hour), ResolvedAt: at.Add(-70 * time.Hour)}},
		Teams: []string{"billing", "tech"},
		Posts: 1,
	}
}

// WaitStaffMessage blocks until in holds a staff message matching match.
func WaitStaffMessage(t testing.TB, in *RecordingInbox, match func(bridge.StaffMessage) bool) bridge.StaffMessage {
	t.Helper()
	var got bridge.StaffMessage
	WaitFor(t, deskWait, "a matching staff message", func() bool {
		for _, m := range in.StaffMessages() {
			if match(m) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// WaitInvocation blocks until in holds a command matching match.
func WaitInvocation(t testing.TB, in *RecordingInbox, match func(bridge.Invocation) bool) bridge.Invocation {
	t.Helper()
	var got bridge.Invocation
	WaitFor(t, deskWait, "a matching command", func() bool {
		for _, inv := range in.Invocations() {
			if match(inv) {
				got = inv
				return true
			}
		}
		return false
	})
	return got
}

// listenDesk starts env.Desk.Listen into a fresh inbox, waits until it is
// connected and stops it (checking it returned) at cleanup.
func listenDesk(t *testing.T, env *DeskEnv) *RecordingInbox {
	t.Helper()
	in := NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Desk.Listen(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Listen returned %v after its context ended; want nil", err)
			}
		case <-time.After(deskWait):
			t.Errorf("Listen did not return within %v after its context ended", deskWait)
		}
	})
	if env.Listening != nil {
		WaitFor(t, deskWait, "the desk to connect", env.Listening)
	}
	return in
}

func deskCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deskWait)
	t.Cleanup(cancel)
	return ctx
}

func checkDeskSecret(t *testing.T, env *DeskEnv, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range env.Secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text leaks a secret: %q", err.Error())
		}
	}
}

func openCase(t *testing.T, env *DeskEnv, id string) (bridge.ThreadRef, bridge.CaseView) {
	t.Helper()
	cv := SuiteCase(id)
	th, err := env.Desk.OpenThread(deskCtx(t), env.Channel, cv)
	if err != nil {
		checkDeskSecret(t, env, err)
		t.Fatalf("OpenThread: %v", err)
	}
	return th, cv
}

func findMessage(msgs []ThreadMessage, sub string) (ThreadMessage, bool) {
	for _, m := range msgs {
		if strings.Contains(m.Text, sub) {
			return m, true
		}
	}
	return ThreadMessage{}, false
}

func waitMessage(t *testing.T, env *DeskEnv, th bridge.ThreadRef, sub string) ThreadMessage {
	t.Helper()
	var got ThreadMessage
	WaitFor(t, deskWait, fmt.Sprintf("a thread message containing %q", sub), func() bool {
		m, ok := findMessage(env.Messages(t, th), sub)
		got = m
		return ok
	})
	return got
}

func waitPrivate(t *testing.T, env *DeskEnv, staffID, sub string) {
	t.Helper()
	WaitFor(t, deskWait, fmt.Sprintf("a private line to %s containing %q", staffID, sub), func() bool {
		for _, p := range env.Private(t, staffID) {
			if strings.Contains(p, sub) {
				return true
			}
		}
		return false
	})
}

func checkStaff(t *testing.T, env *DeskEnv, got bridge.Staff) {
	t.Helper()
	if got.Desk != env.Desk.Name() || got.ID != env.Staff.ID {
		t.Errorf("Staff = %+v, want desk %q id %q", got, env.Desk.Name(), env.Staff.ID)
	}
	if env.Staff.Name != "" && got.Name != env.Staff.Name {
		t.Errorf("Staff.Name = %q, want %q", got.Name, env.Staff.Name)
	}
	for _, g := range env.Staff.Groups {
		if !slices.Contains(got.Groups, g) {
			t.Errorf("Staff.Groups = %v, want it to include %q", got.Groups, g)
		}
	}
}

// RunDeskSuite runs the Desk conformance suite against h.
func RunDeskSuite(t *testing.T, h DeskHarness) {
	t.Run("CardRendersCase", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, cv := openCase(t, env, "E-42")
		if th.ID == "" || th.Desk != env.Desk.Name() || th.Channel != env.Channel {
			t.Errorf("ThreadRef = %+v, want an id, desk %q, channel %q", th, env.Desk.Name(), env.Channel)
		}
		card := env.Card(t, th)
		for _, want := range []string{"E-42", "ana@mastodon.social", "Ana Lima", cv.First.Text,
			cv.First.URL, "support", "New", "orders", "E-7"} {
			if !strings.Contains(card.Text, want) {
				t.Errorf("card lacks %q; card text:\n%s", want, card.Text)
			}
		}
		for _, verb := range []string{"claim", "escalate", "resolve", "dm"} {
			if !slices.Contains(card.Buttons, verb) {
				t.Errorf("card buttons %v lack %q", card.Buttons, verb)
			}
		}
		if got := card.Options["escalate"]; !slices.Contains(got, "billing") || !slices.Contains(got, "tech") {
			t.Errorf("escalate picker offers %v, want the teams billing and tech", got)
		}
	})

	t.Run("UpdateCard", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, cv := openCase(t, env, "E-43")
		cv.Status, cv.Assignee, cv.AssigneeName = bridge.StatusClaimed, "x:U1", "Bea Costa"
		if err := env.Desk.UpdateCard(deskCtx(t), th, cv); err != nil {
			t.Fatalf("UpdateCard: %v", err)
		}
		card := env.Card(t, th)
		if !strings.Contains(card.Text, "Claimed by Bea Costa") {
			t.Errorf("claimed card lacks its status line; text:\n%s", card.Text)
		}
		if !slices.Contains(card.Buttons, "release") || slices.Contains(card.Buttons, "claim") {
			t.Errorf("claimed card buttons %v, want release instead of claim", card.Buttons)
		}
		cv.Status, cv.ResolvedAt = bridge.StatusResolved, cv.OpenedAt.Add(time.Hour)
		if err := env.Desk.UpdateCard(deskCtx(t), th, cv); err != nil {
			t.Fatalf("UpdateCard: %v", err)
		}
		card = env.Card(t, th)
		if !strings.Contains(card.Text, "Resolved") {
			t.Errorf("resolved card lacks its status; text:\n%s", card.Text)
		}
		if !slices.Contains(card.Buttons, "reopen") || slices.Contains(card.Buttons, "resolve") {
			t.Errorf("resolved card buttons %v, want reopen instead of resolve", card.Buttons)
		}
		if n := len(env.Messages(t, th)); n != 0 {
			t.Errorf("updating the card added %d thread messages; want it edited in place", n)
		}
	})

	t.Run("PostCustomerAndNotice", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, cv := openCase(t, env, "E-44")
		ref, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskCustomer,
			Author: &cv.Customer, Text: "still nothing <here> & *now*", Link: "https://mastodon.social/@ana/2"})
		if err != nil {
			t.Fatalf("Post customer: %v", err)
		}
		if ref.ID == "" || ref.Desk != env.Desk.Name() {
			t.Errorf("MessageRef = %+v, want an id and desk %q", ref, env.Desk.Name())
		}
		m := waitMessage(t, env, th, "still nothing <here> & *now*")
		if !m.Bot || m.ID != ref.ID {
			t.Errorf("customer follow-up %+v; want it written by the bot with id %q", m, ref.ID)
		}
		if !strings.Contains(m.Text, "Ana Lima") && !strings.Contains(m.Text, "ana@mastodon.social") {
			t.Errorf("customer follow-up %q does not say who wrote it", m.Text)
		}
		if _, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskNotice,
			Text: "Escalated to billing by Bea"}); err != nil {
			t.Fatalf("Post notice: %v", err)
		}
		waitMessage(t, env, th, "Escalated to billing by Bea")
	})

	t.Run("StaffMessages", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listenDesk(t, env)
		th, _ := openCase(t, env, "E-45")
		// The desk's own posts never come back as staff messages.
		if _, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "bot line"}); err != nil {
			t.Fatalf("Post: %v", err)
		}
		ref := env.StaffPost(t, th, "Hi Ana, sorry about that!")
		m := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == ref.ID && m.Kind == bridge.MessageNew })
		if m.Thread.ID != th.ID || m.Thread.Channel != th.Channel || m.Thread.Desk != th.Desk {
			t.Errorf("StaffMessage.Thread = %+v, want %+v", m.Thread, th)
		}
		if m.Text != "Hi Ana, sorry about that!" {
			t.Errorf("StaffMessage.Text = %q", m.Text)
		}
		if m.Message.Author != env.Staff.ID || m.Message.Desk != env.Desk.Name() {
			t.Errorf("StaffMessage.Message = %+v, want author %q", m.Message, env.Staff.ID)
		}
		if m.At.IsZero() {
			t.Error("StaffMessage.At is zero")
		}
		checkStaff(t, env, m.Staff)

		env.StaffEdit(t, ref, "Hi Ana, so sorry about that!")
		e := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == ref.ID && m.Kind == bridge.MessageEdited })
		if e.Text != "Hi Ana, so sorry about that!" || e.Thread.ID != th.ID {
			t.Errorf("edit delivered as %+v", e)
		}
		env.StaffDelete(t, ref)
		d := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == ref.ID && m.Kind == bridge.MessageDeleted })
		if d.Thread.ID != th.ID {
			t.Errorf("delete delivered in thread %+v, want %+v", d.Thread, th)
		}
		// A text command is just a thread message: the bridge parses it.
		cref := env.StaffPost(t, th, "!claim")
		c := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == cref.ID })
		if c.Text != "!claim" {
			t.Errorf("text command delivered as %q", c.Text)
		}
		for _, sm := range in.StaffMessages() {
			if strings.Contains(sm.Text, "bot line") {
				t.Errorf("the desk's own message came back as a staff message: %+v", sm)
			}
		}
	})

	t.Run("Buttons", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listenDesk(t, env)
		in.Respond = func(inv bridge.Invocation) bridge.Response {
			return bridge.Response{OK: true, Private: true, Text: "ok " + inv.Name + " " + strings.Join(inv.Args, ",")}
		}
		th, _ := openCase(t, env, "E-46")
		env.Press(t, th, bridge.MessageRef{}, "claim", "")
		inv := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "claim" })
		if inv.Source != bridge.SourceButton || inv.Desk != env.Desk.Name() {
			t.Errorf("claim button gave %+v; want source button, desk %q", inv, env.Desk.Name())
		}
		if inv.Thread.ID != th.ID || inv.Thread.Channel != th.Channel {
			t.Errorf("claim button thread %+v, want %+v", inv.Thread, th)
		}
		if inv.Channel != env.Channel {
			t.Errorf("claim button channel %q, want %q", inv.Channel, env.Channel)
		}
		checkStaff(t, env, inv.Staff)
		waitPrivate(t, env, env.Staff.ID, "ok claim")

		env.Press(t, th, bridge.MessageRef{}, "escalate", "billing")
		esc := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "escalate" })
		if !slices.Equal(esc.Args, []string{"billing"}) || esc.Thread.ID != th.ID {
			t.Errorf("escalate picker gave %+v; want args [billing] in the thread", esc)
		}
		for _, verb := range []string{"resolve", "dm"} {
			env.Press(t, th, bridge.MessageRef{}, verb, "")
			WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == verb && i.Thread.ID == th.ID })
		}
	})

	t.Run("Marks", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		in := listenDesk(t, env)
		th, _ := openCase(t, env, "E-47")
		ref := env.StaffPost(t, th, "We are on it")
		sm := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == ref.ID })
		m := sm.Message
		ctx := deskCtx(t)

		if err := env.Desk.Mark(ctx, m, bridge.Delivery{State: bridge.DeliveryPending, Until: time.Now().Add(10 * time.Second)}); err != nil {
			t.Fatalf("Mark pending: %v", err)
		}
		if got := env.Mark(t, m); got != bridge.DeliveryPending {
			t.Errorf("mark after pending = %q", got)
		}
		link := "https://mastodon.social/@shop/99"
		if err := env.Desk.Mark(ctx, m, bridge.Delivery{State: bridge.DeliverySent, Link: link}); err != nil {
			t.Fatalf("Mark sent: %v", err)
		}
		if got := env.Mark(t, m); got != bridge.DeliverySent {
			t.Errorf("mark after sent = %q (the pending mark must go)", got)
		}
		waitMessage(t, env, th, link)

		// A note that is not sent: explained privately to its author.
		nref := env.StaffPost(t, th, "note: customer is a VIP")
		nm := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == nref.ID }).Message
		if err := env.Desk.Mark(ctx, nm, bridge.Delivery{State: bridge.DeliveryNotSent,
			Reason: "kept as an internal note", Private: true}); err != nil {
			t.Fatalf("Mark not sent: %v", err)
		}
		if got := env.Mark(t, nm); got != bridge.DeliveryNotSent {
			t.Errorf("mark after not sent = %q", got)
		}
		waitPrivate(t, env, env.Staff.ID, "kept as an internal note")

		// A failed reply offers a Retry button that runs "retry <outbox id>".
		fref := env.StaffPost(t, th, "Here is your refund")
		fm := WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Message.ID == fref.ID }).Message
		if err := env.Desk.Mark(ctx, fm, bridge.Delivery{State: bridge.DeliveryFailed,
			Reason: "Mastodon refused the reply", Retry: "ob-17"}); err != nil {
			t.Fatalf("Mark failed: %v", err)
		}
		if got := env.Mark(t, fm); got != bridge.DeliveryFailed {
			t.Errorf("mark after failed = %q", got)
		}
		env.Press(t, th, fm, "retry", "")
		inv := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "retry" })
		if !slices.Equal(inv.Args, []string{"ob-17"}) || inv.Source != bridge.SourceButton {
			t.Errorf("retry button gave %+v; want args [ob-17] from a button", inv)
		}
		if inv.Message.ID != fm.ID {
			t.Errorf("retry Invocation.Message = %+v, want the failed message %q", inv.Message, fm.ID)
		}
		if inv.Thread.ID != th.ID {
			t.Errorf("retry Invocation.Thread = %+v, want %+v", inv.Thread, th)
		}
	})

	t.Run("SlashCommands", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		if env.Slash == nil {
			t.Skip("the desk has no slash commands")
		}
		in := listenDesk(t, env)
		in.Respond = func(inv bridge.Invocation) bridge.Response {
			return bridge.Response{OK: false, Private: true, Text: "refused " + inv.Name}
		}
		channel := env.SlashChannel
		if channel == "" {
			channel = env.Channel
		}
		env.Slash(t, channel, "escalate", `E-42 billing "too slow"`)
		inv := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "escalate" })
		if inv.Source != bridge.SourceSlash || inv.Channel != channel {
			t.Errorf("slash gave %+v; want source slash in %q", inv, channel)
		}
		if !inv.Thread.IsZero() {
			t.Errorf("a channel command reported thread %+v", inv.Thread)
		}
		if !slices.Equal(inv.Args, []string{"E-42", "billing", "too slow"}) {
			t.Errorf("slash args %q, want [E-42 billing too slow]", inv.Args)
		}
		checkStaff(t, env, inv.Staff)
		waitPrivate(t, env, env.Staff.ID, "refused escalate")
		env.Slash(t, channel, "claim", "")
		c := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "claim" })
		if len(c.Args) != 0 {
			t.Errorf("bare /claim gave args %q", c.Args)
		}
	})

	t.Run("SlashInThread", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		if env.SlashInThread == nil {
			t.Skip("the desk's platform has no slash commands inside threads")
		}
		in := listenDesk(t, env)
		in.Respond = func(inv bridge.Invocation) bridge.Response {
			return bridge.Response{OK: true, Private: true, Text: "ok " + inv.Name + " " + strings.Join(inv.Args, ",")}
		}
		th, _ := openCase(t, env, "E-53")
		env.SlashInThread(t, th, "claim", "")
		inv := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "claim" })
		if inv.Source != bridge.SourceSlash || inv.Desk != env.Desk.Name() {
			t.Errorf("slash in a thread gave %+v; want source slash, desk %q", inv, env.Desk.Name())
		}
		if inv.Thread != th {
			t.Errorf("slash in a thread: Thread = %+v, want the case thread %+v", inv.Thread, th)
		}
		if inv.Channel != th.Channel {
			t.Errorf("slash in a thread: Channel = %q, want the queue channel %q", inv.Channel, th.Channel)
		}
		if len(inv.Args) != 0 {
			t.Errorf("bare /claim in a thread gave args %q", inv.Args)
		}
		checkStaff(t, env, inv.Staff)
		waitPrivate(t, env, env.Staff.ID, "ok claim")
		env.SlashInThread(t, th, "escalate", `billing "too slow"`)
		esc := WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "escalate" })
		if !slices.Equal(esc.Args, []string{"billing", "too slow"}) || esc.Thread != th {
			t.Errorf("escalate in a thread gave %+v; want args [billing too slow] in %+v", esc, th)
		}
	})

	t.Run("Escaping", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		cv := SuiteCase("E-48")
		cv.First.Text = "<!channel> @everyone <@U999> <https://evil.example|click> **bold** `code` & done"
		cv.Customer.Name = "<!here> *Eve*"
		th, err := env.Desk.OpenThread(deskCtx(t), env.Channel, cv)
		if err != nil {
			t.Fatalf("OpenThread: %v", err)
		}
		card := env.Card(t, th)
		if !strings.Contains(card.Text, cv.First.Text) {
			t.Errorf("card does not show the complaint verbatim; want %q in:\n%s", cv.First.Text, card.Text)
		}
	})

	t.Run("LongComplaint", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		cv := SuiteCase("E-49")
		cv.First.Text = strings.Repeat("très long ", 2000) // 20k characters
		th, err := env.Desk.OpenThread(deskCtx(t), env.Channel, cv)
		if err != nil {
			t.Fatalf("OpenThread with a long complaint: %v", err)
		}
		card := env.Card(t, th)
		if !strings.Contains(card.Text, "très long très long") || !strings.Contains(card.Text, "E-49") {
			t.Errorf("long card lost its start or id")
		}
		long := strings.Repeat("ü", 50000)
		if _, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: long}); err != nil {
			t.Errorf("Post of a 50k-character follow-up: %v", err)
		}
	})

	t.Run("RateLimitedStillDelivers", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, cv := openCase(t, env, "E-50")
		env.Fail(t, 429, 1, 200*time.Millisecond)
		if _, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: "after the limit"}); err != nil {
			t.Fatalf("Post through a 429: %v", err)
		}
		waitMessage(t, env, th, "after the limit")
	})

	t.Run("ErrorsKeepSecrets", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, cv := openCase(t, env, "E-51")
		env.Fail(t, 500, 50, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := env.Desk.Post(ctx, th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "x"})
		if err == nil {
			t.Fatal("Post succeeded while the platform answered 500")
		}
		checkDeskSecret(t, env, err)
		checkDeskSecret(t, env, env.Desk.UpdateCard(ctx, th, cv))
	})

	t.Run("ConcurrentPosts", func(t *testing.T) {
		t.Parallel()
		env := h.New(t)
		th, _ := openCase(t, env, "E-52")
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := env.Desk.Post(deskCtx(t), th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: fmt.Sprintf("line %02d", i)})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent Post: %v", err)
			}
		}
		msgs := env.Messages(t, th)
		for i := range n {
			if _, ok := findMessage(msgs, fmt.Sprintf("line %02d", i)); !ok {
				t.Errorf("line %02d missing from the thread", i)
			}
		}
	})
}

// CardCases are the states every desk's card is rendered in (golden files,
// limits): "new" (SuiteCase E-42), "claimed" by assignee (a staff key,
// "slack:U1") named Ana, "escalated" to billing, "waiting" on the
// customer after a first answer, "resolved" with a summary, moved to "dm",
// and "long" (a complaint far over any limit, with tags). A desk adds its
// own hostile cases (its platform's markup).
func CardCases(assignee string) map[string]bridge.CaseView {
	cv := SuiteCase("E-42")
	claimed := cv
	claimed.Status, claimed.Assignee, claimed.AssigneeName = bridge.StatusClaimed, assignee, "Ana"
	escalated := claimed
	escalated.Status, escalated.Team, escalated.Queue = bridge.StatusEscalated, "billing", "billing"
	waiting := claimed
	waiting.Status, waiting.RespondedAt = bridge.StatusWaiting, cv.OpenedAt.Add(10*time.Minute)
	resolved := claimed
	resolved.Status, resolved.ResolvedAt, resolved.Summary = bridge.StatusResolved, cv.OpenedAt.Add(time.Hour), "refund sent"
	dm := claimed
	dm.Private = true
	long := cv
	long.First.Text = strings.Repeat("a very long complaint ", 400)
	long.Tags = []string{"a", "b", "c"}
	return map[string]bridge.CaseView{"new": cv, "claimed": claimed, "escalated": escalated, "waiting": waiting,
		"resolved": resolved, "dm": dm, "long": long}
}
