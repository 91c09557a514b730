package bridge

import (
	"encoding/json"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
)

// snapshotState is every table, as a snapshot file holds it.
type snapshotState struct {
	Cases   []*Case       `json:"cases"`
	Threads []*threadRow  `json:"threads"`
	Posts   []*postRow    `json:"posts"`
	Outbox  []*OutboxItem `json:"outbox"`
	Opens   []*openRow    `json:"opens,omitempty"`
	Meta    *metaRow      `json:"meta,omitempty"`
	// Incidents came with incidents; older snapshots have none.
	Incidents []*Incident `json:"incidents,omitempty"`
}

// snapshot compacts the journal: with the writer held, it starts a new
// segment and takes a read view of the state at that point; then, writers
// free again, it writes the view to a snapshot file and the journal drops
// the segments the snapshot covers. It does file I/O.
func (b *Bridge) snapshot() error {
	b.writer.Lock() // no change may slip between rotation and view
	seq, err := b.journal.Rotate()
	view := b.db.Txn(false)
	b.writer.Unlock()
	if err != nil {
		return fmt.Errorf("bridge: snapshot: %w", err)
	}
	b.sinceSnapshot.Store(0)
	return b.journal.WriteSnapshot(seq, func(out io.Writer) error { return writeSnapshot(view, out) })
}

func writeSnapshot(tx *memdb.Txn, out io.Writer) error {
	var s snapshotState
	if err := collect(tx, tableCases, &s.Cases); err != nil {
		return err
	}
	if err := collect(tx, tableThreads, &s.Threads); err != nil {
		return err
	}
	if err := collect(tx, tablePosts, &s.Posts); err != nil {
		return err
	}
	if err := collect(tx, tableOutbox, &s.Outbox); err != nil {
		return err
	}
	if err := collect(tx, tableOpens, &s.Opens); err != nil {
		return err
	}
	if err := collect(tx, tableIncidents, &s.Incidents); err != nil {
		return err
	}
	m := getMeta(tx)
	s.Meta = &m
	return json.NewEncoder(out).Encode(&s)
}

func collect[T any](tx *memdb.Txn, table string, into *[]*T) error {
	it, err := tx.Get(table, indexID)
	if err != nil {
		return fmt.Errorf("bridge: snapshot %s: %w", table, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		*into = append(*into, raw.(*T))
	}
	return nil
}

// restoreSnapshot loads a snapshot into empty tables. A null row is
// damage: refused with its place, not a panic at start.
func restoreSnapshot(tx tables, data []byte) error {
	var s snapshotState
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("bridge: decode snapshot: %w", err)
	}
	if err := restoreRows(tx, tableCases, s.Cases); err != nil {
		return err
	}
	if err := restoreRows(tx, tableThreads, s.Threads); err != nil {
		return err
	}
	if err := restoreRows(tx, tablePosts, s.Posts); err != nil {
		return err
	}
	if err := restoreRows(tx, tableOutbox, s.Outbox); err != nil {
		return err
	}
	if err := restoreRows(tx, tableOpens, s.Opens); err != nil {
		return err
	}
	if err := restoreRows(tx, tableIncidents, s.Incidents); err != nil {
		return err
	}
	if s.Meta != nil {
		return restoreRows(tx, tableMeta, []*metaRow{s.Meta})
	}
	return nil
}

func restoreRows[T any](tx tables, table string, rows []*T) error {
	for i, r := range rows {
		if r == nil {
			return fmt.Errorf("bridge: decode snapshot: %s[%d] is null", table, i)
		}
		if err := tx.insert(table, r); err != nil {
			return fmt.Errorf("bridge: restore %s: %w", table, err)
		}
	}
	return nil
}
