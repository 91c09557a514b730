package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// cmdCheck is `earshot check`: every config problem at once (YAML syntax
// with line numbers, unknown keys, bad durations, bridge.Config.Validate
// errors with their paths, what the connectors refuse in their sections),
// then one Check per connector that reaches its platform and, per queue,
// whether its desk's bot sees the channel (skipped with --offline).
//
// check may run inside the pod of a live Earshot: it changes nothing. It
// reads the data dir's connector state without writing it (X's rotated
// token chain lives there) and never refreshes a credential that rotates;
// what it cannot verify so it prints as "skip ...: not verified".
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check --config FILE [--data DIR] [--offline] [--timeout DUR]", stderr)
	configPath := configFlag(fs)
	dataDir := fs.String("data", "", "the data `dir`ectory of the earshot whose config this is, read only (default: data_dir from the config, else ./earshot-data)")
	offline := fs.Bool("offline", false, "only validate the file; do not reach the platforms")
	timeout := fs.Duration("timeout", 20*time.Second, "time allowed for each platform check")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	p, ok := loadPrepared(*configPath, stderr)
	if !ok {
		return exitFail
	}
	if *dataDir != "" {
		p.Settings.DataDir = *dataDir
	}
	log := newLogger(stderr, "text", "warn", p.Secrets)
	set, err := buildConnectors(p.File.Connectors, bridge.Deps{Logger: log, Requests: bridge.NopObserver{}, Now: time.Now,
		DataDir: p.Settings.DataDir, ReadOnly: true})
	if err != nil {
		printConfigError(stderr, p.connectorErrors(err), p.Secrets)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: config is valid (%d queues, %d watch rules, %d routes, %d staff rules)\n",
		*configPath, len(p.Bridge.Queues), len(p.Bridge.Watch), len(p.Bridge.Routes), len(p.Bridge.Staff))
	if *offline {
		return exitOK
	}
	code := exitOK
	say := func(name string, err error) {
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "ok   %s\n", name)
		case errors.As(err, new(*bridge.Unverified)):
			fmt.Fprintf(stdout, "skip %s: %s\n", name, redactString(err.Error(), p.Secrets))
		default:
			fmt.Fprintf(stdout, "FAIL %s: %s\n", name, redactString(err.Error(), p.Secrets))
			code = exitFail
		}
	}
	failed := map[string]bool{}
	for _, c := range set.Checks {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		err := c.Check(cctx)
		cancel()
		say(c.Name, err)
		failed[c.Name] = err != nil
		if d, ok := c.Checker.(bridge.CheckDetailer); ok && err == nil {
			for _, line := range d.CheckDetails() {
				fmt.Fprintf(stdout, "     %s\n", redactString(line, p.Secrets))
			}
		}
	}
	for _, name := range set.Unchecked {
		fmt.Fprintf(stdout, "skip %s: this connector cannot be checked remotely\n", name)
	}
	desks := map[string]bridge.Desk{}
	for _, d := range set.Desks {
		desks[d.Name()] = d
	}
	for _, q := range p.Bridge.Queues {
		cc, ok := desks[q.Desk].(bridge.ChannelChecker)
		if !ok || failed[q.Desk] {
			continue // its desk's own check already said what is wrong
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		err := cc.CheckChannel(cctx, q.Channel)
		cancel()
		say(fmt.Sprintf("%s channel %s (queue %s)", q.Desk, q.Channel, q.Name), err)
	}
	return code
}

// connectorErrors locates what the connectors refused (one line per
// connector, each starting with its name) at their sections' lines.
func (p *prepared) connectorErrors(err error) error {
	var es configErrors
	for _, line := range strings.Split(err.Error(), "\n") {
		name, msg, _ := strings.Cut(line, ": ")
		es = append(es, &configError{File: p.Path, Line: p.lineOf(name), Path: name, Msg: msg})
	}
	return es.sorted()
}
