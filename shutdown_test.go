package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/bridge/bridgetest"
	"github.com/earshot-dev/earshot/connectors"
)

// A signal stops Earshot in order, with the real bridge behind the
// listener: the listener stops taking connections while a webhook request
// in flight still delivers into a bridge that takes it; then the bridge
// stops intake (the network's Listen ends); then the reply that was due
// is published (run waits for it); then the journal is synced, so a new
// bridge on the data directory finds the reply sent and the late post in
// its case.
// Not parallel: it replaces the connectors every run in this package builds.
func TestShutdownOrder(t *testing.T) {
	network := bridgetest.NewNetwork("mastodon")
	desk := bridgetest.NewDesk("slack")
	customer := bridgetest.Customer("ana")
	first := bridgetest.Mention(customer, "@brand my train is late")
	first.Network = "mastodon"
	late := bridgetest.ReplyTo(customer, first, "still waiting")
	late.Network = "mastodon"

	hookStarted, hookRelease := make(chan struct{}), make(chan struct{})
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(hookStarted)
		<-hookRelease
		if err := network.Deliver(r.Context(), late); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "delivered")
	})
	// Only the connectors are stand-ins; the bridge and its commands are real.
	buildConnectorsForTest(t, &connectors.Set{
		Networks: []bridge.Network{network},
		Desks:    []bridge.Desk{desk},
		Mounts:   []connectors.Mount{{Name: "mastodon", RouteMounter: routes{"POST /hook": hook}}},
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, `listen: "127.0.0.1:0"
log: {format: json, level: info}
outbox: {undo_window: 0s}
queues: [{name: care, desk: slack, channel: C1}]
watch: [{network: mastodon, mentions: true}]
staff: [{desk: slack, user: U1, role: agent}]
slack: {bot_token: xoxb-shutdown-test}
mastodon: {server: "https://mastodon.example", access_token: masto-shutdown-test}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg, "--data", dataDir}, &stdout, &logs) }()
	addr := listenAddr(t, &logs, done)
	waitFor(t, func() bool { return network.Listening() && desk.Listening() })

	// A case, claimed, with a reply on its way that the network holds.
	if err := network.Deliver(ctx, first); err != nil {
		t.Fatal(err)
	}
	var th bridgetest.Thread
	waitFor(t, func() bool {
		for _, x := range desk.Threads() {
			if x.Card.First.ID == first.ID {
				th = x
				return true
			}
		}
		return false
	})
	agent := bridge.Staff{Desk: "slack", ID: "U1", Name: "Ana Agent"}
	if _, err := desk.Say(ctx, th.Ref, agent, "!claim"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { x, _ := desk.Thread(th.Ref.ID); return x.Card.Status == bridge.StatusClaimed })
	held := network.Hold()
	msg, err := desk.Say(ctx, th.Ref, agent, "Sorry, a signal failure; trains run again at 10:30.")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the reply was not attempted")
	}

	// A webhook request in flight when the signal comes.
	hookResult := make(chan string, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/hook", "application/json", strings.NewReader("{}"))
		if err != nil {
			hookResult <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		hookResult <- resp.Status + " " + string(b)
	}()
	<-hookStarted
	cancel() // SIGINT/SIGTERM

	// 1. The listener stops taking connections; the bridge still takes posts.
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !network.Listening() {
		t.Fatal("the bridge stopped intake while a request was still in flight")
	}
	close(hookRelease)
	if got := <-hookResult; got != "200 OK delivered" {
		t.Fatalf("the in-flight webhook request got %q", got)
	}

	// 2. Then the bridge stops intake, and waits for the reply that was due.
	waitFor(t, func() bool { return !network.Listening() })
	select {
	case code := <-done:
		t.Fatalf("run returned (%d) with a due reply still being published", code)
	default:
	}
	network.Release()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run = %d\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop:\n%s", logs.String())
	}
	if pub := network.Published(); len(pub) != 1 || !strings.HasPrefix(pub[0].Text, "Sorry, a signal failure") {
		t.Fatalf("published %+v", pub)
	}

	// 3. The journal holds all of it.
	p, err := prepareConfig(cfg, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	again, err := bridge.New(bridge.Options{Config: p.Bridge, DataDir: dataDir,
		Networks: []bridge.Network{bridgetest.NewNetwork("mastodon")}, Desks: []bridge.Desk{bridgetest.NewDesk("slack")}})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if it, ok := again.OutboxFor(msg); !ok || it.State != bridge.OutboxSent {
		t.Errorf("after the restart the reply is %+v (found %v), want sent", it, ok)
	}
	if c, ok := again.CaseOfPost("mastodon", late.ID); !ok || c.ID != th.Card.ID {
		t.Errorf("after the restart the late post is in case %q (found %v), want %s", c.ID, ok, th.Card.ID)
	}
}

// buildConnectorsForTest makes serveAll use set instead of the configured
// connectors.
func buildConnectorsForTest(t *testing.T, set *connectors.Set) {
	withConnectors(t, func(connectors.Config, bridge.Deps) (*connectors.Set, error) { return set, nil })
}
