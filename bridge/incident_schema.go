package bridge

import (
	"cmp"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
)

// The incidents table and the incident indexes of the other tables, laid
// out as schema.go.

// incidentsTable holds *Incident.
func incidentsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableIncidents, Indexes: map[string]*memdb.IndexSchema{
		// Commands and buttons name incidents by id.
		indexID: {Name: indexID, Unique: true, Indexer: keyIndex(func(o any) keyParts { return parts(string(o.(*Incident).ID)) })},
		// A new case is matched against its queue's open incidents; the
		// detector reads a queue's suggestions; gauges count by status.
		indexQueueStatus: {Name: indexQueueStatus, Indexer: nonUniqueKeyIndex(func(o any) keyParts {
			i := o.(*Incident)
			return parts(i.Queue, string(i.Status))
		}, func(o any) int { return len(o.(*Incident).ID) + 1 })},
	}}
}

// caseIncidentIndex indexes linked cases by incident, then feed number.
func caseIncidentIndex() *optionalKey {
	return &optionalKey{of: func(o any) ([]byte, bool) {
		c := o.(*Case)
		if c.Incident == "" {
			return nil, false
		}
		return appendUint(keyBytes(string(c.Incident)), c.IncidentN), true
	}, args: 1}
}

// postIncidentIndex indexes follow-ups written while linked by incident,
// then feed number.
func postIncidentIndex() *optionalKey {
	return &optionalKey{of: func(o any) ([]byte, bool) {
		p := o.(*postRow)
		if p.Incident == "" || p.Post == nil {
			return nil, false
		}
		return appendUint(keyBytes(string(p.Incident)), p.IN), true
	}, args: 1}
}

// itemIncidentIndex indexes an incident's outbox items by incident, then seq.
func itemIncidentIndex() *optionalKey {
	return &optionalKey{of: func(o any) ([]byte, bool) {
		it := o.(*OutboxItem)
		if it.Incident == "" {
			return nil, false
		}
		return appendUint(keyBytes(string(it.Incident)), it.Seq), true
	}, args: 1}
}

// ---- reads ----

func getIncident(tx *memdb.Txn, id IncidentID) *Incident {
	raw, _ := tx.First(tableIncidents, indexID, string(id))
	if raw == nil {
		return nil
	}
	return raw.(*Incident)
}

// findIncident looks an incident up as staff type its id ("inc-3").
func findIncident(tx *memdb.Txn, id string) *Incident {
	if parsed, ok := ParseIncidentID(id); ok {
		return getIncident(tx, parsed)
	}
	return nil
}

// rows lists the rows of table that index (with args) finds, in index
// order, as *T.
func rows[T any](tx *memdb.Txn, table, index string, args ...any) []*T {
	it, err := tx.Get(table, index, args...)
	if err != nil {
		return nil
	}
	var out []*T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*T))
	}
	return out
}

// bySeq orders incidents oldest first.
func bySeq(list []*Incident) []*Incident {
	slices.SortFunc(list, func(a, b *Incident) int { return cmp.Compare(a.Seq, b.Seq) })
	return list
}

// incidentsIn lists a queue's incidents of one status, oldest first.
func incidentsIn(tx *memdb.Txn, queue string, s IncidentStatus) []*Incident {
	return bySeq(rows[Incident](tx, tableIncidents, indexQueueStatus, queue, string(s)))
}

// allIncidents lists every incident, oldest first.
func allIncidents(tx *memdb.Txn) []*Incident {
	return bySeq(rows[Incident](tx, tableIncidents, indexID))
}

// linkedCases lists the cases linked to incident id, in feed order.
func linkedCases(tx *memdb.Txn, id IncidentID) []*Case {
	return rows[Case](tx, tableCases, indexIncident+"_prefix", string(id))
}

// incidentFollowUps lists the follow-ups in incident id's feed from feed
// number from on.
func incidentFollowUps(tx *memdb.Txn, id IncidentID, from uint64) []*postRow {
	return slices.DeleteFunc(rows[postRow](tx, tablePosts, indexIncident+"_prefix", string(id)), func(p *postRow) bool { return p.IN < from })
}

// incidentItems lists incident id's outbox items, oldest first.
func incidentItems(tx *memdb.Txn, id IncidentID) []*OutboxItem {
	return rows[OutboxItem](tx, tableOutbox, indexIncident+"_prefix", string(id))
}

// incidentThreads lists the threads of incident i.
func incidentThreads(tx *memdb.Txn, i *Incident) []*threadRow {
	out := make([]*threadRow, 0, len(i.Threads))
	for _, t := range i.Threads {
		if row := getThread(tx, t.Desk, t.ID); row != nil {
			out = append(out, row)
		}
	}
	return out
}
