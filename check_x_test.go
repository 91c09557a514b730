package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

// Finding 2: `earshot check` never changes credentials. X rotates the
// refresh token on every use; check used to refresh the configured one and
// keep the new one nowhere, so the next check and run got 401. Now check
// reads the data dir's token chain without writing it and never refreshes:
// before any run it says what it could not verify; beside a live earshot
// it verifies with the saved access token; and the live process's refresh
// token still works afterwards.
func TestCheckLeavesXsRefreshTokenWorking(t *testing.T) {
	sf := careSlack(t)
	xf := xfake.New(xfake.Options{})
	t.Cleanup(xf.Close)
	ana := xf.AddUser("ana_l", "Ana Lima", 42)
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
data_dir: `+dataDir+`
queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: x, mentions: true}]
slack:
  bot_token: `+sf.Options().BotToken+`
  app_token: `+sf.Options().AppToken+`
  api_url: `+sf.APIURL()+`
x:
  api_url: `+xf.URL()+`
  client_id: earshot-client
  refresh_token: x-refresh-0
  poll_interval: 100ms
`)

	// 1. Before the first run nothing is saved: check cannot verify X
	// without a refresh, says so, and leaves the token alone.
	code, out, errOut := cli(t, "check", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "skip x: ") || !strings.Contains(out, "not verified") || !strings.Contains(out, "ok   slack") {
		t.Errorf("check before any run = %d\n%s%s", code, out, errOut)
	}
	if xf.Refreshes() != 0 || xf.RefreshToken() != "x-refresh-0" {
		t.Fatalf("check refreshed X's token (%d refreshes, now %s)", xf.Refreshes(), xf.RefreshToken())
	}

	// 2. earshot runs: it refreshes once and keeps the chain in the data dir.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, &stdout, &logs) }()
	listenAddr(t, &logs, done)
	waitFor(t, func() bool { return xf.Refreshes() == 1 && xf.MentionPolls() > 1 })

	// 3. check beside the live process: verified with the saved access
	// token, no refresh, no file written.
	before := dirState(t, dataDir)
	code, out, errOut = cli(t, "check", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "ok   x\n") {
		t.Errorf("check beside a live earshot = %d\n%s%s", code, out, errOut)
	}
	if xf.Refreshes() != 1 {
		t.Errorf("check refreshed X's token (%d refreshes)", xf.Refreshes())
	}
	if after := dirState(t, dataDir); after["connectors/x/x-token.json"] != before["connectors/x/x-token.json"] {
		t.Error("check rewrote the saved token chain")
	}

	// 4. The live process's refresh token still works: its access token
	// expires, it refreshes, and mentions keep arriving.
	xf.ExpireAccessTokens()
	waitFor(t, func() bool { return xf.Refreshes() == 2 })
	if _, err := xf.Tweet(ana.ID, "@earshot my ticket was charged twice", xfake.TweetOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, m := range sf.Messages("C1") {
			if strings.Contains(m.Text+string(m.Blocks), "charged twice") {
				return true
			}
		}
		return false
	})

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run = %d\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}

	// 5. X refuses the saved access token (expired): still no refresh.
	xf.ExpireAccessTokens()
	refreshes := xf.Refreshes()
	code, out, _ = cli(t, "check", "--config", cfg)
	if xf.Refreshes() != refreshes {
		t.Errorf("check refreshed an expired chain")
	}
	if code != exitOK || !strings.Contains(out, "skip x: ") {
		t.Errorf("check with the saved access token refused = %d\n%s", code, out)
	}
}

// dirState maps every file under dir to its content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
