// Package bridge is Earshot's core: it turns public posts into cases,
// keeps them in go-memdb made durable by an append-only journal, runs the
// staff's commands, and publishes their replies through an outbox that
// enforces the public-speech rules. It imports nothing else of Earshot:
// networks and desks plug in through the ports in ports.go.
//
// The flow of one complaint:
//
//  1. A network connector calls Post. Duplicates and our own posts are
//     dropped; a post in a known conversation of the same customer joins
//     its case (reopening it within the queue's reopen window after a
//     resolve, else opening a new, linked case); any other post opens a
//     case when a watch rule matches it, in the queue a routing rule picks.
//  2. Every change is an Event: journaled, then applied to the tables by
//     one pure apply (apply.go). Start-up loads the last snapshot and
//     replays the rest, so memory is always the journal's sum.
//  3. Desk workers (desk.go) catch each desk up with each changed case:
//     open its thread with the card, show follow-ups, post lines, mark
//     staff messages, re-render stale cards; most urgent cases first.
//  4. Staff act through commands (Command, and the actions in actions.go)
//     or by writing in the thread (StaffMessage, staff.go): the claimer's
//     message is a reply candidate; anything else is a note, explained
//     (and journaled, so the explanation survives a crash). Every text
//     meant for a customer passes one gate (Judge, speech.go), which reads
//     it in its canonical form (fold.go): note and command prefixes however
//     they are typed, nothing invisible, no desk mention or markup.
//  5. The outbox (outbox.go) holds a reply through the undo window, checks
//     the network's limit, journals each attempt before it publishes, and
//     retries, fails visibly or shows an uncertain attempt after a crash.
//  6. Metrics (metrics.go) count it all; SLA deadlines (sla.go) are
//     checked and each breach recorded once.
//
// The case lifecycle is a set of pure functions on Case (case.go):
// new → claimed → (escalated) → waiting → resolved, and reopen.
//
// What blocks: Post, StaffMessage, Command and the actions return once
// their change is on disk (group commit shares one fsync between
// concurrent callers); desk and network I/O happen later, in Run's
// goroutines. Reads (Case, QueueList, ...) never block on I/O.
package bridge
