package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/mastodon/mastodonfake"
)

// The production path end to end: `earshot run` with the real bridge and
// the real Slack and Mastodon connectors pointed at their fakes. A customer
// mention becomes a card in the queue's channel; /readyz and /metrics tell;
// a signal stops everything cleanly and the journal is on disk.
func TestRunEndToEnd(t *testing.T) {
	sf := careSlack(t)
	mf := mastodonfake.New(mastodonfake.Options{})
	t.Cleanup(mf.Close)
	ana := mf.AddAccount("ana", "Ana", 10)

	dataDir := filepath.Join(t.TempDir(), "data")
	t.Setenv("EARSHOT_E2E_SLACK_TOKEN", sf.Options().BotToken)
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
outbox: {undo_window: 0s}
queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: mastodon, mentions: true}]
staff: [{desk: slack, user: U1, role: agent}]
slack:
  bot_token: ${EARSHOT_E2E_SLACK_TOKEN}
  app_token: `+sf.Options().AppToken+`
  api_url: `+sf.APIURL()+`
mastodon:
  server: `+mf.URL()+`
  access_token: `+mf.Us().Token+`
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg, "--data", dataDir}, &stdout, &logs) }()
	base := "http://" + listenAddr(t, &logs, done)

	status := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, func() bool { code, _ := status("/readyz"); return code == 200 })
	waitFor(t, func() bool { return mf.Streams() > 0 })

	if _, err := mf.Post(ana.ID, "@"+mf.Us().Username+" my train is 40 minutes late", mastodonfake.PostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, m := range sf.Messages("C1") {
			if strings.Contains(m.Text+string(m.Blocks), "40 minutes late") {
				return true
			}
		}
		return false
	})
	if _, body := status("/metrics"); !strings.Contains(body, "earshot_posts_total") || !strings.Contains(body, `earshot_platform_requests_total{`) {
		t.Errorf("/metrics lacks the bridge's metrics:\n%.2000s", body)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run = %d\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop:\n%s", logs.String())
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil || len(entries) == 0 {
		t.Errorf("data dir after run: %v, %v", entries, err)
	}
	if strings.Contains(logs.String(), sf.Options().BotToken) {
		t.Errorf("bot token in logs")
	}
}
