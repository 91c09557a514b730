package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// cmdCheck is `earshot check`: every config problem at once (YAML syntax
// with line numbers, unknown keys, bad durations, bridge.Config.Validate
// errors with their paths), then one Check per connector that reaches its
// platform (skipped with --offline).
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check --config FILE [--offline] [--timeout DUR]", stderr)
	configPath := configFlag(fs)
	offline := fs.Bool("offline", false, "only validate the file; do not reach the platforms")
	timeout := fs.Duration("timeout", 20*time.Second, "time allowed for each platform check")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	p, ok := loadPrepared(*configPath, stderr)
	if !ok {
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: config is valid (%d queues, %d watch rules, %d routes, %d staff rules)\n",
		*configPath, len(p.Bridge.Queues), len(p.Bridge.Watch), len(p.Bridge.Routes), len(p.Bridge.Staff))
	if *offline {
		return exitOK
	}
	log := newLogger(stderr, "text", "warn", p.Secrets)
	set, err := buildConnectors(p.File.Connectors, bridge.Deps{Logger: log, Requests: bridge.NopObserver{}, Now: time.Now})
	if err != nil {
		fmt.Fprintln(stderr, redactString(err.Error(), p.Secrets))
		return exitFail
	}
	code := exitOK
	for _, c := range set.Checks {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		err := c.Check(cctx)
		cancel()
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %s\n", c.Name, redactString(err.Error(), p.Secrets))
			code = exitFail
			continue
		}
		fmt.Fprintf(stdout, "ok   %s\n", c.Name)
		if d, ok := c.Checker.(bridge.CheckDetailer); ok {
			for _, line := range d.CheckDetails() {
				fmt.Fprintf(stdout, "     %s\n", redactString(line, p.Secrets))
			}
		}
	}
	for _, name := range set.Unchecked {
		fmt.Fprintf(stdout, "skip %s: this connector cannot be checked remotely\n", name)
	}
	return code
}
