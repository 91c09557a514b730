// Package natstest runs real NATS servers with JetStream inside tests: a
// cluster of nodes on 127.0.0.1 with random ports and temporary store
// directories, stopped by the test's cleanup. Nodes can be killed and
// started again on the same ports and store, to test a node failure.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is a set of JetStream-enabled nats-servers routed to each other.
type Cluster struct {
	t    testing.TB
	mu   sync.Mutex
	opts []*server.Options
	srvs []*server.Server
}

// StartCluster starts n nodes (1 for a single server, 3 for a JetStream
// cluster with a quorum) and waits until JetStream is ready. Cleanup
// shuts them down.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			// Generous limits for loopback tests; the defaults are a share
			// of the machine's memory and disk.
			JetStreamMaxMemory: 256 << 20,
			JetStreamMaxStore:  2 << 30,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "earshot-test", Host: "127.0.0.1", Port: routePorts[i]}
			for k := range n {
				if k != i {
					o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[k])})
				}
			}
		}
		c.opts = append(c.opts, o)
		c.srvs = append(c.srvs, nil)
	}
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(c.Shutdown)
	c.WaitReady()
	return c
}

// freePorts picks n free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// Start starts node i (again, after Kill) on its ports and store.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatalf("natstest: node %d: %v", i+1, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		c.t.Fatalf("natstest: node %d did not start", i+1)
	}
	c.srvs[i] = s
}

// Kill stops node i at once (its clients reconnect to the others).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.srvs[i]
	c.srvs[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.opts {
		c.Kill(i)
	}
}

// URL is the client URLs of every node, comma-separated (for nats.Connect).
func (c *Cluster) URL() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.opts) }

// WaitReady waits until the running nodes have a JetStream meta leader
// that all of them follow.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		leader, current := false, true
		for _, s := range c.srvs {
			if s == nil {
				continue
			}
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		c.mu.Unlock()
		if leader && current {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.t.Fatalf("natstest: JetStream did not become ready")
}

// Connect is a client connection to the cluster, closed by cleanup.
func (c *Cluster) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
