package webhookfake_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/webhook/webhookfake"
)

// Wiring the webhook network to the fake site, as `earshot demo` does: the
// network's routes are mounted on Earshot's listener, the site posts there,
// and the network replies to the site's ReplyURL.
func Example() {
	site := webhookfake.New(webhookfake.Options{Source: "reviews", Secret: "demo-secret"})
	defer site.Close()
	n, err := webhook.New(webhook.Config{Secret: site.Secret(), ReplyURL: site.ReplyURL()}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	for pattern, h := range n.Routes() {
		mux.Handle(pattern, h)
	}
	earshot := httptest.NewServer(mux)
	defer earshot.Close()
	site.SetTarget(earshot.URL)

	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Listen(ctx, in) }()
	for !n.Listening() {
		time.Sleep(10 * time.Millisecond)
	}

	_, res, _ := site.Post(ctx, webhookfake.Author{ID: "u1", Handle: "ana"}, "Two weeks, no refund.", webhookfake.PostOptions{})
	p := in.Posts()[0]
	fmt.Println(res.Status, p.ID, p.Author.ID)

	ref, _ := n.Publish(ctx, bridge.Reply{InReplyTo: p.ID, InRef: p.Ref, To: p.Author, Text: "Refunded today.", IdempotencyKey: "k1"})
	r := site.Replies()[0]
	fmt.Println(ref.ID, r.InReplyTo, r.To.ID, r.Text)
	cancel()
	<-done
	// Output:
	// 200 reviews/p1 reviews/u1
	// reviews/r2 p1 u1 Refunded today.
}
