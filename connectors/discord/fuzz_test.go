package discord_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// Seeds: payloads as the fake (and Discord) send them.
var interactionSeeds = []string{
	pingBody,
	`{"id":"9","application_id":"2","type":2,"token":"t","channel_id":"5","member":{"user":{"id":"3","username":"ana"},"roles":["r"],"nick":"Ana"},"data":{"id":"7","name":"escalate","type":1,"options":[{"name":"args","type":3,"value":"E-42 billing \"too slow\""}]}}`,
	`{"id":"9","type":2,"token":"t","channel_id":"5","member":{"user":{"id":"3"}},"data":{"name":"earshot","options":[{"name":"args","type":3,"value":"claim E-1"}]}}`,
	`{"id":"9","type":3,"token":"t","channel_id":"5","member":{"user":{"id":"3"}},"message":{"id":"6","channel_id":"5"},"data":{"custom_id":"earshot:escalate","component_type":3,"values":["tech"]}}`,
	`{"id":"9","type":3,"token":"t","channel_id":"5","user":{"id":"3"},"message":{"id":"6","message_reference":{"message_id":"4"},"referenced_message":{"id":"4","author":{"id":"3"}}},"data":{"custom_id":"earshot:retry:ob-1","component_type":2}}`,
	`{"type":3,"data":{"custom_id":"earshot:claim"}}`,
	`{"type":2,"data":{"options":[{"name":"args","value":7}]}}`,
	`{"type":5,"data":{"components":[{"type":1}]}}`,
}

func FuzzParseInteraction(f *testing.F) {
	for _, s := range interactionSeeds {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, thread bool) {
		var ia discordgo.Interaction
		if json.Unmarshal(raw, &ia) != nil {
			return
		}
		inv, ok := discord.ParseInteraction(&ia, discord.Where{Parent: "P", Thread: thread})
		if !ok {
			return
		}
		if inv.Desk != "discord" || inv.Name == "" || inv.Staff.ID == "" || inv.Channel == "" {
			t.Fatalf("incomplete invocation %+v from %s", inv, raw)
		}
		if inv.Source != bridge.SourceSlash && inv.Source != bridge.SourceButton {
			t.Fatalf("source %q", inv.Source)
		}
		if thread && inv.Thread.ID != ia.ChannelID {
			t.Fatalf("in a thread, Thread = %+v", inv.Thread)
		}
	})
}

func FuzzParseStaffMessage(f *testing.F) {
	f.Add([]byte(`{"id":"1","channel_id":"2","content":"hi","author":{"id":"3","username":"ana"},"member":{"roles":["r"]},"timestamp":"2026-11-23T09:30:00Z","type":0}`), true)
	f.Add([]byte(`{"id":"1","channel_id":"2","author":{"id":"9","bot":true},"webhook_id":"8"}`), true)
	f.Add([]byte(`{"id":"1","channel_id":"2","type":19,"edited_timestamp":"x"}`), false)
	f.Fuzz(func(t *testing.T, raw []byte, thread bool) {
		var m discordgo.Message
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		for _, kind := range []bridge.MessageKind{bridge.MessageNew, bridge.MessageEdited} {
			sm, ok := discord.ParseStaffMessage(&m, kind, "9", discord.Where{Parent: "P", Thread: thread})
			if !ok {
				continue
			}
			if !thread || sm.Message.ID == "" || sm.Staff.ID == "" || sm.Staff.ID == "9" || sm.Thread.Channel != "P" {
				t.Fatalf("bad staff message %+v from %s", sm, raw)
			}
		}
	})
}

// The interactions route answers anything with a clear status, never a
// panic; signed garbage gets past the signature to the parser.
func FuzzInteractionsRoute(f *testing.F) {
	for _, s := range interactionSeeds {
		f.Add([]byte(s), "", true)
	}
	f.Add([]byte("{"), "1795429800", false)
	f.Add([]byte(""), "", false)
	d, err := discord.New(discord.Config{Token: botToken, GuildID: "1", PublicKey: discordfake.PublicKeyHex(testKey), APIURL: "http://127.0.0.1:9"},
		bridge.Deps{Logger: quietLogger(), Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	h := d.Routes()["POST "+discord.InteractionsPath]
	f.Fuzz(func(t *testing.T, body []byte, ts string, sign bool) {
		req := httptest.NewRequest(http.MethodPost, discord.InteractionsPath, bytes.NewReader(body))
		if sign {
			ts = strconv.FormatInt(testNow.Unix(), 10)
			req.Header.Set("X-Signature-Ed25519", discordfake.Sign(testKey, ts, body))
		} else {
			req.Header.Set("X-Signature-Ed25519", "00")
		}
		req.Header.Set("X-Signature-Timestamp", ts)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401, 413, 503:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if !sign && rec.Code != 401 {
			t.Fatalf("an unsigned request got %d", rec.Code)
		}
	})
}

// upstreamCrasher reports the dispatches discordgo v0.29 itself panics on,
// in its reading goroutine and before any handler of ours runs (found by
// FuzzGatewayEvents): GUILD_CREATE or GUILD_UPDATE without a single guild
// field (its embedded *Guild stays nil and setGuildIds dereferences it),
// and READY listing a null guild. Discord does not send these; nothing in
// this package can catch them short of patching discordgo.
func upstreamCrasher(event string, d []byte) bool {
	switch event {
	case "GUILD_CREATE", "GUILD_UPDATE":
		var g discordgo.GuildCreate // GuildUpdate has the same shape
		_ = json.Unmarshal(d, &g)
		return g.Guild == nil
	case "READY":
		var r discordgo.Ready
		_ = json.Unmarshal(d, &r)
		for _, g := range r.Guilds {
			if g == nil {
				return true
			}
		}
	}
	return false
}

// FuzzGatewayEvents: any dispatch (any event name, any JSON payload) that
// discordgo reads on the gateway is handled by the desk (channels and
// threads learnt, messages, deletes, interactions, READY and RESUMED)
// without a panic and without stopping the read loop: a heartbeat asked
// for after it is still answered. Seeded with every dispatch the fake sent
// for a real flow (READY, GUILD_CREATE, a forum post, staff messages edited
// and deleted, a button press and a slash command over the gateway).
func FuzzGatewayEvents(f *testing.F) {
	e := newEnv(f, envOpts{heartbeat: time.Minute})
	connectortest.RunListen(f, e.desk, connectortest.NopInbox{}, e.desk.Listening)
	th, err := e.desk.OpenThread(context.Background(), e.channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		f.Fatal(err)
	}
	id, _ := e.fake.Say(staffID, th.ID, "Sorry Ana, **a new parcel** is on its way")
	_ = e.fake.Edit(th.ID, id, "Sorry Ana, a new parcel is on its way today")
	_ = e.fake.Delete(th.ID, id)
	_, _ = e.fake.Press(staffID, e.cardChannel(th), th.ID, "earshot:claim")
	_, _ = e.fake.Slash(staffID, th.ID, "earshot", map[string]string{"args": "note E-1 hello"})
	connectortest.WaitFor(f, 10*time.Second, "the flow's dispatches", func() bool { return len(e.fake.Dispatched()) >= 8 })
	for _, raw := range e.fake.Dispatched() {
		var fr struct {
			T string          `json:"t"`
			D json.RawMessage `json:"d"`
		}
		if json.Unmarshal(raw, &fr) == nil && fr.T != "" {
			f.Add(fr.T, []byte(fr.D))
		}
	}
	f.Add("GUILD_CREATE", []byte(`{"id":"1","channels":[{"id":"2","type":15,"available_tags":[{}]}],"threads":[null]}`))
	f.Add("MESSAGE_DELETE", []byte(`{"id":"1"}`))
	f.Add("INTERACTION_CREATE", []byte(`{"type":3,"data":{"custom_id":"earshot:retry:"}}`))
	f.Fuzz(func(t *testing.T, event string, d []byte) {
		if !json.Valid(d) || upstreamCrasher(event, d) {
			return // discordgo could not read the frame at all, or fails before anything of ours runs
		}
		before := e.fake.Heartbeats()
		if err := e.fake.DispatchRaw(event, d); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for e.fake.Heartbeats() == before {
			e.fake.AskHeartbeat()
			wait := time.Now().Add(500 * time.Millisecond)
			for e.fake.Heartbeats() == before && time.Now().Before(wait) {
				time.Sleep(time.Millisecond)
			}
			if time.Now().After(deadline) {
				t.Fatalf("the gateway stopped reading after %s %s", event, d)
			}
		}
	})
}
