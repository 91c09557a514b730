package jetstream

import (
	"context"
	"errors"
	"fmt"

	nj "github.com/nats-io/nats.go/jetstream"

	"github.com/earshot-dev/earshot/bridge/journal"
)

// Import writes a (an archive of another journal: `earshot journal
// import`) into this stream, which must hold no journal yet, while no
// Earshot process leads on it: the snapshot as an object, then the
// records in messages, each fenced like an append. It does network I/O.
func (j *Journal) Import(ctx context.Context, a *journal.Archive) error {
	cctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	info, err := j.stream.Info(cctx)
	if err == nil {
		_, err = j.kv.Get(cctx, leaseKey)
		if err == nil {
			err = errors.New("an Earshot process leads on this stream: stop every replica first")
		} else if errors.Is(err, nj.ErrKeyNotFound) || errors.Is(err, nj.ErrKeyDeleted) {
			err = nil
		}
	}
	cancel()
	if err != nil {
		return fmt.Errorf("jetstream: import into %s: %w", j.cfg.Stream, err)
	}
	snaps, err := j.snapshots(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs > 0 || len(snaps) > 0 {
		return fmt.Errorf("jetstream: import: stream %s holds a journal already (%d messages, %d snapshots); nothing was changed", j.cfg.Stream, info.State.Msgs, len(snaps))
	}
	last := info.State.LastSeq
	if len(a.Snapshot) > 0 {
		if err := j.putSnapshot(ctx, a.SnapshotSeq, last, a.Snapshot); err != nil {
			return err
		}
	}
	next := a.SnapshotSeq + 1
	for start := 0; start < len(a.Records); {
		end, size := start, 0
		var data []byte
		for end < len(a.Records) && end-start < 1024 {
			frame := journal.EncodeFrame(a.Records[end])
			if end > start && size+len(frame) > j.maxMsg {
				break
			}
			if len(frame) > j.maxMsg {
				return fmt.Errorf("jetstream: import: record %d of %d bytes is over the server's max_payload", next+uint64(end-start), len(frame))
			}
			data = append(data, frame...)
			size += len(frame)
			end++
		}
		seq, err := j.publish(next, end-start, data, last, false)
		if err != nil {
			return fmt.Errorf("jetstream: import: %w", err)
		}
		last, next, start = seq, next+uint64(end-start), end
	}
	return nil
}
