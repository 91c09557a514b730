package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/commands"
	"github.com/earshot-dev/earshot/connectors/discord"
)

// cmdDiscord is `earshot discord <subcommand>`.
func cmdDiscord(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return subcommands("discord", "Usage: earshot discord register --config FILE\n", args, stdout, stderr,
		map[string]func([]string) int{
			"register": func(args []string) int { return cmdDiscordRegister(ctx, args, stdout, stderr) },
		})
}

// cmdDiscordRegister registers the slash commands of the configured Discord app.
func cmdDiscordRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("discord register", "discord register --config FILE [--timeout DUR]", stderr)
	configPath := configFlag(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the registration")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return discordRegister(cctx, *configPath, stdout, stderr)
}

// discordRegister overwrites the guild's slash commands with the staff
// command table (one bulk PUT; guild commands apply at once). It reads the
// config, does network I/O and blocks until Discord answered or ctx ended.
func discordRegister(ctx context.Context, configPath string, stdout, stderr io.Writer) int {
	p, ok := loadPrepared(configPath, stderr)
	if !ok {
		return exitFail
	}
	cfg := p.File.Connectors.Discord
	if cfg == nil {
		fmt.Fprintf(stderr, "earshot discord register: %s has no discord: section\n", configPath)
		return exitFail
	}
	log := newLogger(stderr, "text", "warn", p.Secrets)
	d, err := discord.New(*cfg, bridge.Deps{Logger: log, Requests: bridge.NopObserver{}, Now: time.Now})
	if err != nil {
		fmt.Fprintln(stderr, redactString(err.Error(), p.Secrets))
		return exitFail
	}
	cmds := commands.New(nil, commands.Options{Prefix: p.Bridge.CommandPrefix, CaseIDPrefix: p.Bridge.CaseIDPrefix, Logger: log})
	names, err := d.Register(ctx, cmds.Commands())
	if err != nil {
		fmt.Fprintln(stderr, redactString(err.Error(), p.Secrets))
		return exitFail
	}
	fmt.Fprintf(stdout, "registered %d slash commands in guild %s: %s\n", len(names), cfg.GuildID, strings.Join(names, " "))
	return exitOK
}
