package discord_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Customer follow-ups go out under the customer's name and avatar through
// one webhook per channel (Discord's name rules respected); without Manage
// Webhooks they go as the bot, with the name in front.
func TestCustomerFollowUps(t *testing.T) {
	t.Parallel()
	for _, noWebhooks := range []bool{false, true} {
		e := newEnv(t, envOpts{noWebhooks: noWebhooks})
		th, cv := openSuiteCase(t, e, "E-1")
		cv.Customer.Name, cv.Customer.Handle = "Discord fan", "clyde@mastodon.social"
		for _, text := range []string{"first", "second"} {
			if _, err := e.desk.Post(ctx10(t), th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: text}); err != nil {
				t.Fatalf("webhooks %v: Post: %v", !noWebhooks, err)
			}
		}
		msgs := e.fake.Messages(th.ID)
		last := msgs[len(msgs)-1]
		switch {
		case noWebhooks:
			if last.WebhookID != "" || !strings.Contains(last.Visible(), "**Discord fan** (clyde@mastodon.social) wrote:\nsecond") {
				t.Errorf("without webhooks the follow-up reads %q (webhook %q)", last.Visible(), last.WebhookID)
			}
		default:
			if last.WebhookID == "" || last.AvatarURL != cv.Customer.Avatar || !strings.Contains(last.Username, "Dіscord fan") ||
				last.Visible() != "second" {
				t.Errorf("webhook follow-up %+v", last)
			}
			if n := e.fake.Webhooks(forumID); n != 1 {
				t.Errorf("%d webhooks in the forum, want 1 made once", n)
			}
		}
	}
}

func openSuiteCase(t *testing.T, e *env, id string) (bridge.ThreadRef, bridge.CaseView) {
	t.Helper()
	cv := connectortest.SuiteCase(id)
	th, err := e.desk.OpenThread(ctx10(t), e.channel, cv)
	if err != nil {
		t.Fatal(err)
	}
	return th, cv
}

// A staff member who takes no DMs still learns why a message was not sent:
// in the thread, addressed to them.
func TestNotSentWithoutDMs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noDMs: true})
	th, _ := openSuiteCase(t, e, "E-1")
	m := e.say(t, th, "a note")
	if err := e.desk.Mark(ctx10(t), m, bridge.Delivery{State: bridge.DeliveryNotSent, Reason: "kept as a note", Private: true}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, msg := range e.fake.Messages(th.ID) {
		found = found || msg.Content == "<@"+staffID+"> Not sent: kept as a note"
	}
	if !found {
		t.Errorf("no addressed explanation in the thread: %+v", e.fake.Messages(th.ID))
	}
}

// With an interaction at hand (the member pressed a button in the thread a
// moment ago), the explanation is an ephemeral follow-up, not a DM.
func TestNotSentWithInteractionAtHand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{thread: true})
	in := connectortest.NewRecordingInbox()
	in.Respond = func(inv bridge.Invocation) bridge.Response {
		return bridge.Response{OK: true, Private: true, Text: "ok"}
	}
	listen(t, e.desk, in)
	th, _ := openSuiteCase(t, e, "E-1")
	if _, err := e.fake.Slash(staffID, th.ID, "history", nil); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the answer", func() bool { return len(e.fake.Ephemerals(staffID)) == 1 })
	m := e.say(t, th, "a note")
	if err := e.desk.Mark(ctx10(t), m, bridge.Delivery{State: bridge.DeliveryNotSent, Reason: "kept as a note", Private: true}); err != nil {
		t.Fatal(err)
	}
	eph := e.fake.Ephemerals(staffID)
	if len(eph) != 2 || eph[1].Content != "Not sent: kept as a note" || eph[1].ChannelID != th.ID {
		t.Errorf("ephemerals %+v, want the explanation as an ephemeral follow-up in the thread", eph)
	}
	if dms := e.fake.DMs(staffID); len(dms) != 0 {
		t.Errorf("a DM was sent too: %+v", dms)
	}
}

// Marks on a resolved (archived) case's messages: Discord refuses changes
// in an archived thread, so the desk unarchives, marks, and archives again.
func TestMarksInArchivedThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	th, cv := openSuiteCase(t, e, "E-1")
	id, err := e.fake.Say(staffID, th.ID, "thanks!")
	if err != nil {
		t.Fatal(err)
	}
	m := bridge.MessageRef{Desk: "discord", Channel: th.Channel, Thread: th.ID, ID: id, Author: staffID}
	if err := e.desk.Mark(ctx10(t), m, bridge.Delivery{State: bridge.DeliveryPending}); err != nil {
		t.Fatal(err)
	}
	cv.Status = bridge.StatusResolved
	if err := e.desk.UpdateCard(ctx10(t), th, cv); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.fake.Channel(th.ID); !c.Archived {
		t.Fatal("resolving did not archive the thread")
	}
	if err := e.desk.Mark(ctx10(t), m, bridge.Delivery{State: bridge.DeliverySent, Link: "https://mastodon.social/@shop/9"}); err != nil {
		t.Fatalf("Mark in an archived thread: %v", err)
	}
	msg, _ := e.fake.Message(th.ID, id)
	if !slices.Equal(msg.Emojis(), []string{"✅"}) {
		t.Errorf("marks %v, want only the sent mark", msg.Emojis())
	}
	if c, _ := e.fake.Channel(th.ID); !c.Archived {
		t.Error("the resolved case's thread was left unarchived")
	}
	// A notice after resolution (posting unarchives) is followed by archiving again.
	if _, err := e.desk.Post(ctx10(t), th, bridge.DeskMessage{Kind: bridge.DeskNotice, Text: "Resolved by Ana"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.fake.Channel(th.ID); !c.Archived {
		t.Error("a notice left the resolved case's thread unarchived")
	}
}

// A Retry button for an outbox id too long for a custom_id still gives the id back.
func TestRetryWithLongOutboxID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	th, _ := openSuiteCase(t, e, "E-1")
	id, err := e.fake.Say(staffID, th.ID, "refund on its way")
	if err != nil {
		t.Fatal(err)
	}
	long := "ob-" + strings.Repeat("x", 150)
	m := bridge.MessageRef{Desk: "discord", Channel: th.Channel, Thread: th.ID, ID: id, Author: staffID}
	if err := e.desk.Mark(ctx10(t), m, bridge.Delivery{State: bridge.DeliveryFailed, Reason: "network down", Retry: long}); err != nil {
		t.Fatal(err)
	}
	line, ok := e.lineFor(th.ID, id)
	if !ok || len(line.Actions()) != 1 {
		t.Fatalf("no Retry line: %+v", line)
	}
	if _, err := e.fake.Press(staffID, th.ID, line.ID, line.Actions()[0].CustomID); err != nil {
		t.Fatal(err)
	}
	inv := connectortest.WaitInvocation(t, in, func(i bridge.Invocation) bool { return i.Name == "retry" })
	if !slices.Equal(inv.Args, []string{long}) || inv.Message.ID != id || inv.Message.Author != staffID {
		t.Errorf("retry gave %+v", inv)
	}
}

// A forum gets the status tags it lacks, keeps its own, and a case's tags
// that the forum has are applied after the status tag.
func TestForumTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	cv := connectortest.SuiteCase("E-1")
	cv.Tags = []string{"#VIP", "orders"}
	th, err := e.desk.OpenThread(ctx10(t), forumID, cv)
	if err != nil {
		t.Fatal(err)
	}
	forum, _ := e.fake.Channel(forumID)
	var names []string
	for _, tag := range forum.Tags {
		names = append(names, tag.Name)
	}
	if !slices.Equal(names, []string{"vip", "New", "Claimed", "Escalated", "Waiting", "Resolved"}) {
		t.Errorf("forum tags %v", names)
	}
	c, _ := e.fake.Channel(th.ID)
	if got := c.TagNames(forum); !slices.Equal(got, []string{"New", "vip"}) {
		t.Errorf("post tags %v, want [New vip]", got)
	}
}

// A forum already full of tags keeps working, without status tags.
func TestForumFullOfTags(t *testing.T) {
	t.Parallel()
	f, err := discordfake.New(discordfake.Options{Token: botToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	var tags []string
	for i := range 20 {
		tags = append(tags, "tag"+string(rune('a'+i)))
	}
	f.AddForum(forumID, "full", tags...)
	d, err := discord.New(discord.Config{Token: botToken, GuildID: f.Options().GuildID, APIURL: f.URL()}, bridge.Deps{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	th, err := d.OpenThread(ctx10(t), forumID, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatalf("OpenThread in a full forum: %v", err)
	}
	if c, _ := f.Channel(th.ID); len(c.Applied) != 0 {
		t.Errorf("tags %v applied in a forum without status tags", c.Applied)
	}
}

// `earshot check`: GET /users/@me with the token; a wrong token fails
// without the token in the error.
func TestCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	if err := e.desk.Check(ctx10(t)); err != nil {
		t.Errorf("Check: %v", err)
	}
	const wrong = "wrong-token-9876"
	d, err := discord.New(discord.Config{Token: wrong, GuildID: "1", APIURL: e.fake.URL()}, bridge.Deps{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Check(ctx10(t))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), wrong) {
		t.Errorf("Check with a wrong token: %v", err)
	}
}

// A failed webhook call does not show the webhook's token (it is in the URL).
func TestErrorsHideWebhookTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	th, cv := openSuiteCase(t, e, "E-1")
	if _, err := e.desk.Post(ctx10(t), th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	_ = e.fake.Close() // now every call fails in the transport, naming its URL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := e.desk.Post(ctx, th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: "again"})
	if err == nil {
		t.Fatal("Post succeeded against a closed fake")
	}
	if strings.Contains(err.Error(), "whtoken-") || strings.Contains(err.Error(), botToken) {
		t.Errorf("error leaks a token: %v", err)
	}
}

// Registration makes one command per staff command of the table (their
// arguments one text option, required when the command needs arguments)
// and /earshot.
func TestRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{}) // registers
	table := commands.New(nil, commands.Options{}).Commands()
	got := map[string]discordfake.Command{}
	for _, c := range e.fake.Commands() {
		got[c.Name] = c
	}
	if len(got) != len(table)+1 {
		t.Errorf("%d commands registered, want %d", len(got), len(table)+1)
	}
	for _, c := range append(table, &commands.Command{Name: "earshot", MaxArgs: -1}) {
		r, ok := got[c.Name]
		if !ok {
			t.Errorf("/%s not registered", c.Name)
			continue
		}
		if c.MaxArgs == 0 && c.Case == commands.NoCase {
			if len(r.Options) != 0 {
				t.Errorf("/%s takes no arguments but has options %+v", c.Name, r.Options)
			}
			continue
		}
		if len(r.Options) != 1 || r.Options[0].Name != "args" || r.Options[0].Required != (c.MinArgs > 0) {
			t.Errorf("/%s options %+v", c.Name, r.Options)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  discord.Config
		want string
	}{
		{discord.Config{GuildID: "1"}, "token is required"},
		{discord.Config{Token: "t"}, "guild_id is required"},
		{discord.Config{Token: "t", GuildID: "1", PublicKey: "abc"}, "public_key"},
		{discord.Config{Token: "t", GuildID: "1", APIURL: "ftp://x"}, "api_url"},
	} {
		if _, err := discord.New(c.cfg, bridge.Deps{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", c.cfg, err, c.want)
		}
	}
}

func TestConfigDecodes(t *testing.T) {
	t.Parallel()
	var c discord.Config
	err := yaml.Unmarshal([]byte(`
token: abc
guild_id: "123"
application_id: "456"
public_key: "00ff"
api_url: http://127.0.0.1:9
webhooks: false
defer_after: 1500ms
request_timeout: 10s
pacing:
  channel_per_second: 0.5
  channel_burst: 3
  global_per_second: 40
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "abc" || c.GuildID != "123" || c.ApplicationID != "456" || c.PublicKey != "00ff" || c.APIURL != "http://127.0.0.1:9" ||
		c.Webhooks == nil || *c.Webhooks || c.DeferAfter != 1500*time.Millisecond || c.RequestTimeout != 10*time.Second ||
		c.Pacing != (discord.Pacing{ChannelPerSecond: 0.5, ChannelBurst: 3, GlobalPerSecond: 40}) {
		t.Errorf("decoded %+v", c)
	}
}
