package bluesky

import (
	"fmt"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/bluesky/blueskyfake"
)

func TestTIDSyntax(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"3jzfcijpj2z2a", true}, // from the atproto spec
		{"7777777777777", true},
		{"3zzzzzzzzzzzz", true},
		{"2222222222222", true},
		{"jzzzzzzzzzzzz", true},  // highest first character
		{"kjzfcijpj2z2a", false}, // first character has the top bit set
		{"zzzzzzzzzzzzz", false},
		{"3jzfcijpj2z2", false},   // 12
		{"3jzfcijpj2z2aa", false}, // 14
		{"3jzfcijpj2z21", false},  // 1 is not in the alphabet
		{"3jzfcijpj2z28", false},  // nor 8
		{"3JZFCIJPJ2Z2A", false},  // lower case only
		{"3jzf-ijpj2z2a", false},
		{"", false},
		{"self", false},
	} {
		if got := validTID(c.s); got != c.want {
			t.Errorf("validTID(%q) = %v, want %v", c.s, got, c.want)
		}
		if got := blueskyfake.ValidTID(c.s); got != c.want {
			t.Errorf("the fake's ValidTID(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestEncodeTIDRoundTrip(t *testing.T) {
	at := time.Date(2024, 9, 9, 19, 46, 2, 102000000, time.UTC)
	s := encodeTID(uint64(at.UnixMicro()), 7)
	if got, ok := tidTime(s); !ok || !got.Equal(at) {
		t.Errorf("tidTime(encodeTID(%v)) = %v %v (%s)", at, got, ok, s)
	}
	if s[:2] != "3l" { // TIDs of 2024 start so
		t.Errorf("encodeTID(2024) = %s", s)
	}
}

// The record key of a reply is a valid TID, the same for the same key,
// different for another key or probe, in the window the doc promises.
func TestReplyRecordKeyIsAStableTID(t *testing.T) {
	lo, hi := time.UnixMicro(tidEpoch), time.UnixMicro(tidEpoch+1<<tidWindowBits)
	seen := map[string]string{}
	for i := range 2000 {
		key := fmt.Sprintf("earshot-%032x", i)
		for probe := range maxKeyProbes {
			rk := replyRecordKey(key, probe)
			if rk != replyRecordKey(key, probe) {
				t.Fatalf("replyRecordKey(%s, %d) is not stable", key, probe)
			}
			if !validTID(rk) || !blueskyfake.ValidTID(rk) {
				t.Fatalf("replyRecordKey(%s, %d) = %q, not a TID", key, probe, rk)
			}
			at, _ := tidTime(rk)
			if at.Before(lo) || !at.Before(hi) {
				t.Fatalf("replyRecordKey(%s, %d) = %s says %v, outside [%v, %v)", key, probe, rk, at, lo, hi)
			}
			id := fmt.Sprintf("%s#%d", key, probe)
			if other, dup := seen[rk]; dup {
				t.Fatalf("%s and %s share the record key %s", other, id, rk)
			}
			seen[rk] = id
		}
	}
}

// tidTime is the time a TID's timestamp says; ok is false when s is no TID.
func tidTime(s string) (t time.Time, ok bool) {
	if !validTID(s) {
		return time.Time{}, false
	}
	var v uint64
	for i := range len(s) {
		v = v<<5 | uint64(indexTID(s[i]))
	}
	return time.UnixMicro(int64(v >> 10)).UTC(), true
}
