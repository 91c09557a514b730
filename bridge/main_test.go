package bridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the bridge starts ends with Run (or Close).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
