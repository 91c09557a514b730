package discord_test

import (
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// Gateway tests run in parallel: discordgo's Close sleeps a second.

// gatewayEnv is a listening desk with one case thread.
func gatewayEnv(t *testing.T, o envOpts) (*env, *connectortest.RecordingInbox, bridge.ThreadRef) {
	t.Helper()
	e := newEnv(t, o)
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	th, err := e.desk.OpenThread(t.Context(), e.channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	return e, in, th
}

func say(t *testing.T, f *discordfake.Fake, channel, text string) {
	t.Helper()
	if _, err := f.Say(staffID, channel, text); err != nil {
		t.Fatal(err)
	}
}

func waitText(t *testing.T, in *connectortest.RecordingInbox, text string) {
	t.Helper()
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Text == text })
}

// Op 7 RECONNECT: the desk closes, RESUMEs its session, and misses nothing
// said in between.
func TestGatewayResumesOnReconnect(t *testing.T) {
	t.Parallel()
	e, in, th := gatewayEnv(t, envOpts{})
	say(t, e.fake, th.ID, "before")
	waitText(t, in, "before")
	e.fake.Reconnect()
	say(t, e.fake, th.ID, "during")
	connectortest.WaitFor(t, 10*time.Second, "a RESUME", func() bool { return e.fake.Resumes() == 1 })
	say(t, e.fake, th.ID, "after")
	waitText(t, in, "during")
	waitText(t, in, "after")
	if n := e.fake.Identifies(); n != 1 {
		t.Errorf("%d IDENTIFYs, want 1 (a reconnect resumes)", n)
	}
}

// The connection dies without a word: the desk notices, comes back by
// itself and gets what was said while it was away.
func TestGatewayComesBackAfterDrop(t *testing.T) {
	t.Parallel()
	e, in, th := gatewayEnv(t, envOpts{})
	e.fake.DropConnections()
	say(t, e.fake, th.ID, "while away")
	waitText(t, in, "while away")
	connectortest.WaitFor(t, 10*time.Second, "the desk connected again", func() bool {
		return e.desk.Listening() && e.fake.Connected() == 1
	})
	if e.fake.Resumes() != 1 || e.fake.Identifies() != 1 {
		t.Errorf("%d RESUMEs and %d IDENTIFYs, want 1 and 1", e.fake.Resumes(), e.fake.Identifies())
	}
}

// The desk identifies with MESSAGE_CONTENT and answers heartbeats at the
// fake's (short) interval.
func TestGatewayIntentsAndHeartbeats(t *testing.T) {
	t.Parallel()
	e, in, th := gatewayEnv(t, envOpts{heartbeat: 50 * time.Millisecond})
	if got := e.fake.Intents(); got&discordfake.IntentMessageContent == 0 || got != int(discord.Intents) {
		t.Errorf("IDENTIFY intents %b, want %b with MESSAGE_CONTENT", got, discord.Intents)
	}
	connectortest.WaitFor(t, 10*time.Second, "three heartbeats", func() bool { return e.fake.Heartbeats() >= 3 })
	say(t, e.fake, th.ID, "still here")
	waitText(t, in, "still here")
}

// Messages by the bot, by webhooks (customer follow-ups) and outside
// threads never reach the bridge; edits keep their thread and author,
// deletes too.
func TestGatewayFiltersAndOrders(t *testing.T) {
	t.Parallel()
	e, in, th := gatewayEnv(t, envOpts{})
	cv := connectortest.SuiteCase("E-1")
	if _, err := e.desk.Post(t.Context(), th, bridge.DeskMessage{Kind: bridge.DeskCustomer, Author: &cv.Customer, Text: "from the customer"}); err != nil {
		t.Fatal(err)
	}
	say(t, e.fake, staffRoom, "not in a thread")
	id, err := e.fake.Say(staffID, th.ID, "one")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"two", "three"} {
		if err := e.fake.Edit(th.ID, id, text); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.fake.Delete(th.ID, id); err != nil {
		t.Fatal(err)
	}
	del := connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageDeleted })
	if del.Message.Author != staffID || del.Staff.ID != staffID || del.Thread != th {
		t.Errorf("delete delivered as %+v", del)
	}
	var got []string
	for _, m := range in.StaffMessages() {
		got = append(got, string(m.Kind)+":"+m.Text)
	}
	want := []string{"new:one", "edited:two", "edited:three", "deleted:"}
	if len(got) != len(want) {
		t.Fatalf("staff messages %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("staff messages %q, want %q in that order", got, want)
		}
	}
}
