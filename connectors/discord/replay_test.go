package discord_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// captured is one request the fake sent to the interactions endpoint.
type captured struct {
	body []byte
	hdr  http.Header
}

// capture sits between the fake and the desk's endpoint, keeping a copy of
// each request (a replayer on the wire sees the same).
func capture(t *testing.T, e *env) func() []captured {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{b, r.Header.Clone()})
		mu.Unlock()
		status, _, answer := replayTo(t, e, captured{b, r.Header})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	e.fake.SetInteractionsURL(srv.URL)
	return func() []captured { mu.Lock(); defer mu.Unlock(); return append([]captured(nil), got...) }
}

// replayTo sends c to the desk's endpoint as it was and returns the answer
// and how long it took.
func replayTo(t *testing.T, e *env, c captured) (int, time.Duration, []byte) {
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+discord.InteractionsPath, bytes.NewReader(c.body))
	req.Header = c.hdr.Clone()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, time.Since(start), b
}

// A replayed interaction (the same signed request, sent again inside the
// signature's window) gets the first request's response again, not the
// 503 of a 3-second wait, and the command runs once.
func TestReplayedInteractionAnsweredAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{http: true})
	requests := capture(t, e)
	in := connectortest.NewRecordingInbox()
	in.Respond = func(bridge.Invocation) bridge.Response {
		return bridge.Response{OK: true, Private: true, Text: "You claimed E-1."}
	}
	listen(t, e.desk, in)
	th, err := e.desk.OpenThread(t.Context(), e.channel, connectortest.SuiteCase("E-1"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.fake.Press(staffID, e.cardChannel(th), th.ID, "earshot:claim")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the first answer", func() bool { ia, _ := e.fake.Interaction(id); return ia.Response != 0 })
	sent := requests()
	if len(sent) != 1 {
		t.Fatalf("%d requests reached the endpoint, want 1", len(sent))
	}
	first := e.fake.Ephemerals(staffID)
	for i := range 2 {
		status, took, answer := replayTo(t, e, sent[0])
		if status != http.StatusOK || !bytes.Contains(answer, []byte("You claimed E-1.")) {
			t.Errorf("replay %d: %d %s after %v, want 200 with the first answer", i+1, status, answer, took.Round(time.Millisecond))
		}
	}
	if n := len(in.Invocations()); n != 1 {
		t.Errorf("the command ran %d times, want 1", n)
	}
	if got := e.fake.Ephemerals(staffID); len(got) != len(first) {
		t.Errorf("answers shown %d, want %d", len(got), len(first))
	}
}

// An interaction signed before the desk started listening is refused with
// 401: after a restart the desk cannot know whether it already ran it.
func TestInteractionSignedBeforeListenRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{http: true})
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	body := []byte(`{"id":"77","application_id":"2","type":2,"token":"tok77","channel_id":"` + textID + `","guild_id":"1",` +
		`"member":{"user":{"id":"` + staffID + `","username":"ana"},"roles":[]},"data":{"id":"7","name":"earshot","type":1,` +
		`"options":[{"name":"args","type":3,"value":"claim E-1"}]}}`)
	ts := strconv.FormatInt(time.Now().Add(-2*time.Minute).Unix(), 10)
	hdr := http.Header{}
	hdr.Set("X-Signature-Timestamp", ts)
	hdr.Set("X-Signature-Ed25519", discordfake.Sign(e.fake.Options().PrivateKey, ts, body))
	hdr.Set("Content-Type", "application/json")
	if status, _, answer := replayTo(t, e, captured{body, hdr}); status != http.StatusUnauthorized {
		t.Errorf("signed before Listen: %d %s, want 401", status, answer)
	}
	if n := len(in.Invocations()); n != 0 {
		t.Errorf("the command ran %d times", n)
	}
}

// An interaction carrying invalid UTF-8 (which JSON decoding would turn
// into U+FFFD) is a 400, not a command.
func TestInteractionInvalidUTF8Refused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{http: true})
	in := connectortest.NewRecordingInbox()
	listen(t, e.desk, in)
	body := []byte("{\"id\":\"78\xff\",\"application_id\":\"2\",\"type\":2,\"token\":\"t\",\"channel_id\":\"" + textID + "\"," +
		"\"member\":{\"user\":{\"id\":\"" + staffID + "\"}},\"data\":{\"name\":\"earshot\",\"type\":1}}")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hdr := http.Header{}
	hdr.Set("X-Signature-Timestamp", ts)
	hdr.Set("X-Signature-Ed25519", discordfake.Sign(e.fake.Options().PrivateKey, ts, body))
	if status, _, answer := replayTo(t, e, captured{body, hdr}); status != http.StatusBadRequest || !bytes.Contains(answer, []byte("not valid UTF-8")) {
		t.Errorf("invalid UTF-8: %d %s, want 400", status, answer)
	}
	if n := len(in.Invocations()); n != 0 {
		t.Errorf("the command ran %d times", n)
	}
}
