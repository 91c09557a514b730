//go:build !unix && !windows

package dirlock

import (
	"errors"
	"os"
)

// tryLock refuses: without a lock two processes could share a data dir.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("locking files is not supported on this system")
}

func unlock(*os.File) error { return nil }
