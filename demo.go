package main

import (
	"context"
	"fmt"
	"io"
)

// runDemo is `earshot demo`: every fake on loopback, the real connectors
// pointed at them, and the sandbox page (issue 8).
//
// REGISTRATION POINT for the demo owner: replace this function (and this
// file) with the real demo. It receives the arguments after "demo" and
// returns the exit code; it must return when ctx ends (SIGINT/SIGTERM).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_ = ctx
	_ = args
	_ = stdout
	fmt.Fprintln(stderr, "earshot demo: the demo is not built yet (see issue 8); use `earshot run --config FILE`")
	return exitUsage
}
