package main

import (
	"context"
	"fmt"
	"io"

	"github.com/earshot-dev/earshot/connectors/slack"
)

// cmdSlack is `earshot slack <subcommand>`.
func cmdSlack(_ context.Context, args []string, stdout, stderr io.Writer) int {
	return subcommands("slack", "Usage: earshot slack manifest --config FILE [--public-url URL]\n", args, stdout, stderr,
		map[string]func([]string) int{
			"manifest": func(args []string) int { return cmdSlackManifest(args, stdout, stderr) },
		})
}

// cmdSlackManifest prints the Slack app manifest for the configured slack
// section: paste it at api.slack.com/apps → Create New App → From a manifest.
func cmdSlackManifest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("slack manifest", "slack manifest --config FILE [--public-url URL]", stderr)
	configPath := configFlag(fs)
	publicURL := fs.String("public-url", "", "the public `URL` of the listener (http mode only), e.g. https://earshot.example.com")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	p, ok := loadPrepared(*configPath, stderr)
	if !ok {
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
