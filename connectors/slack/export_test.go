package slack

import "github.com/earshot-dev/earshot/connectors/internal/backoff"

// SetBackoff shortens the retry delays for a test.
func SetBackoff(d *Desk, p backoff.Policy) { d.backoff = p }

// Log messages of the retries.
const (
	MsgAuthRetry   = msgAuthRetry
	MsgSocketRetry = msgSocketRetry
)
