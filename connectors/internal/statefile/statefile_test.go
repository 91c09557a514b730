package statefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeAndLeavesNoTemporaryFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "state.json")
	if err := Write(path, []byte("first, and longer")); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(path, map[string]int{"cursor": 7}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != `{"cursor":7}` {
		t.Fatalf("state file holds %q (err %v)", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the state file", len(entries))
	}
}

func TestWriteFailsWithThePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(blocker, "state.json"), []byte("x")) // a file where a directory should be
	if err == nil {
		t.Fatal("writing under a regular file succeeded")
	}
	if want := filepath.Join(blocker, "state.json"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	if err := WriteJSON(filepath.Join(dir, "s.json"), func() {}); err == nil {
		t.Error("a value JSON cannot encode was written")
	}
}

func TestReadJSON(t *testing.T) {
	dir := t.TempDir()
	var v struct{ N int }
	v.N = 7
	if err := ReadJSON(filepath.Join(dir, "missing.json"), &v); err != nil || v.N != 7 {
		t.Fatalf("a missing file: %v, %+v (want no error, v untouched)", err, v)
	}
	p := filepath.Join(dir, "s.json")
	if err := WriteJSON(p, map[string]int{"N": 3}); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(p, &v); err != nil || v.N != 3 {
		t.Fatalf("read back: %v, %+v", err, v)
	}
	if err := os.WriteFile(p, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(p, &v); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("a damaged file: %v (want an error naming it)", err)
	}
}
