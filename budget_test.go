package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// Finding 6: the process stops within its shutdown budget and exits 0,
// though at SIGTERM a reply is being published to a network that does
// not answer (the outbox is draining) and a webhook upload trickles in
// and never ends. Before, the stages ran one after another (HTTP 15 s,
// listeners 10 s, outbox 15 s, desks 5 s) and a slow upload made it exit 1.
func TestShutdownKeepsToItsBudget(t *testing.T) {
	t.Parallel()
	sf := careSlack(t)
	sf.AddUser(slackfake.User{ID: "U1", Name: "ana", DisplayName: "Ana Agent"})
	site := webhookfake.New(webhookfake.Options{Secret: "webhook-budget-secret"})
	t.Cleanup(site.Close)
	site.SetLatency(time.Hour) // the network takes the reply and never answers

	const budget = 4 * time.Second
	cfg := writeConfig(t, fmt.Sprintf(`listen: "127.0.0.1:0"
log: {format: json, level: info}
outbox: {undo_window: 0s}
shutdown_timeout: %s
queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: webhook, mentions: true}]
staff: [{desk: slack, user: U1, role: agent}]
slack:
  bot_token: %s
  app_token: %s
  api_url: %s
webhook:
  secret: webhook-budget-secret
  reply_url: %s
`, budget, sf.Options().BotToken, sf.Options().AppToken, sf.APIURL(), site.ReplyURL()))
	proc := startProcess(t, "run", "--config", cfg, "--data", filepath.Join(t.TempDir(), "data"))
	addr := proc.waitReady(t)
	site.SetTarget("http://" + addr)

	// A complaint becomes a card; the agent claims it and replies.
	if _, res, err := site.Post(context.Background(), webhookfake.Author{ID: "bo", Name: "Bo"}, "my order never came", webhookfake.PostOptions{}); err != nil || res.Status != 200 {
		t.Fatalf("post: %v %+v", err, res)
	}
	var card string
	waitFor(t, func() bool {
		for _, m := range sf.Messages("C1") {
			if m.ThreadTS == "" || m.ThreadTS == m.TS {
				card = m.TS
				return true
			}
		}
		return false
	})
	sf.Say("U1", "C1", card, "!claim")
	time.Sleep(200 * time.Millisecond) // the claim is journaled before the reply is read
	sf.Say("U1", "C1", card, "Sorry Bo, a new parcel leaves today.")
	waitFor(t, func() bool { return site.Attempts() > 0 })

	// An upload that sends its headers and a byte, then nothing more.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /webhook/reviews HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{", addr)
	time.Sleep(100 * time.Millisecond) // the request is in flight

	start := time.Now()
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := proc.wait(t, 3*budget)
	took := time.Since(start)
	t.Logf("stopped %v after SIGTERM (budget %v)", took, budget)
	if stopping, stopped := logTime(t, proc.logs.String(), "earshot stopping"), logTime(t, proc.logs.String(), "earshot stopped"); stopped.Sub(stopping) > budget {
		t.Errorf("the process took %v from its first shutdown step to its last, budget %v", stopped.Sub(stopping), budget)
	}
	if code != exitOK {
		t.Errorf("exit code %d after a shutdown within the budget\n%s", code, proc.logs)
	}
	// Signal delivery and the process's exit on a busy machine come on top.
	if took > budget+2*time.Second {
		t.Errorf("stopped %v after SIGTERM, budget %v\n%s", took, budget, proc.logs)
	}
	if !strings.Contains(proc.logs.String(), `"msg":"earshot stopped"`) {
		t.Errorf("no clean stop logged:\n%s", proc.logs)
	}
}

// logTime is the time of the JSON log line whose message is msg.
func logTime(t *testing.T, logs, msg string) time.Time {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Time
		}
	}
	t.Fatalf("no %q in the logs:\n%s", msg, logs)
	return time.Time{}
}
