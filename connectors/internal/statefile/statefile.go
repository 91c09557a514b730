// Package statefile keeps a connector's small state files in the data
// directory (stream cursors, sessions, rotated tokens, attempt ledgers).
// A file is always written whole, through a fsynced temporary file and a
// rename, then the directory is fsynced: after a crash it is the old file
// or the new one, never a torn mix. Every function here does file I/O.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with b (mode 0600), creating its directory (0700)
// when missing. It blocks until the data and the rename are on disk.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("statefile: write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("statefile: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("statefile: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable once the directory is
		d.Close()
	}
	return nil
}

// WriteJSON encodes v as JSON and writes it with Write.
func WriteJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("statefile: encode %s: %w", path, err)
	}
	return Write(path, b)
}

// ReadJSON decodes the JSON file at path into v. A missing file is no
// error (v is left as it is: a first start); one that cannot be read or
// decoded is, naming the file.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statefile: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("statefile: %s is not readable JSON: %w", path, err)
	}
	return nil
}
