package journal_test

import (
	"testing"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/bridge/journal"
	"github.com/earshot-dev/earshot/bridge/journaltest"
)

// The file journal passes the journal conformance suite that the
// replicated journal passes too.
func TestJournalSuite(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journaltest.Opener {
		dir := t.TempDir()
		return func(*testing.T) bridge.Journal { return journal.New(journal.Options{Dir: dir}) }
	})
}
