package main

import (
	"fmt"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// The config of incident mode, saved replies and publication pacing
// (deploy/earshot.example.yaml shows each key):
//
//	incidents:
//	  declare_role: agent
//	  surge: {threshold: 15, window: 10m, off: false}
//	  batch_every: 5s
//	  card_every: 3s
//	replies:
//	  - {name: sorry-delay, text: "Sorry {name}, …"}
//	outbox:
//	  pacing:
//	    - {network: mastodon, requests: 250, per: 5m}
//	queues:
//	  - …
//	    one_case_per_customer: true
//	    surge: {threshold: 30}

type incidentsConfig struct {
	DeclareRole string        `yaml:"declare_role"` // agent (default) or lead
	Surge       surgeConfig   `yaml:"surge"`
	BatchEvery  time.Duration `yaml:"batch_every"`
	CardEvery   time.Duration `yaml:"card_every"`
}

type surgeConfig struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	Off       bool          `yaml:"off"`
}

func (s surgeConfig) bridge() bridge.SurgeConfig {
	return bridge.SurgeConfig{Threshold: s.Threshold, Window: s.Window, Off: s.Off}
}

type replyConfig struct {
	Name string `yaml:"name"`
	Text string `yaml:"text"`
}

type pacingConfig struct {
	Network  string        `yaml:"network"`
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
}

// incidentSettings maps incidents:, replies: and outbox.pacing onto c,
// reporting what it cannot map with its path (the rest is left to
// bridge.Config.Validate).
func incidentSettings(fc fileConfig, c *bridge.Config) []error {
	var errs []error
	in := fc.Incidents
	c.Incidents = bridge.IncidentConfig{Surge: in.Surge.bridge(), BatchEvery: in.BatchEvery, CardEvery: in.CardEvery}
	if in.DeclareRole != "" {
		role, err := bridge.ParseRole(in.DeclareRole)
		if err != nil {
			errs = append(errs, fmt.Errorf("incidents.declare_role: %v", err))
		}
		c.Incidents.DeclareRole = role
	}
	for _, r := range fc.Replies {
		c.Replies = append(c.Replies, bridge.SavedReply{Name: r.Name, Text: r.Text})
	}
	for i, p := range fc.Outbox.Pacing {
		if p.Network == "" {
			errs = append(errs, fmt.Errorf("outbox.pacing[%d].network: required", i))
			continue
		}
		if _, dup := c.Pacing[p.Network]; dup {
			errs = append(errs, fmt.Errorf("outbox.pacing[%d].network: %q is paced twice", i, p.Network))
			continue
		}
		if p.Requests <= 0 || p.Per <= 0 {
			errs = append(errs, fmt.Errorf("outbox.pacing[%d]: requests and per must both be positive (%d per %s)", i, p.Requests, p.Per))
			continue
		}
		if c.Pacing == nil {
			c.Pacing = map[string]bridge.Budget{}
		}
		c.Pacing[p.Network] = bridge.Budget{Requests: p.Requests, Per: p.Per}
	}
	return errs
}
