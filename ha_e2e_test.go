package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

// Two `earshot run` replicas on one JetStream cluster: the first leads
// (ready, earshot_leader 1); the second is a standby (not ready, its
// webhook routes answer 503 with Retry-After and never reach the bridge).
// When the leader stops, it gives the lease up and the standby serves.
func TestRunHighAvailability(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	sf := careSlack(t)
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
store:
  kind: nats
  url: `+c.URL()+`
  stream: E2E
  replicas: 3
  lease: {ttl: 2s, renew_every: 500ms}
queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: webhook, keywords: [hello]}]
staff: [{desk: slack, user: U1, role: agent}]
slack:
  bot_token: `+sf.Options().BotToken+`
  app_token: `+sf.Options().AppToken+`
  api_url: `+sf.APIURL()+`
webhook:
  secret: a-webhook-secret-of-some-length
`)
	type replica struct {
		base   string
		cancel context.CancelFunc
		done   chan int
		exited chan struct{}
		code   int
		logs   *syncBuffer
	}
	start := func(name string) *replica {
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{cancel: cancel, done: make(chan int, 1), exited: make(chan struct{}), logs: &syncBuffer{}}
		data := filepath.Join(t.TempDir(), name)
		go func() {
			r.code = run(ctx, []string{"run", "--config", cfg, "--data", data}, io.Discard, r.logs)
			r.done <- r.code
			close(r.exited)
		}()
		r.base = "http://" + listenAddr(t, r.logs, r.done)
		t.Cleanup(func() {
			cancel()
			select {
			case <-r.exited:
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		})
		return r
	}
	get := func(r *replica, path string) (int, string) {
		resp, err := http.Get(r.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(r *replica) *http.Response {
		resp, err := http.Post(r.base+"/webhook/reviews", "application/json", strings.NewReader(`{"id":"1","text":"hello"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	longWait := func(cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal("condition not met in 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	a := start("a")
	longWait(func() bool { code, _ := get(a, "/readyz"); return code == 200 })
	b := start("b")
	longWait(func() bool { _, m := get(b, "/metrics"); return strings.Contains(m, "earshot_leader 0") })
	if _, m := get(b, "/metrics"); strings.Contains(m, "earshot_cases{") {
		t.Error("the standby exports queue depth: sums over replicas would count each case twice")
	}
	if code, _ := get(b, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("the standby's /readyz: %d, want 503", code)
	}
	if resp := post(b); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a webhook on the standby: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := post(a); resp.StatusCode == http.StatusServiceUnavailable {
		t.Fatal("the leader refused a webhook as a standby would")
	}
	if _, m := get(a, "/metrics"); !strings.Contains(m, "earshot_leader 1") || !strings.Contains(m, "earshot_journal_lag_events") || !strings.Contains(m, "earshot_cases{") {
		t.Fatalf("the leader's metrics lack earshot_leader 1 or the journal lag:\n%.1500s", m)
	}

	a.cancel()
	<-a.exited
	if code := a.code; code != exitOK {
		t.Fatalf("the leader stopped with %d:\n%s", code, a.logs.String())
	}
	longWait(func() bool { code, _ := get(b, "/readyz"); return code == 200 })
	if resp := post(b); resp.StatusCode == http.StatusServiceUnavailable {
		t.Fatal("the new leader still refuses webhooks")
	}
	if _, m := get(b, "/metrics"); !strings.Contains(m, "earshot_leader 1") || !strings.Contains(m, "earshot_failovers_total 1") {
		t.Fatalf("the new leader's metrics:\n%.1500s", m)
	}
}
