package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/bridge/journal"
	"github.com/earshot-dev/earshot/store/jetstream/natstest"
)

// `earshot journal export` and `import` move a journal from a data
// directory into JetStream and back out, record for record; importing
// over an existing journal is refused with nothing changed.
func TestCLIJournalExportImport(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 1)
	src := t.TempDir()
	j, _, err := journal.Open(journal.Options{Dir: src}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := j.Append(fmt.Appendf(nil, "event %d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	fileCfg := writeConfig(t, validConfig("127.0.0.1:0"))
	natsCfg := writeConfig(t, validConfig("127.0.0.1:0")+"store: {kind: nats, url: '"+c.URL()+"', stream: MOVED, replicas: 1}\n")
	dir := t.TempDir()
	out := filepath.Join(dir, "a.archive")

	code, stdout, stderr := cli(t, "journal", "export", "--config", fileCfg, "--data", src, "--out", out)
	if code != exitOK || !strings.Contains(stdout, "50 records") {
		t.Fatalf("export = %d: %s%s", code, stdout, stderr)
	}
	code, stdout, stderr = cli(t, "journal", "import", "--config", natsCfg, "--in", out)
	if code != exitOK || !strings.Contains(stdout, "stream MOVED") {
		t.Fatalf("import into nats = %d: %s%s", code, stdout, stderr)
	}
	code, _, stderr = cli(t, "journal", "import", "--config", natsCfg, "--in", out)
	if code != exitFail || !strings.Contains(stderr, "holds a journal already") {
		t.Fatalf("a second import = %d: %s", code, stderr)
	}
	back := filepath.Join(dir, "b.archive")
	if code, stdout, stderr = cli(t, "journal", "export", "--config", natsCfg, "--out", back); code != exitOK {
		t.Fatalf("export from nats = %d: %s%s", code, stdout, stderr)
	}
	dst := filepath.Join(dir, "data")
	if code, stdout, stderr = cli(t, "journal", "import", "--config", fileCfg, "--data", dst, "--in", back); code != exitOK {
		t.Fatalf("import into a directory = %d: %s%s", code, stdout, stderr)
	}
	var got []string
	j, _, err = journal.Open(journal.Options{Dir: dst}, nil, func(seq uint64, rec []byte) error {
		got = append(got, fmt.Sprintf("%d:%s", seq, rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if len(got) != 50 || got[0] != "1:event 1" || got[49] != "50:event 50" {
		t.Fatalf("the journal came back as %d records: %v", len(got), got)
	}

	if code, _, stderr = cli(t, "journal", "export", "--config", fileCfg, "--data", filepath.Join(dir, "nothing"), "--out", filepath.Join(dir, "c")); code != exitFail || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("export of a missing directory = %d: %s", code, stderr)
	}
	if code, _, _ = cli(t, "journal", "export", "--config", fileCfg); code != exitUsage {
		t.Fatalf("export without --out = %d, want usage", code)
	}
}
