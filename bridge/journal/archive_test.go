package journal_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/bridge/journal"
)

// exportDir exports the journal in dir.
func exportDir(t *testing.T, dir string) []byte {
	t.Helper()
	j := journal.New(journal.Options{Dir: dir})
	defer j.Close()
	var buf bytes.Buffer
	if _, err := journal.Export(&buf, func(restore, replay func(uint64, []byte) error) error {
		return j.Load(context.Background(), restore, replay)
	}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// An archive carries the snapshot and the records after it; importing it
// into an empty directory gives a journal that loads the same and goes on
// numbering after them.
func TestArchiveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, _, err := journal.Open(journal.Options{Dir: dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		j.Append(fmt.Appendf(nil, "r%d", i+1))
	}
	seq, _ := j.Rotate()
	if err := j.WriteSnapshot(seq, func(w io.Writer) error { _, err := io.WriteString(w, "snap@5"); return err }); err != nil {
		t.Fatal(err)
	}
	j.Append([]byte("r6"), []byte("r7"))
	j.Close()

	a, err := journal.ReadArchive(bytes.NewReader(exportDir(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	if a.SnapshotSeq != 5 || string(a.Snapshot) != "snap@5" || len(a.Records) != 2 || string(a.Records[1]) != "r7" {
		t.Fatalf("archive: snapshot %d %q, %d records", a.SnapshotSeq, a.Snapshot, len(a.Records))
	}
	dst := t.TempDir()
	if err := journal.Import(dst, a); err != nil {
		t.Fatal(err)
	}
	var got []string
	j2, st, err := journal.Open(journal.Options{Dir: dst}, func(seq uint64, s []byte) error {
		got = append(got, fmt.Sprintf("snap %d %s", seq, s))
		return nil
	}, func(seq uint64, r []byte) error {
		got = append(got, fmt.Sprintf("%d %s", seq, r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[snap 5 snap@5 6 r6 7 r7]"; fmt.Sprint(got) != want || st.Replayed != 2 {
		t.Fatalf("imported journal loads %v, want %s", got, want)
	}
	if seq, _ := j2.Append([]byte("r8")); seq != 8 {
		t.Fatalf("the next record after an import is %d, want 8", seq)
	}
	j2.Close()

	if err := journal.Import(dst, a); err == nil || !strings.Contains(err.Error(), "holds a journal already") {
		t.Fatalf("import over a journal: %v", err)
	}
}

// A damaged, cut-off or foreign archive is refused with what is wrong.
func TestArchiveRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	j, _, err := journal.Open(journal.Options{Dir: dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Append([]byte("one"), []byte("two"))
	j.Close()
	good := exportDir(t, dir)
	flip := bytes.Clone(good)
	flip[len(flip)-20] ^= 0xff // inside the last record
	for name, data := range map[string][]byte{
		"foreign":  []byte("hello, this is not an archive"),
		"cut off":  good[:len(good)-10],
		"no end":   good[:len(good)-16],
		"damaged":  flip,
		"trailing": append(bytes.Clone(good), 'x'),
	} {
		if _, err := journal.ReadArchive(bytes.NewReader(data)); err == nil {
			t.Errorf("%s archive accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
