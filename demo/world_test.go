package demo

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/slack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startWorld(t *testing.T) *World {
	t.Helper()
	w, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func TestCustomersAreValidatedAndCreatedOnce(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	for _, n := range Networks {
		if got := len(w.Customers(n.Name, 100)); got != len(StarterCustomers) {
			t.Errorf("%s: %d starter customers, want %d", n.Name, got, len(StarterCustomers))
		}
	}
	a, err := w.Customer(Mastodon, "@Zed_9", "")
	if err != nil || a.Handle != "zed_9" || a.Display != "@zed_9@fake.social" || a.Name != "Zed_9" {
		t.Fatalf("Customer = %+v, %v", a, err)
	}
	b, _ := w.Customer(Mastodon, "zed_9", "Other")
	if b.ID != a.ID {
		t.Errorf("the same handle made two accounts: %s and %s", a.ID, b.ID)
	}
	for _, h := range []string{"", "has space", "waytoolonghandle1", "ünï", "earshot"} {
		if _, err := w.Customer(X, h, ""); err == nil {
			t.Errorf("handle %q accepted", h)
		}
	}
	if _, err := w.Customer("myspace", "ana", ""); !errors.Is(err, ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
}

func TestCustomersPostOnEveryNetwork(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	watch := w.Watch()
	defer watch.Stop()
	ctx := context.Background()
	for _, n := range []string{Mastodon, Bluesky, X} {
		p, err := w.Post(ctx, n, "ana", "my train is delayed again", PostOptions{})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		r, err := w.Post(ctx, n, "joao", "same here", PostOptions{InReplyTo: p.ID})
		if err != nil || r.InReplyTo != p.ID {
			t.Fatalf("%s reply: %+v %v", n, r, err)
		}
		posts, total, err := w.Timeline(n, 10)
		if err != nil || total != 2 || posts[0].ID != r.ID || posts[1].Author == "" || posts[1].Name != "Ana Lima" {
			t.Errorf("%s timeline: %+v %d %v", n, posts, total, err)
		}
		if _, err := w.Post(ctx, n, "ana", "a DM to the brand", PostOptions{Direct: true}); err != nil {
			t.Errorf("%s DM: %v", n, err)
		}
		dms, err := w.DMs(n, 10)
		if err != nil || len(dms) != 1 || dms[0].Brand || !strings.Contains(dms[0].Text, "a DM to the brand") {
			t.Errorf("%s DMs: %+v %v", n, dms, err)
		}
		if _, err := w.Post(ctx, n, "ana", "a reply to nothing", PostOptions{InReplyTo: "999"}); err == nil {
			t.Errorf("%s: a reply to a missing post was accepted", n)
		}
	}
	if _, err := w.Post(ctx, Mastodon, "ana", strings.Repeat("x", 501), PostOptions{}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("over Mastodon's limit: %v", err)
	}
	if _, err := w.Post(ctx, X, "ana", "   ", PostOptions{}); !errors.Is(err, ErrBadText) {
		t.Errorf("blank text: %v", err)
	}
	// The review site needs Earshot to answer: without it the post fails clearly.
	if _, err := w.Post(ctx, Reviews, "ana", "two weeks, no refund", PostOptions{}); err == nil {
		t.Error("a review post with no Earshot to reach succeeded")
	}
	c, ok := watch.Next(ctx)
	if !ok || len(c.Public) == 0 {
		t.Errorf("changes: %+v %v", c, ok)
	}
}

// The staff side through the real Slack desk: a card opened by the desk is
// seen as a card with its case id and buttons; a person's message, edit,
// delete and button press reach the desk's listener.
func TestStaffActThroughTheFakeSlack(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	desk, err := slack.New(slack.Config{BotToken: w.Slack.Options().BotToken, AppToken: w.Slack.Options().AppToken,
		APIURL: w.Slack.APIURL(), Customize: true}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- desk.Listen(ctx, in) }()
	defer func() { cancel(); <-done }()
	connectortest.WaitFor(t, 10*time.Second, "the desk listening", desk.Listening)

	care := Channels[0].ID
	th, err := desk.OpenThread(ctx, care, connectortest.SuiteCase("E-7"))
	if err != nil {
		t.Fatal(err)
	}
	cards, total, err := w.Cards(SlackDesk, care, 10)
	if err != nil || total != 1 || cards[0].CaseID != "E-7" || !cards[0].Bot {
		t.Fatalf("cards: %+v %d %v", cards, total, err)
	}
	var claim Action
	for _, b := range cards[0].Blocks {
		for _, a := range b.Actions {
			if a.ID == "earshot:claim" {
				claim = a
			}
		}
	}
	if claim.Label != "Claim" {
		t.Fatalf("no Claim button on the card: %+v", cards[0].Blocks)
	}
	rui := Staff[0].ID
	if err := w.Press(SlackDesk, care, th.ID, rui, "earshot:claim", ""); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool { return inv.Name == "claim" && inv.Staff.ID == rui })
	if err := w.Press(SlackDesk, care, th.ID, rui, "earshot:nope", ""); !errors.Is(err, ErrNoSuchAction) {
		t.Errorf("a missing button: %v", err)
	}

	ts, err := w.Say(SlackDesk, care, th.ID, rui, "Sorry <Ana> & co")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool {
		return m.Kind == bridge.MessageNew && m.Text == "Sorry <Ana> & co"
	})
	if err := w.Edit(SlackDesk, care, ts, Staff[1].ID, "not mine"); !errors.Is(err, ErrNotYours) {
		t.Errorf("editing someone else's message: %v", err)
	}
	if err := w.Edit(SlackDesk, care, ts, rui, "Sorry Ana"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageEdited })
	if err := w.Delete(SlackDesk, care, ts, rui); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageDeleted })

	if err := w.Slash(SlackDesk, care, th.ID, rui, "/claim E-7"); !errors.Is(err, ErrNotHere) {
		t.Errorf("a slash command in a Slack thread: %v", err)
	}
	if err := w.Slash(SlackDesk, care, "", rui, "/claim E-7"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool { return inv.Source == bridge.SourceSlash })
	if err := w.Slash(SlackDesk, care, "", rui, "/deleteall"); !errors.Is(err, ErrBadCommand) {
		t.Errorf("an unregistered slash command: %v", err)
	}

	thread, err := w.Thread(SlackDesk, care, th.ID)
	if err != nil || len(thread) != 1 || thread[0].CaseID != "E-7" {
		t.Errorf("thread after the delete: %+v %v", thread, err)
	}
	for _, bad := range []struct{ desk, channel, user string }{
		{"discord", care, rui}, {SlackDesk, "C999", rui}, {SlackDesk, care, "U999"},
	} {
		if _, err := w.Say(bad.desk, bad.channel, "", bad.user, "hi"); err == nil {
			t.Errorf("Say accepted %+v", bad)
		}
	}
	if _, err := w.Say(SlackDesk, care, "1.2", rui, "hi"); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("a malformed thread ts: %v", err)
	}
	if _, err := w.Say(SlackDesk, care, "", rui, strings.Repeat("x", MaxMessageRunes+1)); !errors.Is(err, ErrBadMessage) {
		t.Errorf("an oversized message: %v", err)
	}
}

func TestConfigNamesEveryFake(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	cfg := string(w.Config(ConfigOptions{Listen: "127.0.0.1:0", DataDir: "/tmp/x", UndoWindow: DefaultUndoWindow}))
	for _, want := range []string{w.Slack.APIURL(), w.Mastodon.URL(), w.Bluesky.JetstreamURL(), w.X.URL(),
		w.Reviews.ReplyURL(), w.Discord.URL(), `undo_window: "5s"`, `channel: "3100000000000000002"`, "team: true",
		`{desk: "slack", user: "U04LENA", role: lead}`, `{desk: "discord", group: "3200000000000000002", role: agent}`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

// The Discord side through the real Discord desk: a card in the text
// channel and a post in the forum, buttons and the team picker, messages
// in a post, slash commands inside a post but not in the forum itself.
func TestStaffActThroughTheFakeDiscord(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	desk, err := discord.New(discord.Config{Token: w.Discord.Options().Token, GuildID: w.Discord.Options().GuildID,
		APIURL: w.Discord.URL()}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := desk.Register(ctx, commands.New(nil, commands.Options{}).Commands()); err != nil {
		t.Fatal(err)
	}
	in := connectortest.NewRecordingInbox()
	done := make(chan error, 1)
	go func() { done <- desk.Listen(ctx, in) }()
	defer func() { cancel(); <-done }()
	connectortest.WaitFor(t, 10*time.Second, "the desk listening", desk.Listening)

	mobile, netops := Channels[len(Channels)-2], Channels[len(Channels)-1]
	if mobile.Desk != DiscordDesk || !netops.Forum {
		t.Fatalf("the cast changed: %+v %+v", mobile, netops)
	}
	view := connectortest.SuiteCase("E-8")
	view.Teams = []string{"network-ops"}
	text, err := desk.OpenThread(ctx, mobile.ID, view)
	if err != nil {
		t.Fatal(err)
	}
	post, err := desk.OpenThread(ctx, netops.ID, connectortest.SuiteCase("E-9"))
	if err != nil {
		t.Fatal(err)
	}
	cards, _, err := w.Cards(DiscordDesk, mobile.ID, 10)
	if err != nil || len(cards) != 1 || cards[0].CaseID != "E-8" || cards[0].Thread != text.ID || !cards[0].Has("earshot:claim") {
		t.Fatalf("text channel cards: %+v %v", cards, err)
	}
	posts, _, err := w.Cards(DiscordDesk, netops.ID, 10)
	if err != nil || len(posts) != 1 || posts[0].CaseID != "E-9" || posts[0].Thread != post.ID || len(posts[0].Tags) != 1 {
		t.Fatalf("forum posts: %+v %v", posts, err)
	}

	aiko := Staff[5].ID
	c := cards[0]
	if err := w.Press(DiscordDesk, c.Channel, c.ID, aiko, "earshot:claim", ""); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool { return inv.Name == "claim" && inv.Staff.ID == aiko })
	if err := w.Press(DiscordDesk, c.Channel, c.ID, aiko, "earshot:escalate", "network-ops"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool {
		return inv.Name == "escalate" && len(inv.Args) > 0 && inv.Args[0] == "network-ops"
	})
	if err := w.Press(DiscordDesk, c.Channel, c.ID, aiko, "earshot:escalate", "nowhere"); !errors.Is(err, ErrNoSuchAction) {
		t.Errorf("a choice the picker does not offer: %v", err)
	}

	id, err := w.Say(DiscordDesk, mobile.ID, text.ID, aiko, "Sorry Ana, on it")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageNew && m.Text == "Sorry Ana, on it" })
	thread, err := w.Thread(DiscordDesk, mobile.ID, text.ID)
	if err != nil || len(thread) != 2 || thread[0].CaseID != "E-8" || thread[1].ID != id || thread[1].Author != "Aiko Tanaka" {
		t.Fatalf("thread: %+v %v", thread, err)
	}
	if err := w.Edit(DiscordDesk, thread[1].Channel, id, aiko, "Sorry Ana, on it now"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageEdited })

	if err := w.Slash(DiscordDesk, mobile.ID, text.ID, aiko, "/resolve fixed"); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool { return inv.Source == bridge.SourceSlash && inv.Name == "resolve" })
	if err := w.Slash(DiscordDesk, netops.ID, "", aiko, "/queue"); !errors.Is(err, ErrNotHere) {
		t.Errorf("a slash command in a forum: %v", err)
	}
	if _, err := w.Say(DiscordDesk, netops.ID, "", aiko, "hello forum"); !errors.Is(err, ErrNotHere) {
		t.Errorf("a message to a forum: %v", err)
	}
	if _, err := w.Say(DiscordDesk, mobile.ID, post.ID, aiko, "wrong channel"); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("a post of another channel: %v", err)
	}
}
