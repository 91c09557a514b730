package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/bridge/journal"
	"github.com/earshot-dev/earshot/store/jetstream"
)

const journalUsage = `Usage:
  earshot journal export --config FILE [--data DIR] --out FILE   write the configured store's journal to an archive
  earshot journal import --config FILE [--data DIR] --in FILE    load an archive into the configured store (empty)

Move between the file journal and NATS JetStream (either way) without
losing history: stop Earshot, export with the old store: section, change
it, import, start. An archive is the newest snapshot and every record
after it, checksummed; "-" is standard output or input.
`

// cmdJournal is `earshot journal <subcommand>`.
func cmdJournal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return subcommands("journal", journalUsage, args, stdout, stderr, map[string]func([]string) int{
		"export": func(args []string) int { return cmdJournalMove(ctx, "export", args, stdout, stderr) },
		"import": func(args []string) int { return cmdJournalMove(ctx, "import", args, stdout, stderr) },
	})
}

// cmdJournalMove runs export or import.
func cmdJournalMove(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	flagName := map[string]string{"export": "out", "import": "in"}[verb]
	fs := newFlags("journal "+verb, "journal "+verb+" --config FILE [--data DIR] --"+flagName+" FILE", stderr)
	configPath := configFlag(fs)
	dataDir := fs.String("data", "", "the data `dir`ectory of the file journal (default: data_dir from the config)")
	path := fs.String(flagName, "", "the archive `file` (\"-\": standard "+map[string]string{"export": "output", "import": "input"}[verb]+")")
	if code, ok := parseWithConfig(fs, args, configPath); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintf(stderr, "earshot journal %s: --%s FILE is required\n", verb, flagName)
		fs.Usage()
		return exitUsage
	}
	p, ok := loadPrepared(*configPath, stderr)
	if !ok {
		return exitFail
	}
	if *dataDir != "" {
		p.Settings.DataDir = *dataDir
	}
	log := newLogger(stderr, "text", "warn", p.Secrets)
	var msg string
	var err error
	if verb == "export" {
		msg, err = exportJournal(ctx, p, *path, stdout, log)
	} else {
		msg, err = importJournal(ctx, p, *path, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "earshot journal %s: %s\n", verb, redactString(err.Error(), p.Secrets))
		return exitFail
	}
	out := stdout
	if verb == "export" && *path == "-" {
		out = stderr
	}
	fmt.Fprintln(out, msg)
	return exitOK
}

// where names the configured store for people.
func where(p *prepared) string {
	if p.File.Store.kind() == storeNATS {
		return "stream " + p.File.Store.jetstream().Stream + " on NATS"
	}
	return p.Settings.DataDir
}

// exportJournal writes the configured store's journal to path.
func exportJournal(ctx context.Context, p *prepared, path string, stdout io.Writer, log *slog.Logger) (string, error) {
	var j bridge.Journal
	if p.File.Store.kind() == storeNATS {
		nj, err := openJournal(ctx, p.File.Store, log, nil)
		if err != nil {
			return "", err
		}
		j = nj
	} else {
		_, segs, err := journalFiles(p.Settings.DataDir)
		if err != nil {
			return "", err
		}
		if segs == 0 {
			return "", fmt.Errorf("%s holds no journal", p.Settings.DataDir)
		}
		j = journal.New(journal.Options{Dir: p.Settings.DataDir, Logger: log})
	}
	defer j.Close()
	var w io.Writer = stdout
	var f *os.File
	if path != "-" {
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return "", fmt.Errorf("archive: %w", err)
		}
		w = f
	}
	var snap uint64
	n, err := journal.Export(w, func(restore func(uint64, []byte) error, replay func(uint64, []byte) error) error {
		return j.Load(ctx, func(seq uint64, s []byte) error { snap = seq; return restore(seq, s) }, replay)
	})
	if f != nil {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("exported %s: the snapshot at record %d and %d records after it", where(p), snap, n), nil
}

// importJournal loads the archive at path into the configured store.
func importJournal(ctx context.Context, p *prepared, path string, log *slog.Logger) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("archive: %w", err)
		}
		defer f.Close()
		r = f
	}
	a, err := journal.ReadArchive(r)
	if err != nil {
		return "", err
	}
	if p.File.Store.kind() == storeNATS {
		j, err := openJournal(ctx, p.File.Store, log, nil)
		if err != nil {
			return "", err
		}
		defer j.Close()
		if err := j.(*jetstream.Journal).Import(ctx, a); err != nil {
			return "", err
		}
	} else if err := journal.Import(p.Settings.DataDir, a); err != nil {
		return "", err
	}
	return fmt.Sprintf("imported into %s: the snapshot at record %d and %d records after it", where(p), a.SnapshotSeq, len(a.Records)), nil
}

// journalFiles counts the journal's snapshot and segment files in dir.
func journalFiles(dir string) (snaps, segs int, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("%s does not exist", dir)
	}
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		if m, _ := filepath.Match("snapshot-*.snap", e.Name()); m {
			snaps++
		}
		if m, _ := filepath.Match("journal-*.log", e.Name()); m {
			segs++
		}
	}
	return snaps, segs, nil
}
