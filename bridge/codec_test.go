package bridge

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fill sets every field reachable from v to a value that is not zero,
// so a codec that forgets a field fails the round trip. A field tagged
// json:"-" is not part of the stored form (PostRef.Warning travels in the
// event's Text) and stays zero.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", *n%5) + "\n\x00é")
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(-1000 * *n))
	case reflect.Uint64:
		v.SetUint(uint64(1<<40 + *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(t, v.Index(0), n)
		fill(t, v.Index(1), n)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			k.SetString(k.String() + string(rune('a'+i)))
			fill(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 14, 9, 0, *n, 123456789, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("json") == "-" {
				continue
			}
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: no rule for %s (%s): teach the codec and this test about it", v.Type(), v.Kind())
	}
}

// Every field of Event, and of everything it holds, comes back from the
// journal as it went in, for every event type.
func TestEventCodecCoversEveryField(t *testing.T) {
	for code, typ := range eventCodes {
		if typ == "" {
			continue
		}
		var ev Event
		n := code
		fill(t, reflect.ValueOf(&ev).Elem(), &n)
		ev.Type = typ
		rec, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(rec)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("%s: round trip differs:\nin:  %+v\nout: %+v", typ, ev, got)
		}
		if again, _ := encodeEvent(got); !bytes.Equal(again, rec) {
			t.Fatalf("%s: encoding is not stable", typ)
		}
	}
	// Every EventType constant declared in event.go has a journal code.
	declared := eventTypesDeclared(t)
	for _, typ := range declared {
		if _, ok := eventCode[typ]; !ok {
			t.Errorf("event type %q has no code: add it to eventCodes", typ)
		}
	}
	if len(declared) != len(eventCode) {
		t.Errorf("event.go declares %d event types, eventCodes numbers %d", len(declared), len(eventCode))
	}
}

// eventTypesDeclared reads the EventType constants from event.go.
func eventTypesDeclared(t *testing.T) []EventType {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []EventType
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := spec.Type.(*ast.Ident); !ok || id.Name != "EventType" {
			return true
		}
		for _, v := range spec.Values {
			lit, ok := v.(*ast.BasicLit)
			if !ok {
				t.Fatalf("event.go: an EventType constant that is not a string literal")
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, EventType(s))
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("event.go: no EventType constants found")
	}
	return out
}

// Empty fields stay empty, and times keep their instant and zone offset
// exactly as the JSON form did (so a replay renders the same state).
func TestEventCodecTimesAndEmptyFields(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, at := range []time.Time{
		{}, time.Unix(0, 0).UTC(), time.Date(2026, 3, 14, 9, 0, 0, 1, time.UTC),
		time.Date(2026, 3, 14, 9, 0, 0, 999999999, paris), time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 7, 1, 12, 0, 0, 0, time.Local), time.Now(),
	} {
		ev := Event{Type: EvSnoozed, At: at, Until: at, Case: "E-1", Tags: []string{}, Staff: &Staff{}}
		rec, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(rec)
		if err != nil {
			t.Fatalf("%v: %v", at, err)
		}
		viaJSON := roundTripJSON(t, ev)
		for _, pair := range [][2]time.Time{{got.At, viaJSON.At}, {got.Until, viaJSON.Until}} {
			if !pair[0].Equal(pair[1]) || pair[0].Format(time.RFC3339Nano) != pair[1].Format(time.RFC3339Nano) ||
				pair[0].Location().String() != pair[1].Location().String() {
				t.Errorf("%v: binary gives %v (%s), JSON gave %v (%s)", at, pair[0], pair[0].Location(), pair[1], pair[1].Location())
			}
		}
		if got.Tags != nil || got.Post != nil || got.Staff == nil || got.Staff.Groups != nil {
			t.Errorf("empty fields: %+v", got)
		}
	}
}

func roundTripJSON(t *testing.T, ev Event) Event {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A damaged, foreign or future record is refused with a reason, never
// half read.
func TestDecodeEventRefuses(t *testing.T) {
	p := &Post{Network: "net", ID: "p1", Author: Author{ID: "a", Handle: "ana"}, Text: "late again", Ref: map[string]string{"uri": "at://x"}}
	good, err := encodeEvent(Event{Type: EvOpened, At: time.Unix(1, 0), Case: "E-1", Post: p, Queue: "support", Tags: []string{"rail"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		rec  []byte
		want string
	}{
		"empty":          {nil, "empty record"},
		"JSON":           {[]byte(`{"t":"case.opened"}`), "JSON record, written by an earlier build"},
		"newer format":   {append([]byte{2}, good[1:]...), "unknown record format 2"},
		"unknown type":   {[]byte{eventFormatV1, 99, 0, timeZero}, "unknown event type 99"},
		"unknown fields": {[]byte{eventFormatV1, 1, 0x80, 0x80, 0x80, 0x80, 0x01, timeZero}, "unknown fields"},
		"left over":      {append(bytes.Clone(good), 0), "1 bytes left over"},
		"bad time tag":   {[]byte{eventFormatV1, 3, 0, 7}, "unknown time tag 7"},
		"huge string":    {[]byte{eventFormatV1, 3, fieldCase, timeZero, 0xff, 0xff, 0xff, 0xff, 0x0f}, "ends in the middle"},
	}
	for name, c := range cases {
		if _, err := decodeEvent(c.rec); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bridge: decode event") {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	for i := 1; i < len(good); i++ {
		if _, err := decodeEvent(good[:i]); err == nil {
			t.Errorf("a record cut at byte %d of %d decodes", i, len(good))
		}
	}
	if _, err := decodeEvent(good); err != nil {
		t.Fatal(err)
	}
}
