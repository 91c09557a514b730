package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// snapshotMagic starts every snapshot file.
var snapshotMagic = []byte("ESNAP001")

// snapshotHeader is magic, seq, payload length and payload checksum.
const snapshotHeader = 8 + 8 + 8 + 4

// CorruptError says where the journal is damaged beyond a torn tail.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: %s is damaged at offset %d: %s (start-up stopped so nothing is lost; restore the file from a backup or move it aside knowingly)", e.File, e.Offset, e.Reason)
}

// load reads the snapshot and segments and leaves the last segment open for
// appending.
func (j *Journal) load(restore func(uint64, []byte) error, replay func(uint64, []byte) error) (Stats, error) {
	var st Stats
	dir := j.opts.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, fmt.Errorf("journal: create %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".snap.tmp") {
				j.remove(e.Name()) // a snapshot that never finished
			}
		}
	}
	snaps, segs, err := listDir(dir)
	if err != nil {
		return st, err
	}
	var snapSeq uint64
	if len(snaps) > 0 {
		snapSeq = snaps[len(snaps)-1]
		path := filepath.Join(dir, snapshotName(snapSeq))
		payload, err := readSnapshotFile(path, snapSeq)
		if err != nil {
			return st, err
		}
		if err := restore(snapSeq, payload); err != nil {
			return st, fmt.Errorf("journal: restore %s: %w", path, err)
		}
		st.SnapshotSeq = snapSeq
	}
	if len(segs) == 0 {
		f, err := createFile(dir, segmentName(snapSeq+1))
		if err != nil {
			return st, err
		}
		j.file, j.appended, j.synced = f, snapSeq, snapSeq
		return st, nil
	}
	if segs[0] > snapSeq+1 {
		return st, &CorruptError{File: filepath.Join(dir, segmentName(segs[0])), Reason: fmt.Sprintf("records %d to %d are missing (no snapshot or segment holds them)", snapSeq+1, segs[0]-1)}
	}
	next := segs[0]
	for i, first := range segs {
		path := filepath.Join(dir, segmentName(first))
		if first != next {
			return st, &CorruptError{File: path, Reason: fmt.Sprintf("the segment starts at record %d but record %d was expected (a segment is missing)", first, next)}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return st, fmt.Errorf("journal: read %s: %w", path, err)
		}
		st.Segments++
		last := i == len(segs)-1
		off := 0
		for off < len(data) {
			payload, n, reason := frameAt(data, off, j.opts.MaxRecord)
			if reason != "" {
				if !last || validFrameAfter(data, off, j.opts.MaxRecord) {
					return st, &CorruptError{File: path, Offset: int64(off), Reason: reason}
				}
				torn := int64(len(data) - off)
				j.log.Warn("journal: cut a torn last record (the process stopped in the middle of a write)",
					"file", path, "offset", off, "bytes", torn, "reason", reason)
				if err := os.Truncate(path, int64(off)); err != nil {
					return st, fmt.Errorf("journal: cut the torn tail of %s: %w", path, err)
				}
				st.TornBytes = torn
				break
			}
			if next > snapSeq {
				if err := replay(next, payload); err != nil {
					return st, fmt.Errorf("journal: replay record %d (%s at offset %d): %w", next, path, off, err)
				}
				st.Replayed++
			}
			next++
			off += n
		}
	}
	lastPath := filepath.Join(dir, segmentName(segs[len(segs)-1]))
	f, err := os.OpenFile(lastPath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return st, fmt.Errorf("journal: open %s: %w", lastPath, err)
	}
	if st.TornBytes > 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return st, fmt.Errorf("journal: sync %s: %w", lastPath, err)
		}
	}
	seq := next - 1
	if seq < snapSeq {
		seq = snapSeq
	}
	j.file, j.appended, j.synced = f, seq, seq
	return st, nil
}

// frameAt decodes the record at off: its payload and framed size, or why
// it is not a valid record.
func frameAt(data []byte, off, maxRecord int) (payload []byte, size int, reason string) {
	rest := data[off:]
	if len(rest) < headerSize {
		return nil, 0, fmt.Sprintf("a record header needs %d bytes, %d are left", headerSize, len(rest))
	}
	n := int(binary.LittleEndian.Uint32(rest[0:4]))
	if n == 0 || n > maxRecord {
		return nil, 0, fmt.Sprintf("record length %d is not plausible", n)
	}
	if len(rest)-headerSize < n {
		return nil, 0, fmt.Sprintf("the record claims %d bytes, %d are left", n, len(rest)-headerSize)
	}
	payload = rest[headerSize : headerSize+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rest[4:8]) {
		return nil, 0, "checksum mismatch"
	}
	return payload, headerSize + n, ""
}

// validFrameAfter reports whether any valid record starts after off: then
// the damage at off is not a torn tail but a hole in the middle.
func validFrameAfter(data []byte, off, maxRecord int) bool {
	for p := off + 1; p+headerSize < len(data); p++ {
		if _, _, reason := frameAt(data, p, maxRecord); reason == "" {
			return true
		}
	}
	return false
}

// DecodeFrames splits framed records (as written to a segment) and returns
// the payloads, or a *CorruptError at the first damage. It is the decoder
// Open uses, exposed for fuzzing and tools.
func DecodeFrames(data []byte, maxRecord int) ([][]byte, error) {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	var out [][]byte
	for off := 0; off < len(data); {
		p, n, reason := frameAt(data, off, maxRecord)
		if reason != "" {
			return out, &CorruptError{File: "(frames)", Offset: int64(off), Reason: reason}
		}
		out = append(out, p)
		off += n
	}
	return out, nil
}

// EncodeFrame frames one record as Append writes it.
func EncodeFrame(rec []byte) []byte { return appendFrame(nil, rec) }

func writeSnapshotFile(f *os.File, seq uint64, payload []byte) error {
	var h [snapshotHeader]byte
	copy(h[0:8], snapshotMagic)
	binary.LittleEndian.PutUint64(h[8:16], seq)
	binary.LittleEndian.PutUint64(h[16:24], uint64(len(payload)))
	binary.LittleEndian.PutUint32(h[24:28], crc32.Checksum(payload, castagnoli))
	if _, err := f.Write(h[:]); err != nil {
		return err
	}
	if _, err := f.Write(payload); err != nil {
		return err
	}
	return f.Sync()
}

func readSnapshotFile(path string, seq uint64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	defer f.Close()
	var h [snapshotHeader]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, &CorruptError{File: path, Reason: "the snapshot header is incomplete"}
	}
	if !bytes.Equal(h[0:8], snapshotMagic) {
		return nil, &CorruptError{File: path, Reason: "not an Earshot snapshot (bad magic)"}
	}
	if got := binary.LittleEndian.Uint64(h[8:16]); got != seq {
		return nil, &CorruptError{File: path, Offset: 8, Reason: fmt.Sprintf("the snapshot says record %d, its name says %d", got, seq)}
	}
	n := binary.LittleEndian.Uint64(h[16:24])
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal: stat %s: %w", path, err)
	}
	if n != uint64(fi.Size())-snapshotHeader {
		return nil, &CorruptError{File: path, Offset: 16, Reason: fmt.Sprintf("the snapshot claims %d bytes, the file holds %d", n, fi.Size()-snapshotHeader)}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(f, payload); err != nil {
		return nil, &CorruptError{File: path, Offset: snapshotHeader, Reason: "the snapshot is shorter than its header says"}
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[24:28]) {
		return nil, &CorruptError{File: path, Offset: snapshotHeader, Reason: "snapshot checksum mismatch"}
	}
	return payload, nil
}

// IsCorrupt reports whether err is damage found by Open.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}
