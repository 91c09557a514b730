// Package connectors builds the configured networks and desks. It is the one
// file that names every connector: main inlines Config into its config file
// type, so each connector's section (slack:, discord:, mastodon:, bluesky:,
// x:, webhook:) decodes straight into that connector package's own Config,
// and Build turns the present sections into bridge.Network and bridge.Desk
// values, collecting the optional RouteMounter and Checker capabilities.
//
// Nothing here does I/O: constructors only validate and prepare clients.
// Reaching the platforms happens later, in Listen, Publish and Check.
package connectors

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/bluesky"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/mastodon"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/webhook"
	"github.com/earshot-dev/earshot/connectors/x"
)

// Config holds one optional section per connector. A nil section means the
// connector is not used. Secrets inside have already been resolved by main
// (${ENV} and the sibling *_file form) before decoding.
//
// A connector not built into this version would have a section typed
// yaml.Node (never a pointer: yaml.v3 would decode into the Node's own
// fields), which Build refuses with ErrNotBuilt.
type Config struct {
	Slack    *slack.Config    `yaml:"slack"`
	Discord  *discord.Config  `yaml:"discord"`
	Mastodon *mastodon.Config `yaml:"mastodon"`
	Bluesky  *bluesky.Config  `yaml:"bluesky"`
	X        *x.Config        `yaml:"x"`
	Webhook  *webhook.Config  `yaml:"webhook"`
}

// Kind says whether a connector is a desk or a network.
type Kind string

const (
	KindDesk    Kind = "desk"
	KindNetwork Kind = "network"
)

// Section is one connector section present in the config.
type Section struct {
	Name string // "slack", "mastodon", ...
	Kind Kind
}

// Sections lists the connectors the config uses, desks first, in a fixed order.
func (c Config) Sections() []Section {
	var out []Section
	add := func(present bool, name string, k Kind) {
		if present {
			out = append(out, Section{Name: name, Kind: k})
		}
	}
	add(c.Slack != nil, "slack", KindDesk)
	add(c.Discord != nil, "discord", KindDesk)
	add(c.Mastodon != nil, "mastodon", KindNetwork)
	add(c.Bluesky != nil, "bluesky", KindNetwork)
	add(c.X != nil, "x", KindNetwork)
	add(c.Webhook != nil, "webhook", KindNetwork)
	return out
}

// Known lists every connector this build has, desks first, whether the
// config uses it or not (for hints naming what could be configured).
func Known() []Section {
	return Config{Slack: &slack.Config{}, Discord: &discord.Config{}, Mastodon: &mastodon.Config{},
		Bluesky: &bluesky.Config{}, X: &x.Config{}, Webhook: &webhook.Config{}}.Sections()
}

// Mount is one connector's HTTP routes, to be mounted on the shared listener.
type Mount struct {
	Name string
	bridge.RouteMounter
}

// Check is one connector's way of proving its config reaches its platform.
type Check struct {
	Name string
	bridge.Checker
}

// Set is what Build made from the config.
type Set struct {
	Networks []bridge.Network
	Desks    []bridge.Desk
	Mounts   []Mount // connectors that receive webhooks
	Checks   []Check // connectors that can be checked by `earshot check`
	// Unchecked names the connectors that offer no Check.
	Unchecked []string
}

// ErrNotBuilt is returned (wrapped) for a config section whose connector is
// not part of this build.
var ErrNotBuilt = errors.New("connector not built into this version of earshot")

// Build constructs every connector whose section is present. base is shared
// by all; each connector gets a logger tagged with its name and its own
// subdirectory of base.DataDir (created by the connector if it needs it).
// Every failing section is reported, each error starting with its name.
func Build(cfg Config, base bridge.Deps) (*Set, error) {
	base = base.WithDefaults()
	s := &Set{}
	var errs []error
	fail := func(name string, err error) {
		if strings.HasPrefix(err.Error(), name+":") {
			errs = append(errs, err) // already names its connector
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	for _, sec := range cfg.Sections() {
		deps := depsFor(base, sec.Name)
		// Each connector package wires in here as it lands.
		var err error
		switch sec.Name {
		case "slack":
			err = addDesk(s, sec.Name, *cfg.Slack, deps, slack.New)
		case "discord":
			err = addDesk(s, sec.Name, *cfg.Discord, deps, discord.New)
		case "mastodon":
			err = addNetwork(s, sec.Name, *cfg.Mastodon, deps, mastodon.New)
		case "bluesky":
			err = addNetwork(s, sec.Name, *cfg.Bluesky, deps, bluesky.New)
		case "x":
			err = addNetwork(s, sec.Name, *cfg.X, deps, x.New)
		case "webhook":
			err = addNetwork(s, sec.Name, *cfg.Webhook, deps, webhook.New)
		default:
			err = ErrNotBuilt
		}
		if err != nil {
			fail(sec.Name, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Strings(s.Unchecked)
	return s, nil
}

// depsFor gives one connector its own logger and data subdirectory.
// Under ReadOnly only the connectors that honour it see their directory.
func depsFor(base bridge.Deps, name string) bridge.Deps {
	d := base
	d.Logger = base.Logger.With("connector", name)
	if base.DataDir != "" && (!base.ReadOnly || honoursReadOnly[name]) {
		d.DataDir = filepath.Join(base.DataDir, "connectors", name)
	} else {
		d.DataDir = ""
	}
	return d
}

// honoursReadOnly names the connectors that read their state under
// Deps.ReadOnly and change nothing (X's rotating refresh token lives in
// its state). Any other gets no DataDir then, so it cannot change the
// live process's files; add a connector here once it honours ReadOnly.
var honoursReadOnly = map[string]bool{"x": true}

// addDesk builds a desk with its package's New and records it with its
// optional capabilities.
func addDesk[C any, D bridge.Desk](s *Set, name string, cfg C, deps bridge.Deps, newDesk func(C, bridge.Deps) (D, error)) error {
	d, err := newDesk(cfg, deps)
	if err != nil {
		return err
	}
	s.Desks = append(s.Desks, d)
	s.addCapabilities(name, d)
	return nil
}

// addNetwork builds a network with its package's New and records it with
// its optional capabilities.
func addNetwork[C any, N bridge.Network](s *Set, name string, cfg C, deps bridge.Deps, newNetwork func(C, bridge.Deps) (N, error)) error {
	n, err := newNetwork(cfg, deps)
	if err != nil {
		return err
	}
	s.Networks = append(s.Networks, n)
	s.addCapabilities(name, n)
	return nil
}

func (s *Set) addCapabilities(name string, v any) {
	if m, ok := v.(bridge.RouteMounter); ok {
		s.Mounts = append(s.Mounts, Mount{Name: name, RouteMounter: m})
	}
	if c, ok := v.(bridge.Checker); ok {
		s.Checks = append(s.Checks, Check{Name: name, Checker: c})
	} else {
		s.Unchecked = append(s.Unchecked, name)
	}
}
