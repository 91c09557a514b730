// Package dirlock makes a data directory one process's own: an exclusive
// advisory lock (flock on Unix, LockFileEx on Windows) on a lock file in
// the directory, held for as long as the process runs. The journal and the
// connectors' state files (cursors, rotated tokens) all live there, and two
// writers would corrupt them: a second Earshot on the same directory gets
// an error naming the process that holds it, at once, instead of waiting.
//
// The lock belongs to the open file: the kernel drops it when the process
// exits, however it exits, so a crash never leaves a stale lock behind.
// The file's content (pid, host, start time) only explains who holds it.
package dirlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileName is the lock file inside the locked directory.
const FileName = "earshot.lock"

// Holder is who holds a lock, as its lock file tells.
type Holder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// HeldError is returned by Acquire when another process holds the lock.
type HeldError struct {
	Dir    string
	Holder Holder // zero when the lock file could not be read
}

func (e *HeldError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("data dir %s is in use by another earshot process (its lock file %s does not say which)",
			e.Dir, filepath.Join(e.Dir, FileName))
	}
	return fmt.Sprintf("data dir %s is in use by earshot pid %d on host %s (since %s); only one process may use a data dir",
		e.Dir, e.Holder.PID, e.Holder.Host, e.Holder.Since.Format(time.RFC3339))
}

// Lock is a held lock. Release it when the process stops using the directory.
type Lock struct {
	f *os.File
}

// Acquire takes the lock on dir (which must exist) without waiting, and
// writes this process's pid and host into the lock file. If another process
// holds it, the error is a *HeldError naming that process. It does file I/O.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if held {
		f.Close()
		return nil, &HeldError{Dir: dir, Holder: readHolder(path)}
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(Holder{PID: os.Getpid(), Host: host, Since: time.Now().UTC().Truncate(time.Second)})
	b = append(b, '\n')
	// Write over the old content before cutting it, so a reader never
	// finds the file empty.
	if _, err := f.WriteAt(b, 0); err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir %s: write %s: %w", dir, path, err)
	}
	return &Lock{f: f}, nil
}

// readHolder reads a lock file's content; zero when it cannot.
func readHolder(path string) Holder {
	var h Holder
	for range 3 { // the holder may be writing it this very moment
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &h) == nil && h.PID != 0 {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Holder{}
}

// Release drops the lock. The file stays (removing it would race with a
// process that just opened it). Safe to call on a nil Lock and twice.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := errors.Join(unlock(l.f), l.f.Close())
	l.f = nil
	return err
}
