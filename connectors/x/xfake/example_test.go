package xfake_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/x"
	"github.com/earshot-dev/earshot/connectors/x/xfake"
)

// Wiring the X network to the fake, as `earshot demo` does: the fake's URL
// is the API base, and its initial refresh token starts the token chain.
func Example() {
	fake := xfake.New(xfake.Options{KeepAlive: time.Second})
	defer fake.Close()
	ana := fake.AddUser("ana", "Ana Lima", 42)

	n, err := x.New(x.Config{
		APIURL:       fake.URL(),
		ClientID:     "earshot-client",
		RefreshToken: "x-refresh-0",
		Keywords:     []string{"delayed train"},
		PollInterval: 100 * time.Millisecond,
	}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := connectortest.NewRecordingInbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Listen(ctx, in) }()
	for !n.Connected() {
		time.Sleep(10 * time.Millisecond)
	}

	tw, _ := fake.Tweet(ana.ID, "@earshot my delayed train is still not here", xfake.TweetOptions{})
	for len(in.Posts()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	p := in.Posts()[0]
	fmt.Println(p.ID == tw.ID, p.Author.Handle, p.MentionsUs)

	ref, _ := n.Publish(ctx, bridge.Reply{InReplyTo: p.ID, To: p.Author, Text: "Sorry Ana, it is 10 minutes out.", IdempotencyKey: "k1"})
	fmt.Println(fake.Published()[0].ID == ref.ID, fake.Published()[0].InReplyTo == tw.ID)
	cancel()
	<-done
	// Output:
	// true ana true
	// true true
}
