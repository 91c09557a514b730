package discord

import (
	"context"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/earshot-dev/earshot/commands"
)

// register.go makes the guild's slash commands from the staff command
// table (commands.Registry.Commands): one chat command per staff command,
// plus /earshot <verb> ... for every verb and alias, each taking its
// arguments as one text option so that the registry's own parser (quotes,
// case ids) reads them. Inside a case thread they act on its case.

// commandName is what Discord accepts as a command name.
var commandName = regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)

// SlashCommands is the guild command set for cmds. Pure.
func SlashCommands(cmds []*commands.Command) []*discordgo.ApplicationCommand {
	guildOnly := []discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	no := false
	var out []*discordgo.ApplicationCommand
	for _, c := range cmds {
		if c == nil || !commandName.MatchString(c.Name) || c.Name == umbrella {
			continue
		}
		var opts []*discordgo.ApplicationCommandOption
		if c.MaxArgs != 0 || c.Case != commands.NoCase {
			desc := "Usage: " + c.Usage
			if c.Case != commands.NoCase {
				desc += " (outside a case thread, start with the case id)"
			}
			opts = append(opts, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
				Name: argsOption, Description: cut(desc, 100), Required: c.MinArgs > 0})
		}
		out = append(out, &discordgo.ApplicationCommand{Type: discordgo.ChatApplicationCommand, Name: c.Name,
			Description: cut(sentence(c.Help), 100), Options: opts, DMPermission: &no, Contexts: &guildOnly})
	}
	out = append(out, &discordgo.ApplicationCommand{Type: discordgo.ChatApplicationCommand, Name: umbrella,
		Description: "Run any Earshot command: /earshot claim E-42, /earshot help", DMPermission: &no, Contexts: &guildOnly,
		Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionString, Name: argsOption,
			Description: "The command and its arguments, as typed after ! in a thread"}}})
	return out
}

// sentence capitalizes s's first letter.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return "An Earshot command"
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// Register overwrites the guild's commands with SlashCommands(cmds) (PUT
// /applications/{app}/guilds/{guild}/commands: guild commands apply at
// once) and returns the registered names. It does network I/O and blocks.
func (d *Desk) Register(ctx context.Context, cmds []*commands.Command) ([]string, error) {
	app, err := d.applicationID(ctx)
	if err != nil {
		return nil, fmt.Errorf("discord: register commands: %w", err)
	}
	var got []*discordgo.ApplicationCommand
	err = d.call(ctx, "commands.register", func(opts ...discordgo.RequestOption) error {
		var err error
		got, err = d.s.ApplicationCommandBulkOverwrite(app, d.cfg.GuildID, SlashCommands(cmds), opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("discord: register commands in guild %s: %w", d.cfg.GuildID, err)
	}
	names := make([]string, 0, len(got))
	for _, c := range got {
		names = append(names, "/"+c.Name)
	}
	return names, nil
}
