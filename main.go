// Command earshot bridges public complaints on social networks (Mastodon,
// Bluesky, X, webhooks) into case threads in a team chat (Slack, Discord),
// and publishes the staff's answers back.
//
//	earshot run --config FILE [--data DIR]   serve in production (one process per data dir)
//	earshot check --config FILE              validate the config and reach every platform
//	earshot demo                             everything on loopback fakes, with a sandbox page
//	earshot discord register --config FILE   register Discord slash commands
//	earshot slack manifest --config FILE     print the Slack app manifest
//	earshot journal export|import ...        move the journal between stores
//	earshot healthcheck [--addr HOST:PORT]   GET /healthz (a container's HEALTHCHECK)
//	earshot version                          print the version
//
// Exit codes: 0 success, 1 failure (bad config, a platform unreachable, a
// crash), 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version string

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `earshot: public complaints on social networks become case threads in your team chat.

Usage:
  earshot run --config FILE [--data DIR]    serve (production)
  earshot check --config FILE [--offline]   validate the config and reach every platform
  earshot demo [flags]                      run everything on loopback fakes, with a sandbox page
  earshot discord register --config FILE    register Discord slash commands for the configured app
  earshot slack manifest --config FILE      print the Slack app manifest for the configured slack section
  earshot journal export|import ...         move the journal between stores (file, NATS JetStream)
  earshot healthcheck [--addr HOST:PORT]    GET /healthz on the local listener: exit 0 when it answers 200
  earshot version                           print the version
  earshot help [command]                    show help

Run "earshot <command> -h" for a command's flags.
`

// run is the whole CLI: it parses args (without the program name), runs the
// subcommand until it finishes or ctx ends, and returns the exit code. It
// never calls os.Exit, so tests run it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "discord":
		return cmdDiscord(ctx, rest, stdout, stderr)
	case "slack":
		return cmdSlack(ctx, rest, stdout, stderr)
	case "journal":
		return cmdJournal(ctx, rest, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "earshot %s (%s %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return run(ctx, []string{rest[0], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "earshot: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
}

// versionString is the stamped version, else the module version or VCS
// revision recorded by the Go toolchain, else "devel".
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "devel-" + rev + modified
	}
	return "devel"
}

// newFlags is a subcommand's flag set: errors are returned, not exited on,
// and usage goes to stderr with the command's synopsis.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("earshot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: earshot %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs; ok is false with the exit code to return
// when parsing stopped (0 after -h, 2 on a usage error).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// configFlag adds the --config flag of the commands that read a config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "the YAML config `file` (required)")
}

// parseWithConfig parses args and requires --config (path); ok is false
// with the exit code to return when the command should stop.
func parseWithConfig(fs *flag.FlagSet, args []string, path *string) (code int, ok bool) {
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if !requireConfig(fs, *path) {
		return exitUsage, false
	}
	return exitOK, true
}

// loadPrepared reads and checks the config at path (file I/O), printing
// every problem to stderr when it cannot be used.
func loadPrepared(path string, stderr io.Writer) (*prepared, bool) {
	p, err := prepareConfig(path, os.LookupEnv)
	if err != nil {
		printConfigError(stderr, err, nil)
		return nil, false
	}
	return p, true
}

// subcommands runs `earshot group <sub> ...`: one of subs, or usage.
func subcommands(group, usage string, args []string, stdout, stderr io.Writer, subs map[string]func(args []string) int) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if run, ok := subs[args[0]]; ok {
		return run(args[1:])
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "earshot %s: unknown subcommand %q\n%s", group, args[0], usage)
	return exitUsage
}

// requireConfig reports a missing --config as a usage error.
func requireConfig(fs *flag.FlagSet, path string) bool {
	if path == "" {
		fmt.Fprintf(fs.Output(), "%s: --config FILE is required\n", fs.Name())
		fs.Usage()
		return false
	}
	return true
}

// printConfigError writes a config problem list, one per line, secrets removed.
func printConfigError(stderr io.Writer, err error, secrets []string) {
	fmt.Fprintln(stderr, redactString(err.Error(), secrets))
	var es configErrors
	if errors.As(err, &es) && len(es) > 1 {
		fmt.Fprintf(stderr, "%d problems in the config\n", len(es))
	}
}
