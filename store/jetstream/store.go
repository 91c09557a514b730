// Package jetstream is Earshot's replicated journal on NATS JetStream:
// several Earshot processes share one stream, one of them leads.
//
// What lives where:
//   - The journal is one stream (file storage, R3 in production) with one
//     subject. Each message is one committed group of records (group
//     commit: whatever the bridge appended while the last message was
//     being acknowledged), framed and checksummed as the file journal
//     frames them, with headers naming the first record and the count.
//     Records are numbered from 1 as in the file journal; the stream's
//     own sequence orders the messages.
//   - Snapshots are objects in an object store (<stream>_snapshots), named
//     by the record they cover, with the stream sequence it ends at.
//     Compaction purges the stream below that sequence.
//   - The leader lease is a key in a key-value bucket (<stream>_leader)
//     whose entries expire after the lease TTL. The leader renews it well
//     inside the TTL with a revision check (so only the holder renews);
//     standbys try to create it, which succeeds only once it expired or
//     was given up.
//
// Appends are fenced: every message is published with the stream
// sequence the leader last saw (Nats-Expected-Last-Sequence). A new leader
// first catches up with the stream, then publishes a fence marker; from
// then on a deposed leader's publish is refused by the stream, the
// journal fails its pending appends, and its leadership ends (the context
// Lead returned is cancelled). An append whose fate is unknown (a
// timeout) ends the leadership too: the bridge reloads from what the
// stream holds, whichever way it went.
//
// The package implements bridge.Replicated; bridge does not import it
// (main wires it from the config's store: section).
package jetstream

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	nj "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultStream   = "EARSHOT"
	DefaultReplicas = 3
	// DefaultLeaseTTL is how long a lease lives without renewal: a dead
	// leader is replaced within about this long.
	DefaultLeaseTTL = 3 * time.Second
	// DefaultTimeout bounds one request to the cluster.
	DefaultTimeout = 10 * time.Second
)

// Config says where the journal lives and how leadership is held.
type Config struct {
	// URL is the NATS server URL, or several separated by commas.
	URL string
	// Stream is the stream's name (also the prefix of the snapshot and
	// lease buckets); "" means DefaultStream.
	Stream string
	// Replicas of the stream and buckets (1, 3 or 5); 0 means 3.
	Replicas int
	// Credentials is the contents of a NATS .creds file (the user JWT
	// and NKey seed); optional.
	Credentials string
	// TLS, PEM contents: a CA bundle to trust, and a client certificate
	// and its key; optional.
	CA, Cert, Key string
	// LeaseTTL is how long the lease lives without renewal; 0 means
	// DefaultLeaseTTL. RenewEvery is how often the leader renews it (0:
	// a third of the TTL); a standby tries to take it over twice as often.
	LeaseTTL, RenewEvery time.Duration
	// Timeout bounds one request to the cluster; 0 means DefaultTimeout.
	Timeout time.Duration
	// Holder names this process in the lease and in every message it
	// appends; "" means the host name and a random suffix.
	Holder string
	// Logger receives leadership changes and warnings; nil discards.
	Logger *slog.Logger
	// Registerer receives the journal's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Conn, if set, is used instead of connecting to URL (tests); the
	// journal does not close it.
	Conn *nats.Conn
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.RenewEvery <= 0 {
		c.RenewEvery = c.LeaseTTL / 3
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "earshot"
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Holder = host + "-" + hex.EncodeToString(b[:])
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what is wrong with c, each problem naming its key.
func (c Config) Validate() []error {
	var errs []error
	if c.URL == "" && c.Conn == nil {
		errs = append(errs, errors.New("url: the NATS server URL is required (nats://host:4222; several separated by commas)"))
	}
	for _, u := range strings.Split(c.URL, ",") {
		u = strings.TrimSpace(u)
		if u != "" && !strings.Contains(u, "://") {
			errs = append(errs, fmt.Errorf("url: %q has no scheme (nats://, tls://)", u))
		}
	}
	if c.Stream != "" && !validName(c.Stream) {
		errs = append(errs, fmt.Errorf("stream: %q may hold only letters, digits, - and _", c.Stream))
	}
	switch c.Replicas {
	case 0, 1, 3, 5:
	default:
		errs = append(errs, fmt.Errorf("replicas: %d is not 1, 3 or 5 (a JetStream stream needs an odd count for a quorum)", c.Replicas))
	}
	if (c.Cert == "") != (c.Key == "") {
		errs = append(errs, errors.New("tls: cert and key go together"))
	}
	if c.Credentials != "" {
		if _, _, err := parseCreds(c.Credentials); err != nil {
			errs = append(errs, fmt.Errorf("credentials: %v", err))
		}
	}
	if _, err := c.tlsConfig(); err != nil {
		errs = append(errs, fmt.Errorf("tls: %v", err))
	}
	if c.LeaseTTL < 0 || c.RenewEvery < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("lease: durations must not be negative"))
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease.ttl: %s is under a second (the bucket's entries cannot expire that precisely)", c.LeaseTTL))
	}
	if c.LeaseTTL > 0 && c.RenewEvery > 0 && c.RenewEvery*2 > c.LeaseTTL {
		errs = append(errs, fmt.Errorf("lease.renew_every: %s is over half the TTL %s (renew well inside it)", c.RenewEvery, c.LeaseTTL))
	}
	return errs
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// connect dials the cluster with c's credentials and TLS.
func (c Config) connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("earshot " + c.Holder),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(c.Timeout),
	}
	if c.Credentials != "" {
		jwt, seed, err := parseCreds(c.Credentials)
		if err != nil {
			return nil, fmt.Errorf("jetstream: credentials: %w", err)
		}
		opts = append(opts, nats.UserJWTAndSeed(jwt, seed))
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("jetstream: tls: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: connect to %s: %w", redactURL(c.URL), err)
	}
	return nc, nil
}

// parseCreds reads a .creds file's user JWT and NKey seed.
func parseCreds(contents string) (jwt, seed string, err error) {
	jwt, err = nkeys.ParseDecoratedJWT([]byte(contents))
	if err != nil || jwt == "" {
		return "", "", errors.New("not a NATS .creds file (no user JWT)")
	}
	kp, err := nkeys.ParseDecoratedNKey([]byte(contents))
	if err != nil {
		return "", "", errors.New("not a NATS .creds file (no NKey seed)")
	}
	s, err := kp.Seed()
	if err != nil {
		return "", "", errors.New("not a NATS .creds file (no NKey seed)")
	}
	return jwt, string(s), nil
}

// tlsConfig is the TLS config from the PEM settings; nil when none is set.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.CA == "" && c.Cert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("ca: no PEM certificate in it")
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" && c.Key != "" {
		pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
		if err != nil {
			return nil, errors.New("cert and key are not a matching PEM certificate and key")
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// redactURL hides passwords and tokens in NATS URLs.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(p), "://")
		if !ok {
			continue
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = "***@" + rest[at+1:]
		}
		parts[i] = scheme + "://" + rest
	}
	return strings.Join(parts, ",")
}

// Names of what a journal keeps in the cluster.
func (c Config) subject() string        { return "earshot." + c.Stream + ".journal" }
func (c Config) snapshotBucket() string { return c.Stream + "_snapshots" }
func (c Config) leaseBucket() string    { return c.Stream + "_leader" }

// leaseKey is the one key of the lease bucket.
const leaseKey = "leader"

// ensure creates (or updates) the stream and the two buckets.
func ensure(ctx context.Context, js nj.JetStream, c Config) (nj.Stream, nj.ObjectStore, nj.KeyValue, error) {
	stream, err := js.CreateOrUpdateStream(ctx, nj.StreamConfig{
		Name:        c.Stream,
		Description: "Earshot's journal: one message per committed group of events",
		Subjects:    []string{c.subject()},
		Storage:     nj.FileStorage,
		Replicas:    c.Replicas,
		Retention:   nj.LimitsPolicy,
		Discard:     nj.DiscardNew,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jetstream: stream %s: %w", c.Stream, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, nj.ObjectStoreConfig{
		Bucket:      c.snapshotBucket(),
		Description: "Earshot's snapshots, named by the record they cover",
		Storage:     nj.FileStorage,
		Replicas:    c.Replicas,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jetstream: object store %s: %w", c.snapshotBucket(), err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, nj.KeyValueConfig{
		Bucket:      c.leaseBucket(),
		Description: "Earshot's leader lease",
		History:     1,
		TTL:         c.LeaseTTL,
		Storage:     nj.FileStorage,
		Replicas:    c.Replicas,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jetstream: lease bucket %s: %w", c.leaseBucket(), err)
	}
	return stream, obs, kv, nil
}
