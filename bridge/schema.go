package bridge

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// The go-memdb schema, laid out as nomad's state/schema.go: one function
// per table, index names as constants, and a note on why each index exists.
// Every object stored is a pointer that is never changed after insertion:
// a change copies, edits the copy and inserts it.

// Table names.
const (
	tableCases   = "cases"
	tableThreads = "threads"
	tablePosts   = "posts"
	tableOutbox  = "outbox"
	tableOpens   = "opens"
	tableMeta    = "meta"
	// tableIncidents holds *Incident (incident_schema.go).
	tableIncidents = "incidents"
)

// Index names.
const (
	indexID           = "id"
	indexConversation = "conversation" // cases: network + customer + conversation, to join follow-ups; its prefix: a customer's cases
	indexQueueStatus  = "queue_status" // cases: queue depth, "next", listings, SLA scans
	indexCase         = "case"         // outbox, follow-up posts: everything of one case
	indexMessage      = "message"      // outbox: the staff message a reply came from (edits, deletes, redeliveries)
	indexDue          = "due"          // outbox: queued replies by due time, for the scheduler
	indexIncident     = "incident"     // cases, follow-up posts, outbox: everything of one incident, in feed order
)

// schema returns the bridge's tables.
func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableCases:   casesTable(),
		tableThreads: threadsTable(),
		tablePosts:   postsTable(),
		tableOutbox:  outboxTable(),
		tableOpens:   opensTable(),
		tableMeta:    metaTable(),

		tableIncidents: incidentsTable(),
	}}
}

// casesTable holds *Case.
func casesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableCases, Indexes: map[string]*memdb.IndexSchema{
		// Commands name cases by id.
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { return parts(string(o.(*Case).ID)) })},
		// A post in a known conversation of the same customer joins its case
		// (the latest one: after a resolve the key repeats in a new case).
		// Its prefix, network + customer, lists the customer's cases: their
		// history, and the case a direct message (which names no
		// conversation of the case) continues. (A customers table kept that
		// list once, at the cost of another row and tree entry per case.)
		indexConversation: {Name: indexConversation, Indexer: nonUniqueKeyIndex(func(o any) keyParts {
			c := o.(*Case)
			return parts(c.Network, c.Customer.ID, c.Conversation)
		}, caseIDKey)},
		// Queue depth by status, "claim next", queue listings and the SLA
		// scan all read one queue's cases of one status.
		indexQueueStatus: {Name: indexQueueStatus, Indexer: nonUniqueKeyIndex(func(o any) keyParts {
			c := o.(*Case)
			return parts(c.Queue, string(c.Status))
		}, caseIDKey)},
		// An incident's card counts its linked cases and its thread lists
		// them in the order they were linked.
		indexIncident: {Name: indexIncident, AllowMissing: true, Indexer: caseIncidentIndex()},
	}}
}

// threadRow is a case's thread in a desk and how far the desk has caught
// up with the case (so a restart knows what is still to show).
type threadRow struct {
	Desk    string `json:"desk"`
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Case    CaseID `json:"case"`
	Queue   string `json:"queue"` // the queue whose channel holds the thread
	// CardVersion is the case version the card shows.
	CardVersion uint64 `json:"card_version"`
	// PostsShown counts the customer posts shown in the thread (the opening
	// one is on the card); in an incident's thread, the feed entries shown.
	PostsShown int `json:"posts_shown"`
	// Incident is set (and Case empty) for an incident's thread.
	Incident IncidentID `json:"incident,omitempty"`
}

func (t *threadRow) ref() ThreadRef { return ThreadRef{Desk: t.Desk, Channel: t.Channel, ID: t.ID} }

// threadsTable holds *threadRow.
func threadsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableThreads, Indexes: map[string]*memdb.IndexSchema{
		// A staff message names its thread: desk + thread id finds the case.
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { t := o.(*threadRow); return parts(t.Desk, t.ID) })},
		// (A case's threads are listed on the case itself, Case.Threads: an
		// index by case would cost every case another tree entry.)
	}}
}

// postRow is a post we have seen: a customer's (dedupe, threading) or one
// we published (echo suppression; replies to it join its case).
type postRow struct {
	Network string `json:"network"`
	ID      string `json:"id"`
	Case    CaseID `json:"case"`
	Own     bool   `json:"own,omitempty"`
	// N numbers a customer's posts in the case: 0 opened it.
	N int `json:"n,omitempty"`
	// Post is kept for follow-ups (N > 0), so a thread can be shown them
	// after a restart; the opening post lives in the case.
	Post *Post `json:"post,omitempty"`
	// Incident and IN place a follow-up written while its case was linked
	// in the incident thread's feed.
	Incident IncidentID `json:"incident,omitempty"`
	IN       uint64     `json:"in,omitempty"`
}

// postsTable holds *postRow.
func postsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tablePosts, Indexes: map[string]*memdb.IndexSchema{
		// Dedupe by network + post id; own posts never come back as complaints.
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { p := o.(*postRow); return parts(p.Network, p.ID) })},
		// A thread catching up on follow-ups reads them by case and number.
		indexCase: {Name: indexCase, AllowMissing: true, Indexer: &optionalKey{of: func(o any) ([]byte, bool) {
			p := o.(*postRow)
			if p.Post == nil {
				return nil, false
			}
			return appendUint(keyBytes(string(p.Case)), uint64(p.N)), true
		}, args: 1}},
		// An incident's thread shows linked customers' follow-ups in feed order.
		indexIncident: {Name: indexIncident, AllowMissing: true, Indexer: postIncidentIndex()},
	}}
}

// outboxTable holds *OutboxItem.
func outboxTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableOutbox, Indexes: map[string]*memdb.IndexSchema{
		// Retry buttons and commands name an outbox item by id.
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { return parts(o.(*OutboxItem).ID) })},
		// Marks and recovery walk a case's items.
		indexCase: {Name: indexCase, Indexer: nonUniqueKeyIndex(func(o any) keyParts { return parts(string(o.(*OutboxItem).Case)) },
			func(o any) int { return len(o.(*OutboxItem).ID) + 1 })},
		// An edit or delete (or the desk delivering a message twice) names the
		// staff message; replies from commands may have none.
		indexMessage: {Name: indexMessage, Unique: true, AllowMissing: true, Indexer: &optionalKey{of: func(o any) ([]byte, bool) {
			m := o.(*OutboxItem).Message
			if m.ID == "" {
				return nil, false
			}
			return keyBytes(m.Desk, m.Channel, m.ID), true
		}, args: 3}},
		// The scheduler takes queued items in due order.
		indexDue: {Name: indexDue, AllowMissing: true, Indexer: &optionalKey{of: func(o any) ([]byte, bool) {
			it := o.(*OutboxItem)
			if it.State != OutboxQueued {
				return nil, false
			}
			return appendUint(appendUint(nil, uint64(it.Due.UnixNano())), it.Seq), true
		}}},
		// An incident's card counts its items by fate; Retry sends its failed ones again.
		indexIncident: {Name: indexIncident, AllowMissing: true, Indexer: itemIncidentIndex()},
	}}
}

// openRow is a card a desk is about to show, or showed without the
// bridge learning its thread (a crash, a lost answer): the key the card
// is posted with and when, so the next try finds that card and adopts it
// instead of posting a second one. thread.opened removes it.
type openRow struct {
	Case    CaseID    `json:"case"`
	Desk    string    `json:"desk"`
	Queue   string    `json:"queue"`
	Channel string    `json:"channel"`
	Key     string    `json:"key"`
	At      time.Time `json:"at"`
}

func (o *openRow) key() [3]string { return [3]string{string(o.Case), o.Desk, o.Queue} }

// opensTable holds *openRow.
func opensTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableOpens, Indexes: map[string]*memdb.IndexSchema{
		// A desk catching a case up asks for the card it was opening in the
		// case's queue; its prefix, the case, finds them all (retention).
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts {
			r := o.(*openRow)
			return parts(string(r.Case), r.Desk, r.Queue)
		})},
	}}
}

// metaRow holds the counters ids are made from.
type metaRow struct {
	ID           string `json:"id"`
	LastCase     uint64 `json:"last_case"`
	LastOutbox   uint64 `json:"last_outbox"`
	LastIncident uint64 `json:"last_incident,omitempty"`
}

const metaID = "meta"

// metaTable holds the one *metaRow.
func metaTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableMeta, Indexes: map[string]*memdb.IndexSchema{
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { return parts(o.(*metaRow).ID) })},
	}}
}

// ---- indexers ----

// keyBytes joins parts into an index key, each ended by a zero byte, so a
// prefix of whole parts is a prefix of the key.
func keyBytes(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

func appendUint(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// argString is lookup argument i as a string.
func argString(i int, a any) (string, error) {
	switch v := a.(type) {
	case string:
		return v, nil
	case CaseID:
		return string(v), nil
	case Status:
		return string(v), nil
	}
	return "", fmt.Errorf("index argument %d is %T, want a string", i, a)
}

// keyFromArgs is keyBytes of the lookup arguments, made in one allocation.
func keyFromArgs(args []any) ([]byte, error) {
	n := 0
	for i, a := range args {
		s, err := argString(i, a)
		if err != nil {
			return nil, err
		}
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, a := range args {
		s, _ := argString(i, a)
		b = append(append(b, s...), 0)
	}
	return b, nil
}

// keyParts are the strings an object is indexed by (at most three),
// returned by value so that making a key allocates only the key.
type keyParts struct {
	p [3]string
	n int
}

func parts(p ...string) keyParts {
	var k keyParts
	k.n = copy(k.p[:], p)
	return k
}

// stringsIndex indexes objects by a tuple of strings; lookups give the
// whole tuple, prefix lookups (index name + "_prefix") its first parts.
type stringsIndex struct {
	of func(obj any) keyParts
	// room is the length of what go-memdb appends to the keys of a
	// non-unique index (the object's primary key), so that the key is
	// made with room for it instead of being copied; nil when unique.
	room func(obj any) int
}

func keyIndex(of func(obj any) keyParts) *stringsIndex { return &stringsIndex{of: of} }

// nonUniqueKeyIndex is keyIndex for a non-unique index; room gives the
// length of the object's primary key.
func nonUniqueKeyIndex(of func(obj any) keyParts, room func(obj any) int) *stringsIndex {
	return &stringsIndex{of: of, room: room}
}

// caseIDKey is the length of a case's primary key.
func caseIDKey(o any) int { return len(o.(*Case).ID) + 1 }

func (s *stringsIndex) FromObject(obj any) (bool, []byte, error) {
	k := s.of(obj)
	n := 0
	if s.room != nil {
		n = s.room(obj)
	}
	for _, p := range k.p[:k.n] {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range k.p[:k.n] {
		b = append(append(b, p...), 0)
	}
	return true, b, nil
}

func (s *stringsIndex) FromArgs(args ...any) ([]byte, error) { return keyFromArgs(args) }

func (s *stringsIndex) PrefixFromArgs(args ...any) ([]byte, error) { return s.FromArgs(args...) }

// optionalKey indexes only the objects of returns a key for. Lookups give
// args strings (as keyBytes) followed, for time or number keys, by nothing:
// such indexes are only iterated from their start.
type optionalKey struct {
	of   func(obj any) ([]byte, bool)
	args int
}

func (o *optionalKey) FromObject(obj any) (bool, []byte, error) {
	k, ok := o.of(obj)
	return ok, k, nil
}

func (o *optionalKey) FromArgs(args ...any) ([]byte, error) { return keyFromArgs(args) }

func (o *optionalKey) PrefixFromArgs(args ...any) ([]byte, error) { return o.FromArgs(args...) }

// newDB makes an empty store.
//
// It is a snapshot of a new go-memdb store rather than the store itself:
// a "primary" store tracks every tree node its write transactions copy,
// so that commit can close the nodes' watch channels and wake watchers
// (about a tenth of the cost of ingesting a post); a snapshot is a
// complete, writable store that skips the tracking. Earshot watches
// nothing: readers take the durable view (Bridge.read) instead.
func newDB() (*memdb.MemDB, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("bridge: schema: %w", err)
	}
	return db.Snapshot(), nil
}

// ---- reads ----

func getCase(tx *memdb.Txn, id CaseID) (*Case, error) {
	raw, err := tx.First(tableCases, indexID, string(id))
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*Case), nil
}

// findCase looks a case up by the id as staff type it ("e-42" finds E-42).
func findCase(tx *memdb.Txn, id CaseID) *Case {
	if c, _ := getCase(tx, id); c != nil {
		return c
	}
	if c, _ := getCase(tx, CaseID(strings.ToUpper(string(id)))); c != nil {
		return c
	}
	return nil
}

// getMeta reads the id counters as committed. A change in progress reads
// them with writeTx.counters, which sees its own events' updates.
func getMeta(tx *memdb.Txn) metaRow {
	raw, _ := tx.First(tableMeta, indexID, metaID)
	if raw == nil {
		return metaRow{ID: metaID}
	}
	return *raw.(*metaRow)
}

func getPost(tx *memdb.Txn, network, id string) *postRow {
	raw, _ := tx.First(tablePosts, indexID, network, id)
	if raw == nil {
		return nil
	}
	return raw.(*postRow)
}

func getThread(tx *memdb.Txn, desk, id string) *threadRow {
	raw, _ := tx.First(tableThreads, indexID, desk, id)
	if raw == nil {
		return nil
	}
	return raw.(*threadRow)
}

// threadsOf lists the threads of case id, oldest first.
func threadsOf(tx *memdb.Txn, id CaseID) []*threadRow {
	c, _ := getCase(tx, id)
	if c == nil {
		return nil
	}
	out := make([]*threadRow, 0, len(c.Threads))
	for _, t := range c.Threads {
		if row := getThread(tx, t.Desk, t.ID); row != nil {
			out = append(out, row)
		}
	}
	return out
}

// casesOfCustomer lists the customer's cases on a network, oldest first.
func casesOfCustomer(tx *memdb.Txn, network, author string) []*Case {
	it, err := tx.Get(tableCases, indexConversation+"_prefix", network, author)
	if err != nil {
		return nil
	}
	var out []*Case
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Case))
	}
	slices.SortFunc(out, func(a, b *Case) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

func getItem(tx *memdb.Txn, id string) *OutboxItem {
	raw, _ := tx.First(tableOutbox, indexID, id)
	if raw == nil {
		return nil
	}
	return raw.(*OutboxItem)
}

func getOpen(tx *memdb.Txn, id CaseID, desk, queue string) *openRow {
	raw, _ := tx.First(tableOpens, indexID, string(id), desk, queue)
	if raw == nil {
		return nil
	}
	return raw.(*openRow)
}

// opensOf lists the cards being opened for case id.
func opensOf(tx *memdb.Txn, id CaseID) []*openRow {
	it, err := tx.Get(tableOpens, indexID+"_prefix", string(id))
	if err != nil {
		return nil
	}
	var out []*openRow
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*openRow))
	}
	return out
}

func itemForMessage(tx *memdb.Txn, m MessageRef) *OutboxItem {
	if m.ID == "" {
		return nil
	}
	raw, _ := tx.First(tableOutbox, indexMessage, m.Desk, m.Channel, m.ID)
	if raw == nil {
		return nil
	}
	return raw.(*OutboxItem)
}

func itemsOf(tx *memdb.Txn, id CaseID) []*OutboxItem {
	it, err := tx.Get(tableOutbox, indexCase, string(id))
	if err != nil {
		return nil
	}
	var out []*OutboxItem
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*OutboxItem))
	}
	return out
}

// casesIn lists a queue's cases of one status, in no particular order.
func casesIn(tx *memdb.Txn, queue string, s Status) []*Case {
	it, err := tx.Get(tableCases, indexQueueStatus, queue, string(s))
	if err != nil {
		return nil
	}
	var out []*Case
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Case))
	}
	return out
}

// latestCase is the newest case with the conversation key, or nil.
func latestCase(tx *memdb.Txn, network, author, conversation string) *Case {
	it, err := tx.Get(tableCases, indexConversation, network, author, conversation)
	if err != nil {
		return nil
	}
	var best *Case
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if c := raw.(*Case); best == nil || c.Seq > best.Seq {
			best = c
		}
	}
	return best
}

// followUpPosts lists a case's kept follow-ups from number from on.
func followUpPosts(tx *memdb.Txn, id CaseID, from int) []*postRow {
	it, err := tx.Get(tablePosts, indexCase+"_prefix", string(id))
	if err != nil {
		return nil
	}
	var out []*postRow
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if p := raw.(*postRow); p.N >= from {
			out = append(out, p)
		}
	}
	return out
}
