package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// An archive moves a journal between stores (`earshot journal export`,
// `earshot journal import`): the newest snapshot and every record after
// it, as any journal's Load hands them over, in one file:
//
//	"ESARCH01" | snapshot seq uint64 LE | has snapshot byte
//	| frame(snapshot) if it has one | frame(record)... | "ESARCEND" | records uint64 LE
//
// Frames are the journal's (length, crc32c, payload); the snapshot's
// frame may be larger than a record's limit. The trailer makes a cut-off
// archive an error rather than a shorter history.

var (
	archiveMagic = []byte("ESARCH01")
	archiveEnd   = []byte("ESARCEND")
)

// maxArchiveFrame bounds one frame of an archive (a snapshot).
const maxArchiveFrame = 1 << 31

// Archive is a journal's content: the snapshot at SnapshotSeq (nil: none)
// and the records after it, SnapshotSeq+1 onwards.
type Archive struct {
	SnapshotSeq uint64
	Snapshot    []byte
	Records     [][]byte
}

// Export writes an archive of what load hands over (a journal's Load:
// the snapshot first, then every later record in order) to w. It returns
// how many records it wrote.
func Export(w io.Writer, load func(restore func(seq uint64, snap []byte) error, replay func(seq uint64, rec []byte) error) error) (int, error) {
	bw := bufio.NewWriter(w)
	var snapSeq, next uint64 = 0, 1
	var snap []byte
	started := false
	start := func() error {
		if started {
			return nil
		}
		started = true
		var h [17]byte
		copy(h[:8], archiveMagic)
		binary.LittleEndian.PutUint64(h[8:16], snapSeq)
		if snap != nil {
			h[16] = 1
		}
		if _, err := bw.Write(h[:]); err != nil {
			return err
		}
		if snap != nil {
			_, err := bw.Write(appendFrame(nil, snap))
			return err
		}
		return nil
	}
	n := 0
	err := load(func(seq uint64, s []byte) error {
		if started {
			return errors.New("journal: export: a snapshot after records")
		}
		snapSeq, snap, next = seq, bytes.Clone(s), seq+1
		return nil
	}, func(seq uint64, rec []byte) error {
		if err := start(); err != nil {
			return err
		}
		if seq != next {
			return fmt.Errorf("journal: export: record %d came where %d was expected", seq, next)
		}
		next++
		n++
		_, err := bw.Write(appendFrame(nil, rec))
		return err
	})
	if err == nil {
		err = start()
	}
	if err != nil {
		return n, fmt.Errorf("journal: export: %w", err)
	}
	var t [16]byte
	copy(t[:8], archiveEnd)
	binary.LittleEndian.PutUint64(t[8:], uint64(n))
	if _, err := bw.Write(t[:]); err != nil {
		return n, fmt.Errorf("journal: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("journal: export: %w", err)
	}
	return n, nil
}

// ReadArchive reads an archive written by Export, checking every frame's
// checksum and the trailer.
func ReadArchive(r io.Reader) (*Archive, error) {
	br := bufio.NewReader(r)
	var h [17]byte
	if _, err := io.ReadFull(br, h[:]); err != nil || !bytes.Equal(h[:8], archiveMagic) {
		return nil, errors.New("journal: not an Earshot journal archive (bad header)")
	}
	a := &Archive{SnapshotSeq: binary.LittleEndian.Uint64(h[8:16])}
	if h[16] == 1 {
		snap, err := readFrame(br)
		if err != nil {
			return nil, fmt.Errorf("journal: archive snapshot: %w", err)
		}
		a.Snapshot = snap
	}
	for {
		peek, err := br.Peek(8)
		if err != nil {
			return nil, errors.New("journal: the archive is cut off (no trailer): export it again")
		}
		if bytes.Equal(peek, archiveEnd) {
			var t [16]byte
			if _, err := io.ReadFull(br, t[:]); err != nil {
				return nil, errors.New("journal: the archive's trailer is cut off")
			}
			if n := binary.LittleEndian.Uint64(t[8:]); n != uint64(len(a.Records)) {
				return nil, fmt.Errorf("journal: the archive says %d records and holds %d", n, len(a.Records))
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return nil, errors.New("journal: data after the archive's trailer")
			}
			return a, nil
		}
		rec, err := readFrame(br)
		if err != nil {
			return nil, fmt.Errorf("journal: archive record %d: %w", a.SnapshotSeq+uint64(len(a.Records))+1, err)
		}
		a.Records = append(a.Records, rec)
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, errors.New("cut off")
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n == 0 || n > maxArchiveFrame {
		return nil, fmt.Errorf("length %d is not plausible", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, errors.New("cut off")
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
		return nil, errors.New("checksum mismatch")
	}
	return p, nil
}

// Import writes a into the empty journal directory dir (created if
// missing): its snapshot as the directory's snapshot and its records as
// the first segment after it, fsynced. A directory that holds a journal
// already is refused: nothing is overwritten.
func Import(dir string, a *Archive) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("journal: import: %w", err)
	}
	snaps, segs, err := listDir(dir)
	if err != nil {
		return err
	}
	if len(snaps) > 0 || len(segs) > 0 {
		return fmt.Errorf("journal: import: %s holds a journal already (move it aside first; nothing was changed)", dir)
	}
	if len(a.Snapshot) > 0 {
		name := snapshotName(a.SnapshotSeq)
		tmp := filepath.Join(dir, name+".tmp")
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("journal: import: %w", err)
		}
		err = writeSnapshotFile(f, a.SnapshotSeq, a.Snapshot)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, filepath.Join(dir, name))
		}
		if err != nil {
			os.Remove(tmp)
			return fmt.Errorf("journal: import: %w", err)
		}
	}
	f, err := createFile(dir, segmentName(a.SnapshotSeq+1))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, rec := range a.Records {
		if len(rec) > DefaultMaxRecord {
			f.Close()
			return fmt.Errorf("journal: import: a record of %d bytes is over the limit", len(rec))
		}
		if _, err := w.Write(appendFrame(nil, rec)); err != nil {
			f.Close()
			return fmt.Errorf("journal: import: %w", err)
		}
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("journal: import: %w", err)
	}
	return nil
}
