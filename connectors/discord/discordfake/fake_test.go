package discordfake_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// to sends discord.com requests to the fake (what a desk's transport does).
type to struct{ u *url.URL }

func (t to) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = t.u.Scheme, t.u.Host, t.u.Host
	return http.DefaultTransport.RoundTrip(r2)
}

func newFake(t *testing.T, opts discordfake.Options) (*discordfake.Fake, *discordgo.Session) {
	t.Helper()
	f, err := discordfake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	u, _ := url.Parse(f.URL())
	s, _ := discordgo.New("Bot " + f.Options().Token)
	s.Client = &http.Client{Transport: to{u}, Timeout: 10 * time.Second}
	s.ShouldRetryOnRateLimit = false
	s.ShouldReconnectOnError = false
	s.LogLevel = -1
	f.AddChannel("10", "general")
	f.AddForum("20", "cases", "bug")
	f.AddUser(discordfake.User{ID: "30", Username: "ana", GlobalName: "Ana"})
	return f, s
}

func code(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return -1
}

func TestForumsAndThreads(t *testing.T) {
	t.Parallel()
	f, s := newFake(t, discordfake.Options{})
	if _, err := s.ChannelMessageSend("20", "hello"); code(err) != 50008 {
		t.Errorf("a plain message in a forum: %v, want code 50008", err)
	}
	forum, _ := f.Channel("20")
	th, err := s.ForumThreadStartComplex("20", &discordgo.ThreadStart{Name: "post", AppliedTags: []string{forum.Tags[0].ID}},
		&discordgo.MessageSend{Content: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := f.Messages(th.ID); len(msgs) != 1 || msgs[0].ID != th.ID || msgs[0].Content != "first" {
		t.Errorf("a forum post's first message %+v, want the thread's id", msgs)
	}
	six := []string{"1", "2", "3", "4", "5", "6"}
	if _, err := s.ChannelEdit(th.ID, &discordgo.ChannelEdit{AppliedTags: &six}); code(err) != 50035 {
		t.Errorf("six tags: %v, want code 50035", err)
	}
	yes := true
	if _, err := s.ChannelEdit(th.ID, &discordgo.ChannelEdit{Archived: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChannelMessageEdit(th.ID, th.ID, "changed"); code(err) != 50083 {
		t.Errorf("an edit in an archived thread: %v, want code 50083", err)
	}
	if err := s.MessageReactionAdd(th.ID, th.ID, "✅"); code(err) != 50083 {
		t.Errorf("a reaction in an archived thread: %v, want code 50083", err)
	}
	if _, err := s.ChannelMessageSend(th.ID, "back"); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Channel(th.ID); c.Archived {
		t.Error("a message did not unarchive the thread")
	}
	if _, err := s.ChannelMessageSend(th.ID, strings.Repeat("x", 2001)); code(err) != 50035 {
		t.Errorf("2001 characters: %v, want code 50035", err)
	}
	// A thread from a message in a text channel has the message's id; the
	// message is its first as a reader sees it.
	m, _ := s.ChannelMessageSend("10", "card")
	if th, err = s.MessageThreadStart("10", m.ID, "case", 60); err != nil || th.ID != m.ID {
		t.Fatalf("thread from message: %+v, %v", th, err)
	}
	if got := f.Thread(th.ID); len(got) != 1 || got[0].Content != "card" {
		t.Errorf("thread %+v, want the card first", got)
	}
}

func TestRateLimitsAndFailures(t *testing.T) {
	t.Parallel()
	f, _ := newFake(t, discordfake.Options{})
	f.SetRateLimit("POST /channels/{id}/messages", 1, time.Minute)
	post := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/api/v9/channels/10/messages", strings.NewReader(`{"content":"x"}`))
		req.Header.Set("Authorization", "Bot "+f.Options().Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := post(); r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset-After") == "" {
		t.Errorf("first post: %d with headers %v", r.StatusCode, r.Header)
	}
	r := post()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	if r.StatusCode != 429 || body["global"] != false || body["message"] == nil || body["retry_after"].(float64) <= 0 || r.Header.Get("Retry-After") == "" {
		t.Errorf("second post: %d %v %v", r.StatusCode, body, r.Header)
	}
	if f.RateLimited() != 1 {
		t.Errorf("RateLimited = %d", f.RateLimited())
	}
	f.SetRateLimit("POST /channels/{id}/messages", 0, 0)
	f.FailNext(503, 1, 0)
	if r := post(); r.StatusCode != 503 {
		t.Errorf("FailNext: %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, f.URL()+"/api/v9/users/@me", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	f, s := newFake(t, discordfake.Options{})
	w, err := s.WebhookCreate("20", "Earshot customers", "")
	if err != nil {
		t.Fatal(err)
	}
	th, _ := s.ForumThreadStartComplex("20", &discordgo.ThreadStart{Name: "p"}, &discordgo.MessageSend{Content: "c"})
	if _, err := s.WebhookExecute(w.ID, w.Token, true, &discordgo.WebhookParams{Content: "x"}); code(err) != 220001 {
		t.Errorf("a forum webhook without thread_id: %v, want 220001", err)
	}
	if _, err := s.WebhookThreadExecute(w.ID, w.Token, true, th.ID, &discordgo.WebhookParams{Content: "x", Username: "ana@home"}); code(err) != 50035 {
		t.Errorf("a username with @: %v, want 50035", err)
	}
	m, err := s.WebhookThreadExecute(w.ID, w.Token, true, th.ID, &discordgo.WebhookParams{Content: "hi", Username: "Ana", AvatarURL: "https://a.example/a.png"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Message(th.ID, m.ID)
	if got.Username != "Ana" || got.AvatarURL != "https://a.example/a.png" || !got.Bot || got.WebhookID != w.ID {
		t.Errorf("webhook message %+v", got)
	}
	_, s2 := newFake(t, discordfake.Options{NoWebhooks: true})
	if _, err := s2.WebhookCreate("20", "x", ""); code(err) != 50013 {
		t.Errorf("without Manage Webhooks: %v, want 50013", err)
	}
}

// Interactions must be answered once, in time, before follow-ups.
func TestInteractionRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	f, s := newFake(t, discordfake.Options{Now: func() time.Time { return clock() }})
	if _, err := s.ApplicationCommandBulkOverwrite(discordfake.AppID, f.Options().GuildID, []*discordgo.ApplicationCommand{
		{Name: "claim", Description: "take the case"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Slash("30", "20", "claim", nil); err == nil {
		t.Error("a command in a forum channel was accepted")
	}
	id, err := f.Slash("30", "10", "claim", nil)
	if err != nil {
		t.Fatal(err)
	}
	ia, _ := f.Interaction(id)
	i := &discordgo.Interaction{ID: ia.ID, Token: ia.Token, AppID: discordfake.AppID}
	if _, err := s.FollowupMessageCreate(i, true, &discordgo.WebhookParams{Content: "x"}); code(err) != 10015 {
		t.Errorf("a follow-up before the answer: %v, want 10015", err)
	}
	answer := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: "yours", Flags: discordgo.MessageFlagsEphemeral}}
	if err := s.InteractionRespond(i, answer); err != nil {
		t.Fatal(err)
	}
	if err := s.InteractionRespond(i, answer); code(err) != 40060 {
		t.Errorf("a second answer: %v, want 40060", err)
	}
	if e := f.Ephemerals("30"); len(e) != 1 || e[0].Content != "yours" {
		t.Errorf("ephemerals %+v", e)
	}
	late, _ := f.Slash("30", "10", "claim", nil)
	ia, _ = f.Interaction(late)
	now = now.Add(4 * time.Second)
	if err := s.InteractionRespond(&discordgo.Interaction{ID: ia.ID, Token: ia.Token}, answer); code(err) != 10062 {
		t.Errorf("an answer after 4 s: %v, want 10062", err)
	}
	if ia, _ = f.Interaction(late); !ia.Late {
		t.Error("the late answer was not recorded")
	}
}

// Without the MESSAGE_CONTENT intent, other people's messages arrive empty.
func TestGatewayWithholdsContentWithoutIntent(t *testing.T) {
	t.Parallel()
	f, s := newFake(t, discordfake.Options{HeartbeatInterval: 100 * time.Millisecond})
	s.Identify.Intents = discordgo.IntentsGuildMessages
	s.SyncEvents = true
	got := make(chan string, 1)
	s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) { got <- m.Content })
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := f.Say("30", "10", "secret words"); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c != "" {
			t.Errorf("content %q arrived without MESSAGE_CONTENT", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no MESSAGE_CREATE")
	}
}

func TestRenderMarkdown(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`\*not bold\*`:                           "*not bold*",
		"[Original post](<https://x.example/a>)": "Original post (https://x.example/a)",
		"[label](https://x.example)":             "label (https://x.example)",
		"see <https://x.example/b>":              "see https://x.example/b",
		`\[x\](https://evil.example)`:            "[x](https://evil.example)",
		"**kept** as typed <@1>":                 "**kept** as typed <@1>",
	} {
		if got := discordfake.RenderMarkdown(in); got != want {
			t.Errorf("RenderMarkdown(%q) = %q, want %q", in, got, want)
		}
	}
}
