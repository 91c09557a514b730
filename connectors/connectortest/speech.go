package connectortest

// speech.go is the public-speech corpus (issue #14): staff messages in
// each desk's own markup, run through the desk under test, its fake and
// the real bridge, each with what must come of it: the exact text
// published, or not sent and why. RunSpeechCorpus runs it; RunCardCrash
// and RunRefusalCrash restart the bridge on a crash image of its journal
// at the two moments where a crash used to leave the desk wrong.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
)

// SpeechDesk is a desk under test that says when it listens.
type SpeechDesk interface {
	bridge.Desk
	Listening() bool
}

// SpeechEnv is a desk's fake and how to act on it, for the corpus and
// the crash tests. Every func may block on the fake.
type SpeechEnv struct {
	// Desk names the desk ("slack", "discord"): rows marked Only for
	// another desk are skipped.
	Desk string
	// NewDesk returns a desk under test pointed at the fake; each bridge
	// run (a restart) gets its own.
	NewDesk func(t testing.TB) SpeechDesk
	// Channel is the queue channel.
	Channel string
	// Staff is the claimer, staff by their user id, as the desk reports them.
	Staff bridge.Staff
	// Colleague is another desk member, with the name the desk shows.
	Colleague bridge.Staff
	// Markup writes a corpus placeholder in the desk's markup (see
	// SpeechRow.Text); Escape does to literal text what the desk's client
	// does when a person types it (Slack escapes &, < and >; nil: nothing).
	Markup func(kind, arg string) string
	Escape func(text string) string
	// Write posts text in thread th as Staff and returns the message as
	// the desk reports it; Edit changes it.
	Write func(tb testing.TB, th bridge.ThreadRef, text string) bridge.MessageRef
	Edit  func(tb testing.TB, m bridge.MessageRef, text string)
	// Mark is the delivery state message m shows now ("" for none).
	Mark func(tb testing.TB, m bridge.MessageRef) bridge.DeliveryState
	// Private is every text shown only to staffID so far.
	Private func(tb testing.TB, staffID string) []string
	// Shown is every text the desk showed in threads so far (posted or
	// edited), as a reader saw it at the time, oldest first.
	Shown func(tb testing.TB) []string
	// Cards lists the case threads in Channel.
	Cards func(tb testing.TB) []bridge.ThreadRef
	// Press presses a card button as Staff.
	Press func(tb testing.TB, th bridge.ThreadRef, verb string)
	// Slash runs, as Staff, command verb with args (desk markup as typed)
	// on case id whose thread is th, however the desk spells it (Slack: a
	// channel command naming the case; Discord: a slash command in the thread).
	Slash func(tb testing.TB, th bridge.ThreadRef, id bridge.CaseID, verb, args string)
	// Hold holds the desk's answers, after they took effect, to its card
	// posts (what "card"), to the first call of a mark of a message
	// (what "mark") or to its putting a mark reaction on a message (what
	// "reaction"), until release; answered receives once per answer held.
	Hold func(tb testing.TB, what string) (answered <-chan struct{}, release func())
}

// SpeechRow is one staff message of the corpus and what must come of it.
//
// Text (and Edit) use placeholders each desk writes in its own markup:
// {b:x} bold, {i:x} italic, {s:x} strikethrough, {code:x} a code span,
// {pre:x} a code block, {spoiler:x} a spoiler, {quote} a quote at the start
// of a line, {user} a mention of the colleague, {group} of a user group or
// role, {channel} of a channel, {here} and {everyone} the broadcasts,
// {link:url|label} a labelled link, {url:u} a bare link, {mail:a} an e-mail
// address as the desk links it, {emoji:name} a custom emoji, and
// {raw:x} the desk's own markup x as it is.
type SpeechRow struct {
	Name string
	Text string
	// Edit, when set, replaces the text inside the undo window.
	Edit string
	// Publish is the exact text that must be published; "" means nothing.
	Publish string
	// Reason is a part of the not-sent explanation (when Publish is "").
	Reason string
	// Command rows are commands: no reply, no mark.
	Command bool
	// Only names the one desk whose markup the row is about.
	Only string
}

// Speech corpus identities.
const (
	speechCustomer = "ana@mastodon.social"
	speechWindow   = 1500 * time.Millisecond
	speechCases    = 3
)

// SpeechCorpus is the corpus: note prefixes in every form, invisible and
// empty texts, each kind of desk markup, other accounts of the network,
// the explicit reply command with each of them, edits, and plain replies.
func SpeechCorpus(colleague string) []SpeechRow {
	note := "A note"
	invisible := "no visible text"
	mention := "your colleague " + colleague
	rows := []SpeechRow{
		// Note prefixes, however they are typed (finding 1).
		{Name: "plain", Text: "note: check the log", Reason: note},
		{Name: "caps", Text: "NOTE: caps", Reason: note},
		{Name: "mixed case no space", Text: "Note:mixed", Reason: note},
		{Name: "space before colon", Text: "NOTE : ops says the depot is closed", Reason: note},
		{Name: "fullwidth colon", Text: "note：ops says the depot is closed", Reason: note},
		{Name: "fullwidth letters", Text: "ｎｏｔｅ: fullwidth", Reason: note},
		{Name: "mathematical bold", Text: "𝐍𝐨𝐭𝐞: math bold", Reason: note},
		{Name: "small capitals", Text: "ɴᴏᴛᴇ: small caps", Reason: note},
		{Name: "cyrillic o", Text: "nоte: a Cyrillic o", Reason: note},
		{Name: "zero-width space before", Text: "\u200bnote: zero width", Reason: note},
		{Name: "word joiner before", Text: "\u2060note: word joiner", Reason: note},
		{Name: "BOM before", Text: "\ufeffnote: BOM", Reason: note},
		{Name: "zero-width inside", Text: "n\u200bote: inside", Reason: note},
		{Name: "bold", Text: "{b:note:} check the log", Reason: note},
		{Name: "italic", Text: "{i:note:} italic", Reason: note},
		{Name: "strikethrough", Text: "{s:note:} strike", Reason: note},
		{Name: "code span", Text: "{code:note:} code", Reason: note},
		{Name: "code block", Text: "{pre:note: in a block}", Reason: note},
		{Name: "quote", Text: "{quote}note: quoted", Reason: note},
		{Name: "quote and bold", Text: "{quote}{b:note:} quoted bold", Reason: note},
		{Name: "bold and italic", Text: "{b:{i:note:}} nested", Reason: note},
		{Name: "spoiler", Text: "{spoiler:note:} hidden", Reason: note, Only: "discord"},
		{Name: "after blank lines", Text: "\n\nnote: after blank lines", Reason: note},
		{Name: "after spaces", Text: "   note: after spaces", Reason: note},
		{Name: "after an ideographic space", Text: "\u3000note: ideographic", Reason: note},
		{Name: "slashes", Text: "// slashes", Reason: note},
		{Name: "fullwidth slashes", Text: "／／ fullwidth slashes", Reason: note},
		{Name: "bold slashes", Text: "{b://} bold slashes", Reason: note},
		{Name: "in quotation marks", Text: "“note: in quotation marks”", Reason: note},
		{Name: "list item", Text: "- note: a list item", Reason: note},
		{Name: "heading", Text: "# note: a heading", Reason: note},

		// Edits inside the undo window.
		{Name: "edited into a note", Text: "Thanks, we are on it (e1)", Edit: "note: actually internal", Reason: "Edited into a note"},
		{Name: "edited into a bold note", Text: "Thanks, we are on it (e2)", Edit: "{b:note:} internal", Reason: "Edited into a note"},
		{Name: "edited into nothing", Text: "Thanks, we are on it (e3)", Edit: "\u200b", Reason: "no reply left"},
		{Name: "edited into a mention", Text: "Thanks, we are on it (e4)", Edit: "Thanks {user} (e4)", Reason: mention},
		{Name: "edited reply", Text: "Thanks, first draft (e5)", Edit: "Thanks, final words (e5)", Publish: "Thanks, final words (e5)"},
		{Name: "a note edited into words", Text: "note: internal (e6)", Edit: "A reply now (e6)", Reason: note},

		// Nothing visible (finding 2).
		{Name: "zero-width space", Text: "\u200b", Reason: invisible},
		{Name: "format characters", Text: "\u200b\u2060\ufeff", Reason: invisible},
		{Name: "hangul filler", Text: "\u3164", Reason: invisible},
		{Name: "braille blank", Text: "\u2800\u2800", Reason: invisible},
		{Name: "spaced zero-width", Text: "\u200b \u200b", Reason: invisible},
		{Name: "unicode spaces", Text: "\u00a0\u3000\u2003", Reason: "no text to publish"},

		// Desk markup (finding 3).
		{Name: "user mention", Text: "Thanks {user}!", Reason: mention},
		{Name: "here", Text: "{here} it is fixed", Reason: "outside the desk"},
		{Name: "everyone", Text: "{everyone} it is fixed", Reason: "outside the desk"},
		{Name: "group", Text: "ask {group} for help", Reason: "the group"},
		{Name: "channel", Text: "see {channel} for updates", Reason: "the channel"},
		{Name: "the issue's message", Text: "Thanks {user}! {everyone} see {link:https://status.example.com/fix|the fix} or mail {mail:ops@example.com}", Reason: mention},
		{Name: "labelled link", Text: "See {link:https://status.example.com/fix|the fix} for details", Publish: "See the fix (https://status.example.com/fix) for details"},
		{Name: "bare link", Text: "Status: {url:https://status.example.com}", Publish: "Status: https://status.example.com"},
		{Name: "e-mail link", Text: "Write to {mail:help@example.com} anytime", Publish: "Write to help@example.com anytime"},
		{Name: "a label posing as another address", Text: "See {link:https://evil.example/x|https://good.example} now", Publish: "See https://evil.example/x now"},
		{Name: "bold words", Text: "We are {b:really} sorry", Publish: "We are really sorry"},
		{Name: "italic words", Text: "This is {i:so} frustrating, sorry", Publish: "This is so frustrating, sorry"},
		{Name: "struck words", Text: "The {s:old} new tracking link works", Publish: "The old new tracking link works"},
		{Name: "code words", Text: "Use code {code:ABC-123} at checkout", Publish: "Use code ABC-123 at checkout"},
		{Name: "code block words", Text: "{pre:tracking 12345}", Publish: "tracking 12345"},
		{Name: "quoted customer", Text: "{quote}You said it was late\nSorry about that", Publish: "You said it was late\nSorry about that"},
		{Name: "custom emoji", Text: "Party time {emoji:partyparrot}", Publish: "Party time :partyparrot:"},
		{Name: "lone marks", Text: "2+3=5 and snake_case_name stay", Publish: "2+3=5 and snake_case_name stay"},
		{Name: "escaping", Text: "Fish & chips < 5 > 3", Publish: "Fish & chips < 5 > 3"},
		{Name: "spoiler words", Text: "{spoiler:secret} revealed", Publish: "secret revealed", Only: "discord"},
		{Name: "timestamp", Text: "Back at {raw:<t:1700000000:t>}", Publish: "Back at 14 Nov 2023 22:13 UTC", Only: "discord"},
		{Name: "date", Text: "Back on {raw:<!date^1700000000^{date_short}|Nov 14, 2023>}", Publish: "Back on Nov 14, 2023", Only: "slack"},
		{Name: "literal markup", Text: "Typed <@U0TYPED> literally", Reason: "desk markup", Only: "slack"},

		// Other accounts of the network.
		{Name: "another account", Text: "cc @someone please help", Reason: "another account"},
		{Name: "the customer's name", Text: "Thanks @ana, fixed", Publish: "Thanks @ana, fixed"},
		{Name: "the customer's handle", Text: "Thanks @ana@mastodon.social, all fixed", Publish: "Thanks @ana@mastodon.social, all fixed"},
		{Name: "an e-mail address", Text: "Email ops@example.com", Publish: "Email ops@example.com"},
		{Name: "a profile link", Text: "See https://mastodon.social/@brand/1", Publish: "See https://mastodon.social/@brand/1"},

		// The explicit reply command (finding 4).
		{Name: "!reply another account", Text: "!reply cc @someone explicitly", Publish: "cc @someone explicitly"},
		{Name: "!reply note", Text: "!reply note: internal", Reason: note},
		{Name: "!reply bold note", Text: "!reply {b:note:} internal", Reason: note},
		{Name: "!reply mention", Text: "!reply Thanks {user}", Reason: mention},
		{Name: "!reply here", Text: "!reply {here} now", Reason: "outside the desk"},
		{Name: "!reply invisible", Text: "!reply \u3164", Reason: invisible},
		{Name: "!reply command", Text: "!reply !claim", Reason: "command prefix"},
		{Name: "!reply link", Text: "!reply See {link:https://status.example.com|the status page}", Publish: "See the status page (https://status.example.com)"},
		{Name: "bold !reply", Text: "{b:!reply} Bold command works", Publish: "Bold command works"},
		{Name: "!REPLY", Text: "!REPLY Upper case verb", Publish: "Upper case verb"},
		{Name: "fullwidth !reply", Text: "！reply Fullwidth bang", Publish: "Fullwidth bang"},

		// Commands are never replies.
		{Name: "command", Text: "!help", Command: true},
		{Name: "bold command", Text: "{b:!help}", Command: true},

		// Plain replies.
		{Name: "reply", Text: "Sorry Ana, a new parcel is on its way.", Publish: "Sorry Ana, a new parcel is on its way."},
		{Name: "spaces around", Text: "  Spaces around are trimmed  ", Publish: "Spaces around are trimmed"},
		{Name: "two lines", Text: "Line one\nLine two", Publish: "Line one\nLine two"},
		{Name: "note later in the text", Text: "Please note: the store opens at 9", Publish: "Please note: the store opens at 9"},
		{Name: "notes", Text: "Notes: we checked twice", Publish: "Notes: we checked twice"},
		{Name: "emoji", Text: "Hi! 👋 We're on it", Publish: "Hi! 👋 We're on it"},
		{Name: "compatibility characters kept", Text: "Ünïcödé Straße ½ price ﬁne", Publish: "Ünïcödé Straße ½ price ﬁne"},
		{Name: "over the limit", Text: strings.Repeat("x", 501), Reason: "501 characters"},
	}
	return rows
}

// expand writes a row text in env's markup.
func (env *SpeechEnv) expand(text string) string {
	esc := env.Escape
	if esc == nil {
		esc = func(s string) string { return s }
	}
	var b strings.Builder
	for text != "" {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(esc(text))
			break
		}
		b.WriteString(esc(text[:i]))
		depth, j := 0, i
		for ; j < len(text); j++ {
			if text[j] == '{' {
				depth++
			} else if text[j] == '}' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j == len(text) {
			b.WriteString(esc(text[i:]))
			break
		}
		kind, arg, _ := strings.Cut(text[i+1:j], ":")
		if kind == "raw" {
			b.WriteString(arg) // the desk's markup, as it is
			text = text[j+1:]
			continue
		}
		if strings.Contains(arg, "{") {
			arg = env.expand(arg)
		} else if kind != "link" && kind != "url" && kind != "mail" {
			arg = esc(arg)
		}
		b.WriteString(env.Markup(kind, arg))
		text = text[j+1:]
	}
	return b.String()
}

// speechBridge runs the real bridge with the commands against env's desk
// and a stub network, with Staff a lead and Colleague an agent by user id.
func speechBridge(t *testing.T, env *SpeechEnv, dir string, desk SpeechDesk, net *StubNetwork, window time.Duration) (*bridge.Bridge, func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cmds := commands.New(nil, commands.Options{Logger: logger})
	return StartStoppableBridge(t, BridgeRun{
		Options: bridge.Options{
			DataDir:   dir,
			Commander: cmds,
			Config: bridge.Config{
				// One case per complaint: the same customer writes each.
				Queues: []bridge.QueueConfig{{Name: "support", Desk: desk.Name(), Channel: env.Channel, SeparateCases: true}},
				Watch:  []bridge.WatchRule{{Network: "mastodon", Mentions: true}},
				Staff: []bridge.StaffRule{{Desk: desk.Name(), User: env.Staff.ID, Role: bridge.RoleLead},
					{Desk: desk.Name(), User: env.Colleague.ID, Role: bridge.RoleAgent}},
				UndoWindow: window, UndoWindowSet: true,
			},
			Networks: []bridge.Network{net},
			Desks:    []bridge.Desk{desk},
			Logger:   logger,
		},
		Bind:  func(b *bridge.Bridge) { cmds.Bind(b) },
		Ready: desk.Listening,
	})
}

// complain posts a complaint and returns the thread of its case, once the
// bridge knows it.
func complain(t *testing.T, env *SpeechEnv, b *bridge.Bridge, net *StubNetwork, id string) bridge.ThreadRef {
	t.Helper()
	net.Posts <- complaint(id)
	var th bridge.ThreadRef
	WaitFor(t, 15*time.Second, "the case's card", func() bool {
		for _, c := range env.Cards(t) {
			if v, ok := b.CaseForThread(c); ok && v.First.ID == id {
				th = c
				return true
			}
		}
		return false
	})
	return th
}

// complaint is the customer's post id that opens a case.
func complaint(id string) bridge.Post {
	return bridge.Post{Network: "mastodon", ID: id, Author: bridge.Author{ID: "109", Handle: speechCustomer, Name: "Ana Lima"},
		Text: "@shop my parcel never arrived", URL: "https://mastodon.social/@ana/" + id, CreatedAt: time.Now(), MentionsUs: true}
}

// RunSpeechCorpus writes every row of the corpus that applies to env's
// desk as the claimer of one case, through the desk's fake, and checks
// what came of each: the exact text published, or the message marked not
// sent with its reason, explained privately; commands neither. Nothing
// else is published.
func RunSpeechCorpus(t *testing.T, env *SpeechEnv) {
	t.Helper()
	desk := env.NewDesk(t)
	net := NewStubNetwork()
	b, _ := speechBridge(t, env, t.TempDir(), desk, net, speechWindow)
	// Three cases, the rows in turn: desks mark one case at a time, and
	// Discord paces reactions per thread.
	var threads []bridge.ThreadRef
	for i := range speechCases {
		th := complain(t, env, b, net, fmt.Sprintf("p%d", i+1))
		v, _ := b.CaseForThread(th)
		if _, err := b.Claim(context.Background(), v.ID, env.Staff); err != nil {
			t.Fatal(err)
		}
		threads = append(threads, th)
	}

	type written struct {
		row SpeechRow
		msg bridge.MessageRef
	}
	var all []written
	for _, row := range SpeechCorpus(env.Colleague.Name) {
		if row.Only != "" && row.Only != env.Desk {
			continue
		}
		m := env.Write(t, threads[len(all)%len(threads)], env.expand(row.Text))
		if row.Edit != "" {
			env.Edit(t, m, env.expand(row.Edit))
		}
		all = append(all, written{row, m})
	}
	if len(all) < 80 {
		t.Fatalf("the corpus has %d rows for %s, want at least 80", len(all), env.Desk)
	}

	// What the bridge decided, row by row.
	var want []string
	for _, w := range all {
		row, m := w.row, w.msg
		if row.Command {
			continue
		}
		if row.Publish != "" {
			want = append(want, row.Publish)
		}
		var it bridge.OutboxItem
		WaitFor(t, 30*time.Second, fmt.Sprintf("the fate of %q", row.Name), func() bool {
			var ok bool
			it, ok = b.OutboxFor(m)
			return ok && it.State != bridge.OutboxQueued && it.State != bridge.OutboxAttempting
		})
		switch {
		case row.Publish != "" && (it.State != bridge.OutboxSent || it.Text != row.Publish):
			t.Errorf("%s: %s %q (%s), want published exactly %q", row.Name, it.State, it.Text, it.Reason, row.Publish)
		case row.Publish == "" && (it.State != bridge.OutboxCancelled || !strings.Contains(it.Reason, row.Reason)):
			t.Errorf("%s: %s %q (reason %q), want not sent because %q", row.Name, it.State, it.Text, it.Reason, row.Reason)
		}
	}
	for _, w := range all {
		if _, ok := b.OutboxFor(w.msg); ok && w.row.Command {
			t.Errorf("%s: a command became an outbox item", w.row.Name)
		}
	}
	if t.Failed() {
		return // the marks would follow the wrong decisions
	}

	// The marks and explanations staff see, all within one deadline (a
	// desk marks in its own order, at its platform's pace).
	shows := func(w written) bool {
		switch {
		case w.row.Command:
			return true
		case w.row.Publish != "":
			return env.Mark(t, w.msg) == bridge.DeliverySent
		}
		return env.Mark(t, w.msg) == bridge.DeliveryNotSent &&
			slices.ContainsFunc(env.Private(t, env.Staff.ID), func(p string) bool { return strings.Contains(p, w.row.Reason) })
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var missing []string
		for _, w := range all {
			if !shows(w) {
				missing = append(missing, w.row.Name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s, %d messages still lack their mark or explanation: %q", len(missing), missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range all {
		if s := env.Mark(t, w.msg); w.row.Command && s != "" {
			t.Errorf("%s: a command shows the mark %q", w.row.Name, s)
		}
	}
	var got []string
	for _, r := range net.Replies() {
		got = append(got, r.Text)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("published %d replies, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}

// RunPendingPreview checks that the pending line of a reply shows the
// exact text that will be published (the desk's markup turned into plain
// text), and after an edit inside the undo window the edited text, while
// the claimer can still change or stop it: also when the edit comes while
// the desk is still showing the first text (the race that once left the
// old text on the line until the new one went out).
func RunPendingPreview(t *testing.T, env *SpeechEnv) {
	t.Helper()
	desk := env.NewDesk(t)
	net := NewStubNetwork()
	b, _ := speechBridge(t, env, t.TempDir(), desk, net, time.Minute)
	th := complain(t, env, b, net, "p1")
	v, _ := b.CaseForThread(th)
	if _, err := b.Claim(context.Background(), v.ID, env.Staff); err != nil {
		t.Fatal(err)
	}
	preview := func(text string) {
		t.Helper()
		WaitFor(t, 60*time.Second, "a pending line showing "+text, func() bool {
			return slices.ContainsFunc(env.Shown(t), func(s string) bool {
				return strings.Contains(s, "To be published as:") && strings.Contains(s, text)
			})
		})
	}
	env.Write(t, th, env.expand("See {link:https://status.example.com/fix|the fix} for {b:the details} & more"))
	preview("See the fix (https://status.example.com/fix) for the details & more")
	// The edit comes while the desk is still marking the first draft
	// (its pending reaction on, its answer held): what the desk was told
	// then is not what will go, and the line must follow the edit.
	answered, release := env.Hold(t, "reaction")
	defer release()
	m := env.Write(t, th, env.expand("First draft"))
	select {
	case <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("the desk never started to mark the first draft")
	}
	env.Edit(t, m, env.expand("Final {i:words}, {code:ABC-1}"))
	WaitFor(t, 15*time.Second, "the bridge to take the edit", func() bool {
		it, ok := b.OutboxFor(m)
		return ok && it.Text == "Final words, ABC-1"
	})
	release()
	preview("Final words, ABC-1")
	if n := len(net.Replies()); n != 0 {
		t.Errorf("%d replies published inside the undo window", n)
	}
}

// RunAssignByMention has Staff, a lead, type "!assign" with a mention of
// Colleague in a case's thread (finding 7 of issue #14): the case is
// claimed by the colleague under the name the desk shows, not an id.
func RunAssignByMention(t *testing.T, env *SpeechEnv) {
	t.Helper()
	net := NewStubNetwork()
	b, _ := speechBridge(t, env, t.TempDir(), env.NewDesk(t), net, speechWindow)
	th := complain(t, env, b, net, "p1")
	v, _ := b.CaseForThread(th)
	env.Write(t, th, env.expand("!assign {user}"))
	WaitFor(t, 15*time.Second, "the case assigned to the colleague", func() bool {
		c, _ := b.Case(v.ID)
		return c.Assignee == env.Colleague.Key()
	})
	if c, _ := b.Case(v.ID); c.AssigneeName != env.Colleague.Name || c.StatusLine() != "Claimed by "+env.Colleague.Name {
		t.Errorf("the card says %q (assignee name %q), want the colleague's name %q", c.StatusLine(), c.AssigneeName, env.Colleague.Name)
	}
}

// RunSlashMentions runs reply and assign as the desk's slash commands with
// a mention of Colleague: the reply is refused (the colleague's name never
// goes out) and explained privately, the assignment names the colleague.
func RunSlashMentions(t *testing.T, env *SpeechEnv) {
	t.Helper()
	net := NewStubNetwork()
	b, _ := speechBridge(t, env, t.TempDir(), env.NewDesk(t), net, speechWindow)
	th := complain(t, env, b, net, "p1")
	v, _ := b.CaseForThread(th)
	if _, err := b.Claim(context.Background(), v.ID, env.Staff); err != nil {
		t.Fatal(err)
	}
	env.Slash(t, th, v.ID, "reply", env.expand("Thanks {user}, all fixed"))
	WaitFor(t, 15*time.Second, "the refusal of the reply", func() bool {
		return slices.ContainsFunc(env.Private(t, env.Staff.ID), func(p string) bool { return strings.Contains(p, "your colleague "+env.Colleague.Name) })
	})
	env.Slash(t, th, v.ID, "assign", env.expand("{user}"))
	WaitFor(t, 15*time.Second, "the case assigned to the colleague", func() bool {
		c, _ := b.Case(v.ID)
		return c.Assignee == env.Colleague.Key() && c.AssigneeName == env.Colleague.Name
	})
	time.Sleep(2 * speechWindow)
	if n := len(net.Replies()); n != 0 {
		t.Errorf("%d replies published: %+v", n, net.Replies())
	}
}

// RunCardCrash stops the bridge between the desk showing a card and the
// bridge hearing back (the answer held at the fake, the journal copied as
// a crash would leave it), and restarts it on the copy with a new desk:
// there is one card, the bridge adopted it, and its buttons work.
func RunCardCrash(t *testing.T, env *SpeechEnv) {
	t.Helper()
	dir := t.TempDir()
	net := NewStubNetwork()
	first, stop := speechBridge(t, env, dir, env.NewDesk(t), net, speechWindow)
	answered, release := env.Hold(t, "card")
	net.Posts <- complaint("p1")
	select {
	case <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("the desk never posted the card")
	}
	image := CrashImage(t, dir) // the card shows; the bridge has not heard back
	release()
	_ = first
	stop()
	if n := len(env.Cards(t)); n != 1 {
		t.Fatalf("%d cards before the restart, want 1", n)
	}

	after, _ := speechBridge(t, env, image, env.NewDesk(t), net, speechWindow)
	var th bridge.ThreadRef
	WaitFor(t, 15*time.Second, "the card adopted", func() bool {
		cards := env.Cards(t)
		if len(cards) != 1 {
			return false
		}
		th = cards[0]
		_, ok := after.CaseForThread(th)
		return ok
	})
	v, _ := after.CaseForThread(th)
	if len(v.Threads) != 1 {
		t.Errorf("the case lists threads %+v, want the one card", v.Threads)
	}
	env.Press(t, th, "claim")
	WaitFor(t, 15*time.Second, "the claim by the adopted card's button", func() bool {
		c, _ := after.Case(v.ID)
		return c.Assignee == env.Staff.Key()
	})
	time.Sleep(200 * time.Millisecond) // a second card would show by now
	if n := len(env.Cards(t)); n != 1 {
		t.Errorf("%d cards after the restart, want 1", n)
	}
}

// RunRefusalCrash stops the bridge right after it journaled a refusal and
// before the desk could show it (the desk's first mark call held at the
// fake and given up), and restarts it on a copy of the journal: the
// restarted bridge shows the not-sent mark and the explanation.
func RunRefusalCrash(t *testing.T, env *SpeechEnv) {
	t.Helper()
	dir := t.TempDir()
	net := NewStubNetwork()
	first, stop := speechBridge(t, env, dir, env.NewDesk(t), net, speechWindow)
	th := complain(t, env, first, net, "p1")
	v, _ := first.CaseForThread(th)
	if _, err := first.Claim(context.Background(), v.ID, env.Staff); err != nil {
		t.Fatal(err)
	}
	answered, release := env.Hold(t, "mark")
	m := env.Write(t, th, env.expand("{b:note:} check the log"))
	select {
	case <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("the desk never started to mark the note")
	}
	image := CrashImage(t, dir)
	stop() // the held mark is given up
	release()
	if s := env.Mark(t, m); s != "" {
		t.Fatalf("the note shows %q before the restart; the test needs it unmarked", s)
	}
	if slices.ContainsFunc(env.Private(t, env.Staff.ID), func(p string) bool { return strings.Contains(p, "A note") }) {
		t.Fatal("the note was explained before the restart; the test needs it unexplained")
	}

	after, _ := speechBridge(t, env, image, env.NewDesk(t), net, speechWindow)
	WaitFor(t, 15*time.Second, "the not-sent mark after the restart", func() bool { return env.Mark(t, m) == bridge.DeliveryNotSent })
	WaitFor(t, 15*time.Second, "the explanation after the restart", func() bool {
		return slices.ContainsFunc(env.Private(t, env.Staff.ID), func(p string) bool { return strings.Contains(p, "A note") })
	})
	if it, ok := after.OutboxFor(m); !ok || it.State != bridge.OutboxCancelled {
		t.Errorf("outbox after the restart: %+v", it)
	}
	if n := len(net.Replies()); n != 0 {
		t.Errorf("%d replies published", n)
	}
}
