package bluesky

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"
)

// Record keys of app.bsky.feed.post are TIDs: a 64-bit integer (top bit
// zero, then 53 bits of microseconds since the Unix epoch, then a 10-bit
// clock id) written as 13 characters of base32-sortable
// (234567abcdefghijklmnopqrstuvwxyz), so the first character is one of
// 234567abcdefghij.

const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// tidEpoch and tidWindow bound the timestamps of the TIDs we derive:
// 2018-01-01 plus 2^47 µs (about four and a half years, to mid 2022).
var tidEpoch = time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

const tidWindowBits = 47

// maxKeyProbes is how many derived record keys a reply may try when other
// records already hold the earlier ones.
const maxKeyProbes = 4

// replyRecordKey is the record key of the post that publishes the reply
// whose Reply.IdempotencyKey is key, for probe 0 (the usual case) or, when
// another record already holds the key of the probe before, the next one.
// It does no I/O.
//
// It is a pure function of (key, probe), so every attempt of one reply —
// a retry after a 5xx, a retry after a crash, a staff "send again" — writes
// the same rkey, and the PDS can hold at most one post for it.
//
// The TID is well formed but its time is not the time of the post: the key
// carries no time (the outbox mints it at random) and an attempt cannot
// know when the first attempt was made without keeping state that a crash
// could lose. So the 47-bit timestamp offset and the 10-bit clock id come
// from SHA-256 of the key, and the timestamp falls between 2018 and 2022.
// That window is deliberate: it is before Bluesky opened, so no client that
// mints TIDs from its clock (the app, another tool on the same account)
// can ever pick one of our keys, and 57 bits of hash make two of our own
// replies meeting on one key unlikely; if it happens anyway (the record
// found is not ours), the next probe is tried. Bluesky orders posts by
// createdAt, which stays the real time of the attempt, not by rkey.
func replyRecordKey(key string, probe int) string {
	sum := sha256.Sum256([]byte("earshot/bluesky/rkey\x00" + key + "\x00" + strconv.Itoa(probe)))
	h := binary.BigEndian.Uint64(sum[:8])
	us := uint64(tidEpoch) + h>>(64-tidWindowBits)
	clock := uint64(binary.BigEndian.Uint16(sum[8:10])) & 0x3ff
	return encodeTID(us, clock)
}

// encodeTID writes a TID from microseconds (53 bits) and a clock id (10 bits).
func encodeTID(us, clock uint64) string {
	v := (us&(1<<53-1))<<10 | clock&0x3ff
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = tidAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// validTID reports whether s has the syntax of a TID.
func validTID(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := range len(s) {
		j := indexTID(s[i])
		if j < 0 || i == 0 && j >= 16 {
			return false
		}
	}
	return true
}

func indexTID(c byte) int {
	switch {
	case c >= '2' && c <= '7':
		return int(c - '2')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 6
	}
	return -1
}
