package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/bridge/journaltest"
	"github.com/earshot-dev/earshot/store/jetstream"
	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

var streams atomic.Int64

// testConfig is a journal on its own stream of c, with a short lease.
func testConfig(c *natstest.Cluster, stream string) jetstream.Config {
	return jetstream.Config{URL: c.URL(), Stream: stream, Replicas: min(3, c.Size()),
		LeaseTTL: 2 * time.Second, RenewEvery: 500 * time.Millisecond, Timeout: 10 * time.Second}
}

// newStream names a stream no other test uses.
func newStream() string { return fmt.Sprintf("T%d", streams.Add(1)) }

// open opens a journal with cfg; cleanup closes it.
func open(t *testing.T, cfg jetstream.Config) *jetstream.Journal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := jetstream.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// The replicated journal passes the conformance suite the file journal
// passes, on a 3-node cluster with R3.
func TestJournalSuite(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	journaltest.Run(t, func(t *testing.T) journaltest.Opener {
		cfg := testConfig(c, newStream())
		return func(t *testing.T) bridge.Journal { return open(t, cfg) }
	})
}
