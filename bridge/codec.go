package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The journal's event codec: a compact binary form, written and read by
// hand (no reflection), because encoding and decoding JSON was a third of
// the cost of replay and a tenth of ingest.
//
// A record is
//
//	format byte (eventFormatV1) | type code uvarint | field bitmap uvarint | At | fields
//
// The type code comes from eventCodes; the bitmap says which of the
// optional fields follow, in the order of the field* constants. Strings
// are a uvarint length and the bytes; ints are zig-zag varints; uint64s
// uvarints; a time is a tag (zero, UTC, or with its zone offset) then
// Unix seconds, nanoseconds and the offset. Nested values (Post, Staff,
// ...) are their fields in declaration order. The journal frames each
// record with its length and checksum, so the codec needs neither.
//
// The format byte lets a later build change the layout: it writes a new
// number and reads both. A record in an unknown format is refused with an
// error that says so, never guessed at.

// eventFormatV1 is the first byte of every record this build writes.
const eventFormatV1 = 1

// eventCodes numbers the event types in the journal. The numbers are on
// disk: never reuse or renumber one, only append.
var eventCodes = [...]EventType{
	1:  EvOpened,
	2:  EvFollowUp,
	3:  EvClaimed,
	4:  EvReleased,
	5:  EvAssigned,
	6:  EvEscalated,
	7:  EvResolved,
	8:  EvReopened,
	9:  EvPrivate,
	10: EvPriority,
	11: EvTagged,
	12: EvSnoozed,
	13: EvBreached,
	14: EvThread,
	15: EvSynced,
	16: EvQueued,
	17: EvEdited,
	18: EvCancelled,
	19: EvAttempt,
	20: EvSent,
	21: EvRetrying,
	22: EvFailed,
	23: EvUncertain,
	24: EvRequeued,
	25: EvMarked,
	26: EvPruned,
	27: EvRefused,
	28: EvOpening,
	29: EvIncSuggested,
	30: EvIncDeclared,
	31: EvIncDismissed,
	32: EvIncLinked,
	33: EvIncUnlinked,
	34: EvIncOwned,
	35: EvIncAck,
	36: EvIncEdited,
	37: EvIncWithdrawn,
	38: EvIncReleased,
	39: EvIncUpdated,
	40: EvIncResolved,
	41: EvIncLate,
	42: EvIncTerms,
	43: EvIncPublic,
	44: EvIncThread,
}

// eventCode is the journal number of each event type.
var eventCode = func() map[EventType]uint64 {
	m := make(map[EventType]uint64, len(eventCodes))
	for i, t := range eventCodes {
		if t != "" {
			m[t] = uint64(i)
		}
	}
	return m
}()

// The optional fields of Event, as bits of the field bitmap. On disk:
// never renumber, only add.
const (
	fieldCase = 1 << iota
	fieldPost
	fieldStaff
	fieldTo
	fieldText
	fieldTeam
	fieldQueue
	fieldFlag
	fieldNum
	fieldTags
	fieldRemove
	fieldPrevious
	fieldUntil
	fieldThread
	fieldVersion
	fieldItem
	fieldID
	fieldRef
	fieldState
	fieldIncident
	// fieldItemIncident: the Item's Incident and Purpose follow (after
	// every other field), so records written before items had them still
	// read.
	fieldItemIncident
	fieldCommand

	fieldsKnown = fieldCommand<<1 - 1
)

// Post flags, one byte.
const (
	postMentionsUs = 1 << iota
	postReplyToUs
	postDirect
	postFromUs

	postFlagsKnown = postFromUs<<1 - 1
)

// Time tags.
const (
	timeZero   = 0 // the zero time.Time
	timeUTC    = 1 // seconds, nanoseconds; in UTC
	timeOffset = 2 // seconds, nanoseconds, zone offset in seconds
)

// encodeEvent is the journal record of ev.
func encodeEvent(ev Event) ([]byte, error) { return appendEvent(nil, ev) }

// appendEvent appends the journal record of ev to b.
func appendEvent(b []byte, ev Event) ([]byte, error) {
	code, ok := eventCode[ev.Type]
	if !ok {
		return b, fmt.Errorf("bridge: encode event: unknown type %q", ev.Type)
	}
	var set uint64
	mark := func(bit uint64, present bool) {
		if present {
			set |= bit
		}
	}
	mark(fieldCase, ev.Case != "")
	mark(fieldPost, ev.Post != nil)
	mark(fieldStaff, ev.Staff != nil)
	mark(fieldTo, ev.To != nil)
	mark(fieldText, ev.Text != "")
	mark(fieldTeam, ev.Team != "")
	mark(fieldQueue, ev.Queue != "")
	mark(fieldFlag, ev.Flag)
	mark(fieldNum, ev.Num != 0)
	mark(fieldTags, len(ev.Tags) > 0)
	mark(fieldRemove, len(ev.Remove) > 0)
	mark(fieldPrevious, len(ev.Previous) > 0)
	mark(fieldUntil, !isZeroUTC(ev.Until))
	mark(fieldThread, ev.Thread != nil)
	mark(fieldVersion, ev.Version != 0)
	mark(fieldItem, ev.Item != nil)
	mark(fieldID, ev.ID != "")
	mark(fieldRef, ev.Ref != nil)
	mark(fieldState, ev.State != "")
	mark(fieldIncident, ev.Incident != "")
	mark(fieldItemIncident, ev.Item != nil && (ev.Item.Incident != "" || ev.Item.Purpose != ""))
	mark(fieldCommand, ev.Command != "")

	b = append(b, eventFormatV1)
	b = binary.AppendUvarint(b, code)
	b = binary.AppendUvarint(b, set)
	b = appendTime(b, ev.At)
	if set&fieldCase != 0 {
		b = appendString(b, string(ev.Case))
	}
	if set&fieldPost != 0 {
		b = appendPost(b, ev.Post)
	}
	if set&fieldStaff != 0 {
		b = appendStaff(b, ev.Staff)
	}
	if set&fieldTo != 0 {
		b = appendStaff(b, ev.To)
	}
	if set&fieldText != 0 {
		b = appendString(b, ev.Text)
	}
	if set&fieldTeam != 0 {
		b = appendString(b, ev.Team)
	}
	if set&fieldQueue != 0 {
		b = appendString(b, ev.Queue)
	}
	if set&fieldNum != 0 {
		b = binary.AppendVarint(b, int64(ev.Num))
	}
	if set&fieldTags != 0 {
		b = appendStrings(b, ev.Tags)
	}
	if set&fieldRemove != 0 {
		b = appendStrings(b, ev.Remove)
	}
	if set&fieldPrevious != 0 {
		b = binary.AppendUvarint(b, uint64(len(ev.Previous)))
		for _, id := range ev.Previous {
			b = appendString(b, string(id))
		}
	}
	if set&fieldUntil != 0 {
		b = appendTime(b, ev.Until)
	}
	if set&fieldThread != 0 {
		b = appendThreadRef(b, ev.Thread)
	}
	if set&fieldVersion != 0 {
		b = binary.AppendUvarint(b, ev.Version)
	}
	if set&fieldItem != 0 {
		b = appendItem(b, ev.Item)
	}
	if set&fieldID != 0 {
		b = appendString(b, ev.ID)
	}
	if set&fieldRef != 0 {
		b = appendPostRef(b, ev.Ref)
	}
	if set&fieldState != 0 {
		b = appendString(b, string(ev.State))
	}
	if set&fieldIncident != 0 {
		b = appendString(b, string(ev.Incident))
	}
	if set&fieldItemIncident != 0 {
		b = appendString(b, string(ev.Item.Incident))
		b = appendString(b, ev.Item.Purpose)
	}
	if set&fieldCommand != 0 {
		b = appendString(b, ev.Command)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// isZeroUTC reports whether t is the zero time.Time (as JSON would give it back).
func isZeroUTC(t time.Time) bool {
	_, off := t.Zone()
	return t.IsZero() && off == 0
}

// appendTime keeps the instant and the zone offset (not the zone's name
// nor the monotonic reading): what the JSON form kept.
func appendTime(b []byte, t time.Time) []byte {
	if isZeroUTC(t) {
		return append(b, timeZero)
	}
	_, off := t.Zone()
	if off == 0 {
		b = append(b, timeUTC)
	} else {
		b = append(b, timeOffset)
	}
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	if off != 0 {
		b = binary.AppendVarint(b, int64(off))
	}
	return b
}

func appendPost(b []byte, p *Post) []byte {
	b = appendString(b, p.Network)
	b = appendString(b, p.ID)
	b = appendAuthor(b, &p.Author)
	b = appendString(b, p.Text)
	b = appendString(b, p.URL)
	b = appendString(b, p.InReplyTo)
	b = appendString(b, p.Conversation)
	b = appendString(b, p.Lang)
	b = appendTime(b, p.CreatedAt)
	var flags byte
	if p.MentionsUs {
		flags |= postMentionsUs
	}
	if p.ReplyToUs {
		flags |= postReplyToUs
	}
	if p.Direct {
		flags |= postDirect
	}
	if p.FromUs {
		flags |= postFromUs
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(p.Ref)))
	if len(p.Ref) > 0 {
		keys := make([]string, 0, len(p.Ref))
		for k := range p.Ref {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the same post, the same bytes
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, p.Ref[k])
		}
	}
	return b
}

func appendAuthor(b []byte, a *Author) []byte {
	b = appendString(b, a.ID)
	b = appendString(b, a.Handle)
	b = appendString(b, a.Name)
	b = appendString(b, a.URL)
	b = appendString(b, a.Avatar)
	return binary.AppendVarint(b, int64(a.Followers))
}

func appendStaff(b []byte, s *Staff) []byte {
	b = appendString(b, s.Desk)
	b = appendString(b, s.ID)
	b = appendString(b, s.Name)
	return appendStrings(b, s.Groups)
}

func appendThreadRef(b []byte, t *ThreadRef) []byte {
	b = appendString(b, t.Desk)
	b = appendString(b, t.Channel)
	return appendString(b, t.ID)
}

func appendPostRef(b []byte, r *PostRef) []byte {
	b = appendString(b, r.Network)
	b = appendString(b, r.ID)
	return appendString(b, r.URL)
}

func appendMessageRef(b []byte, m *MessageRef) []byte {
	b = appendString(b, m.Desk)
	b = appendString(b, m.Channel)
	b = appendString(b, m.Thread)
	b = appendString(b, m.ID)
	return appendString(b, m.Author)
}

func appendItem(b []byte, it *OutboxItem) []byte {
	b = appendString(b, it.ID)
	b = binary.AppendUvarint(b, it.Seq)
	b = appendString(b, string(it.Case))
	b = appendString(b, it.Network)
	b = appendStaff(b, &it.Staff)
	b = appendMessageRef(b, &it.Message)
	b = appendThreadRef(b, &it.Thread)
	b = appendString(b, it.Text)
	b = appendBool(b, it.Private)
	b = appendString(b, it.Command)
	b = appendString(b, it.Key)
	b = appendString(b, string(it.State))
	b = appendTime(b, it.Due)
	b = binary.AppendVarint(b, int64(it.Attempts))
	b = appendString(b, it.Reason)
	b = appendPostRef(b, &it.Sent)
	b = appendString(b, string(it.Marked))
	return appendTime(b, it.CreatedAt)
}

// ---- decoding ----

// errShort is a field running past the end of the record.
var errShort = errors.New("the record ends in the middle of a field")

// decodeEvent reads a journal record. A record in a format this build
// does not know, or one that does not parse, is an error: replay stops
// there rather than guess.
func decodeEvent(rec []byte) (Event, error) {
	var ev Event
	if len(rec) == 0 {
		return ev, errors.New("bridge: decode event: empty record")
	}
	switch rec[0] {
	case eventFormatV1:
	case '{':
		return ev, errors.New("bridge: decode event: a JSON record, written by an earlier build of Earshot; this build reads binary records (format 1) only")
	default:
		return ev, fmt.Errorf("bridge: decode event: unknown record format %d (this build reads format %d; was the journal written by a newer Earshot?)", rec[0], eventFormatV1)
	}
	// One string holds every text of the event: one allocation, and the
	// fields are slices of it.
	d := decoder{s: string(rec[1:])}
	ev, err := d.event()
	if err == nil && d.off != len(d.s) {
		err = fmt.Errorf("%d bytes left over after the event", len(d.s)-d.off)
	}
	if err != nil {
		return Event{}, fmt.Errorf("bridge: decode event (at byte %d): %w", d.off+1, err)
	}
	return ev, nil
}

// decoder reads a record; the first error sticks and later reads give
// zero values, so callers check once at the end.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if d.off >= len(d.s) {
			d.fail(errShort)
			return 0
		}
		c := d.s[d.off]
		d.off++
		if shift == 63 && c > 1 {
			d.fail(errors.New("a number overflows 64 bits"))
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// int reads a varint that must fit an int.
func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt || v > math.MaxInt {
		d.fail(fmt.Errorf("number %d does not fit an int", v))
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.s) {
		d.fail(errShort)
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errors.New("a boolean is neither 0 nor 1"))
	return false
}

// count reads a length and checks that the record can hold that many
// items of at least min bytes each (so damage cannot ask for a huge allocation).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.s)-d.off)/uint64(min) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

// strings reads a list of strings; an empty list is nil (as JSON's omitempty gave).
func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *decoder) time() time.Time {
	switch tag := d.byte(); tag {
	case timeZero:
		return time.Time{}
	case timeUTC, timeOffset:
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.fail(fmt.Errorf("%d nanoseconds is not below a second", nsec))
			return time.Time{}
		}
		t := time.Unix(sec, int64(nsec))
		if tag == timeUTC {
			return t.UTC()
		}
		off := d.varint()
		if off == 0 || off <= -24*3600 || off >= 24*3600 {
			d.fail(fmt.Errorf("zone offset %ds is not plausible", off))
			return time.Time{}
		}
		// As time.Parse does: the local zone when its offset matches, else a fixed one.
		if _, local := t.Zone(); int64(local) == off {
			return t
		}
		return t.In(time.FixedZone("", int(off)))
	default:
		d.fail(fmt.Errorf("unknown time tag %d", tag))
		return time.Time{}
	}
}

func (d *decoder) event() (Event, error) {
	var ev Event
	code := d.uvarint()
	set := d.uvarint()
	if d.err != nil {
		return ev, d.err
	}
	if code == 0 || code >= uint64(len(eventCodes)) || eventCodes[code] == "" {
		return ev, fmt.Errorf("unknown event type %d", code)
	}
	if set&^fieldsKnown != 0 {
		return ev, fmt.Errorf("unknown fields (bitmap %#x)", set)
	}
	ev.Type = eventCodes[code]
	ev.At = d.time()
	if set&fieldCase != 0 {
		ev.Case = CaseID(d.string())
	}
	if set&fieldPost != 0 {
		ev.Post = d.post()
	}
	if set&fieldStaff != 0 {
		ev.Staff = d.staff()
	}
	if set&fieldTo != 0 {
		ev.To = d.staff()
	}
	if set&fieldText != 0 {
		ev.Text = d.string()
	}
	if set&fieldTeam != 0 {
		ev.Team = d.string()
	}
	if set&fieldQueue != 0 {
		ev.Queue = d.string()
	}
	ev.Flag = set&fieldFlag != 0
	if set&fieldNum != 0 {
		ev.Num = d.int()
	}
	if set&fieldTags != 0 {
		ev.Tags = d.strings()
	}
	if set&fieldRemove != 0 {
		ev.Remove = d.strings()
	}
	if set&fieldPrevious != 0 {
		if n := d.count(1); n > 0 {
			ev.Previous = make([]CaseID, n)
			for i := range ev.Previous {
				ev.Previous[i] = CaseID(d.string())
			}
		}
	}
	if set&fieldUntil != 0 {
		ev.Until = d.time()
	}
	if set&fieldThread != 0 {
		t := d.threadRef()
		ev.Thread = &t
	}
	if set&fieldVersion != 0 {
		ev.Version = d.uvarint()
	}
	if set&fieldItem != 0 {
		ev.Item = d.item()
	}
	if set&fieldID != 0 {
		ev.ID = d.string()
	}
	if set&fieldRef != 0 {
		r := d.postRef()
		ev.Ref = &r
	}
	if set&fieldState != 0 {
		ev.State = DeliveryState(d.string())
	}
	if set&fieldIncident != 0 {
		ev.Incident = IncidentID(d.string())
	}
	if set&fieldItemIncident != 0 {
		if ev.Item == nil {
			return ev, errors.New("an item's incident without an item")
		}
		ev.Item.Incident, ev.Item.Purpose = IncidentID(d.string()), d.string()
	}
	if set&fieldCommand != 0 {
		ev.Command = d.string()
	}
	return ev, d.err
}

func (d *decoder) post() *Post {
	p := &Post{Network: d.string(), ID: d.string(), Author: d.author(), Text: d.string(), URL: d.string(),
		InReplyTo: d.string(), Conversation: d.string(), Lang: d.string(), CreatedAt: d.time()}
	flags := d.byte()
	if flags&^postFlagsKnown != 0 {
		d.fail(fmt.Errorf("unknown post flags %#x", flags))
	}
	p.MentionsUs, p.ReplyToUs = flags&postMentionsUs != 0, flags&postReplyToUs != 0
	p.Direct, p.FromUs = flags&postDirect != 0, flags&postFromUs != 0
	if n := d.count(2); n > 0 {
		p.Ref = make(map[string]string, n)
		for range n {
			k := d.string()
			p.Ref[k] = d.string()
		}
	}
	return p
}

func (d *decoder) author() Author {
	return Author{ID: d.string(), Handle: d.string(), Name: d.string(), URL: d.string(), Avatar: d.string(), Followers: d.int()}
}

func (d *decoder) staff() *Staff {
	s := &Staff{}
	d.staffInto(s)
	return s
}

func (d *decoder) staffInto(s *Staff) {
	s.Desk, s.ID, s.Name = d.string(), d.string(), d.string()
	s.Groups = d.strings()
}

func (d *decoder) threadRef() ThreadRef {
	return ThreadRef{Desk: d.string(), Channel: d.string(), ID: d.string()}
}

func (d *decoder) postRef() PostRef {
	return PostRef{Network: d.string(), ID: d.string(), URL: d.string()}
}

func (d *decoder) item() *OutboxItem {
	it := &OutboxItem{ID: d.string(), Seq: d.uvarint(), Case: CaseID(d.string()), Network: d.string()}
	d.staffInto(&it.Staff)
	it.Message = MessageRef{Desk: d.string(), Channel: d.string(), Thread: d.string(), ID: d.string(), Author: d.string()}
	it.Thread = d.threadRef()
	it.Text = d.string()
	it.Private = d.bool()
	it.Command, it.Key = d.string(), d.string()
	it.State = OutboxState(d.string())
	it.Due = d.time()
	it.Attempts = d.int()
	it.Reason = d.string()
	it.Sent = d.postRef()
	it.Marked = DeliveryState(d.string())
	it.CreatedAt = d.time()
	return it
}
