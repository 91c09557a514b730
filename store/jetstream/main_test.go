package jetstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a journal starts (flusher, lease renewal, followers)
// ends with Close, and the embedded servers stop with their cluster.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
