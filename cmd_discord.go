package main

import (
	"context"
	"fmt"
	"io"
)

// cmdDiscord is `earshot discord <subcommand>`.
func cmdDiscord(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "Usage: earshot discord register --config FILE\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "register":
		return cmdDiscordRegister(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "earshot discord: unknown subcommand %q\n%s", args[0], usage)
	return exitUsage
}

// cmdDiscordRegister registers the slash commands of the configured Discord app.
func cmdDiscordRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("discord register", "discord register --config FILE", stderr)
	configPath := fs.String("config", "", "the YAML config `file` (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !requireConfig(fs, *configPath) {
		return exitUsage
	}
	return discordRegister(ctx, *configPath, stdout, stderr)
}
