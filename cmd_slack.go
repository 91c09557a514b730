package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/earshot-dev/earshot/connectors/slack"
)

// cmdSlack is `earshot slack <subcommand>`.
func cmdSlack(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "Usage: earshot slack manifest --config FILE [--public-url URL]\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "manifest":
		return cmdSlackManifest(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "earshot slack: unknown subcommand %q\n%s", args[0], usage)
	return exitUsage
}

// cmdSlackManifest prints the Slack app manifest for the configured slack
// section: paste it at api.slack.com/apps → Create New App → From a manifest.
func cmdSlackManifest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("slack manifest", "slack manifest --config FILE [--public-url URL]", stderr)
	configPath := fs.String("config", "", "the YAML config `file` (required)")
	publicURL := fs.String("public-url", "", "the public `URL` of the listener (http mode only), e.g. https://earshot.example.com")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !requireConfig(fs, *configPath) {
		return exitUsage
	}
	p, err := prepareConfig(*configPath, os.LookupEnv)
	if err != nil {
		printConfigError(stderr, err, nil)
		return exitFail
	}
	if p.File.Connectors.Slack == nil {
		fmt.Fprintf(stderr, "earshot slack manifest: %s has no slack section\n", *configPath)
		return exitFail
	}
	out, err := slack.Manifest(*p.File.Connectors.Slack, *publicURL)
	if err != nil {
		fmt.Fprintln(stderr, redactString(err.Error(), p.Secrets))
		return exitFail
	}
	_, _ = stdout.Write(out)
	return exitOK
}
