package main

import (
	"strings"
	"testing"
)

// The store: section is checked offline, each problem named by its path
// and line; the file kind refuses nats settings it would ignore.
func TestStoreConfigErrors(t *testing.T) {
	for _, tc := range []struct{ store, want string }{
		{"store: {kind: nats}", "store.url: the NATS server URL is required"},
		{"store: {kind: nats, url: 'nats-0:4222'}", `store.url: "nats-0:4222" has no scheme`},
		{"store: {kind: nats, url: 'nats://n:4222', replicas: 2}", "store.replicas: 2 is not 1, 3 or 5"},
		{"store: {kind: nats, url: 'nats://n:4222', stream: 'a.b'}", `store.stream: "a.b" may hold only`},
		{"store: {kind: nats, url: 'nats://n:4222', lease: {ttl: 3s, renew_every: 2s}}", "store.lease.renew_every: 2s is over half the TTL"},
		{"store: {kind: nats, url: 'nats://n:4222', lease: {ttl: 500ms}}", "store.lease.ttl: 500ms is under a second"},
		{"store: {kind: nats, url: 'nats://n:4222', credentials_file: creds}", "store.credentials: not a NATS .creds file"},
		{"store: {kind: nats, url: 'nats://n:4222', tls: {cert_file: creds}}", "store.tls: cert and key go together"},
		{"store: {kind: nats, url: 'nats://n:4222', tls: {ca_file: creds}}", "store.tls: ca: no PEM certificate"},
		{"store: {kind: etcd}", `store.kind: "etcd" is not file or nats`},
		{"store: {url: 'nats://n:4222'}", "store: the nats settings are set but kind is file"},
	} {
		got := parseErr(t, minimalYAML+tc.store+"\n", env(), files("/cfg/creds", "not a creds file at all"))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.store, got, tc.want)
		}
		if !strings.Contains(got, "earshot.yaml:") {
			t.Errorf("%s: the error has no line: %s", tc.store, got)
		}
	}
	for _, ok := range []string{"", "store: {kind: file}", "store: {kind: nats, url: 'nats://a:4222,tls://b:4222', stream: EARSHOT, replicas: 3, lease: {ttl: 3s, renew_every: 1s}, name: earshot-0}"} {
		lc, err := parseConfig("/cfg/earshot.yaml", []byte(minimalYAML+ok+"\n"), env(), files())
		if err == nil {
			_, err = prepareLoaded(lc)
		}
		if err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}
