package bluesky

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
)

// ourDMs is what our account sent to did.
func ourDMs(fx *fixture, did string) []blueskyfake.DM {
	var out []blueskyfake.DM
	for _, m := range fx.fake.DMs(did) {
		if m.From == fx.fake.Us().DID {
			out = append(out, m)
		}
	}
	return out
}

func dm(fx *fixture, key, text string) bridge.Reply {
	return bridge.Reply{Case: "E-1", Network: Name, Private: true, Text: text, IdempotencyKey: key,
		To: bridge.Author{ID: fx.ana.DID, Handle: fx.ana.Handle}}
}

// A DM whose answer is lost after the chat service took it (502, or no
// answer before the deadline) may have been delivered: it is MaybeSent
// and not retryable, even though the network is Idempotent, so the outbox
// never sends it a second time by itself.
func TestDMThatMayHaveGoneThroughIsNotRetryable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status int
	}{{"502", 502}, {"500", 500}, {"504", 504}, {"no answer", 0}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, Config{})
			fx.fake.LoseNext(c.status, 1)
			ctx := context.Background()
			if c.status == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			_, err := fx.net.Publish(ctx, dm(fx, "dm-lost-"+c.name, "Your refund is on its way"))
			var pe *bridge.PublishError
			if !errors.As(err, &pe) || pe.Retryable || !pe.MaybeSent {
				t.Fatalf("lost DM answer: %v (Retryable=%v MaybeSent=%v); want maybe sent, not retryable",
					err, pe != nil && pe.Retryable, pe != nil && pe.MaybeSent)
			}
			if !strings.Contains(pe.Reason, "may have been delivered") || !strings.Contains(pe.Reason, "check the conversation") {
				t.Errorf("reason %q does not tell staff to check", pe.Reason)
			}
			if n := len(ourDMs(fx, fx.ana.DID)); n != 1 {
				t.Errorf("%d DMs on the fake, want the one that went through", n)
			}
		})
	}
}

// A 503, or a failure before the request was written, sent nothing: retryable.
func TestDMRefusedBeforeSendingIsRetryable(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	fx.fake.FailNext(503, 1, 0)
	_, err := fx.net.Publish(context.Background(), dm(fx, "dm-503", "hello"))
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || !pe.Retryable || pe.MaybeSent {
		t.Fatalf("503 on sendMessage: %v; want retryable, not maybe sent", err)
	}
	if _, err := fx.net.Publish(context.Background(), dm(fx, "dm-503", "hello")); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if n := len(ourDMs(fx, fx.ana.DID)); n != 1 {
		t.Errorf("%d DMs, want 1", n)
	}
}

// A DM sent once is not sent again for the same key: the same message comes back.
func TestDMSentOnceReturnsTheSameRef(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	a, err := fx.net.Publish(context.Background(), dm(fx, "dm-once", "once"))
	if err != nil {
		t.Fatal(err)
	}
	// A new process on the same data directory (a crash after the send,
	// before the outbox journaled it) knows it too.
	n2, err := New(Config{Service: fx.fake.URL(), Jetstream: fx.fake.JetstreamURL(), Identifier: blueskyfake.OurHandle,
		AppPassword: blueskyfake.OurPassword}, bridge.Deps{DataDir: fx.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := n2.Publish(context.Background(), dm(fx, "dm-once", "once"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(ourDMs(fx, fx.ana.DID)) != 1 {
		t.Errorf("refs %+v and %+v, %d DMs; want one DM and the same ref", a, b, len(ourDMs(fx, fx.ana.DID)))
	}
}

// After a crash in the middle of a send the outbox retries the attempt on
// an Idempotent network; for a DM that retry sends nothing and reports
// maybe sent. Staff's explicit "send again" after that does send.
func TestDMAttemptInterruptedByACrashIsNotResent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{})
	// What a process that stopped during sendMessage leaves behind.
	if err := fx.net.dms.set("dm-crash", dmEntry{State: dmSending}); err != nil {
		t.Fatal(err)
	}
	n2, err := New(Config{Service: fx.fake.URL(), Jetstream: fx.fake.JetstreamURL(), Identifier: blueskyfake.OurHandle,
		AppPassword: blueskyfake.OurPassword}, bridge.Deps{DataDir: fx.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n2.Publish(context.Background(), dm(fx, "dm-crash", "are you there?"))
	var pe *bridge.PublishError
	if !errors.As(err, &pe) || pe.Retryable || !pe.MaybeSent {
		t.Fatalf("retry after a crash: %v; want maybe sent, not retryable", err)
	}
	if n := len(ourDMs(fx, fx.ana.DID)); n != 0 {
		t.Fatalf("%d DMs sent by the retry after a crash", n)
	}
	if _, err := n2.Publish(context.Background(), dm(fx, "dm-crash", "are you there?")); err != nil {
		t.Fatalf("send again: %v", err)
	}
	if n := len(ourDMs(fx, fx.ana.DID)); n != 1 {
		t.Errorf("%d DMs after send again, want 1", n)
	}
}
