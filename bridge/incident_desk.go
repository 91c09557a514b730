package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// An incident on the desk: one live card in its queue's channel (the
// suggestion's card becomes the incident's), and its thread, where the
// complaints linked are listed in batches ("14 more linked: @a, @b, …",
// at most every BatchEvery), linked customers' follow-ups show with a
// Split out button, and Earshot says what happened. The card shows counts
// and the acknowledgement's progress; a staff action re-renders it at
// once, counts and progress at most every CardEvery. How far a thread has
// caught up is journaled (incident.thread, thread.synced) like a case's.

// IncidentDesk is implemented by desks that can show incidents. A queue
// on a desk without it has no incidents.
type IncidentDesk interface {
	// OpenIncident posts the incident's card in channel and returns its thread.
	OpenIncident(ctx context.Context, channel string, v IncidentView) (ThreadRef, error)
	// UpdateIncident re-renders the card.
	UpdateIncident(ctx context.Context, t ThreadRef, v IncidentView) error
}

// maxBatchNames bounds the handles a batch line names.
const maxBatchNames = 12

// incidentState is what the bridge keeps in memory about incidents: the
// detector, the loop's wake-up, and per desk and incident what the desk
// was last shown (for pacing the card and the batch lines).
type incidentState struct {
	detect *detector
	poke   chan struct{}

	mu    sync.Mutex
	shown map[[2]string]*shownIncident
}

// shownIncident is what one desk last showed of one incident.
type shownIncident struct {
	sig        string    // the card's counts and progress as rendered
	renderedAt time.Time // wall clock: desk pacing, not business time
	batchAt    time.Time
	later      bool                // a catch-up is scheduled
	final      string              // the sent message whose final mark was shown
	failures   []string            // failed deliveries not yet told in the thread
	failedSeen map[string]struct{} // items told already
}

func newIncidentState() *incidentState {
	return &incidentState{detect: newDetector(), poke: make(chan struct{}, 1), shown: map[[2]string]*shownIncident{}}
}

// of returns what desk last showed of incident id.
func (s *incidentState) of(desk string, id IncidentID) *shownIncident {
	k := [2]string{desk, string(id)}
	sh := s.shown[k]
	if sh == nil {
		sh = &shownIncident{failedSeen: map[string]struct{}{}}
		s.shown[k] = sh
	}
	return sh
}

// syncIncident catches desk d up with incident id: its card and thread,
// the feed, the lines waiting, the card's counts, the final mark of its
// acknowledgement. It does desk I/O, one call at a time.
func (b *Bridge) syncIncident(ctx context.Context, d Desk, id IncidentID) error {
	desk := d.Name()
	work := incidentWork(id)
	tx := b.read()
	i := getIncident(tx, id)
	idesk, ok := d.(IncidentDesk)
	if i == nil || !ok {
		b.ops.take(desk, work)
		return nil
	}
	call := func(f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, deskCallTimeout)
		defer cancel()
		return f(cctx)
	}
	view := b.incidentView(tx, i)
	var row *threadRow
	for _, t := range incidentThreads(tx, i) {
		if t.Desk == desk {
			copied := *t
			row = &copied
		}
	}
	q := b.queues[i.Queue]
	if row == nil && q.Desk == desk {
		opened := b.opens.begin(desk)
		defer opened()
		var ref ThreadRef
		if err := call(func(ctx context.Context) (err error) { ref, err = idesk.OpenIncident(ctx, q.Channel, view); return err }); err != nil {
			return fmt.Errorf("open incident card in %s: %w", q.Name, err)
		}
		if ref.Desk == "" {
			ref.Desk = desk
		}
		if ref.Channel == "" {
			ref.Channel = q.Channel
		}
		if _, err := b.change(func(w *writeTx) error {
			_, err := w.emit(Event{Type: EvIncThread, Incident: id, Thread: &ref, Version: i.Version})
			return err
		}); err != nil {
			return err
		}
		opened()
		row = &threadRow{Desk: ref.Desk, ID: ref.ID, Channel: ref.Channel, Incident: id, Queue: i.Queue, CardVersion: i.Version}
		b.incidents.mu.Lock()
		sh := b.incidents.of(desk, id)
		sh.sig, sh.renderedAt = view.signature(), time.Now()
		b.incidents.mu.Unlock()
	}
	if row == nil {
		b.ops.take(desk, work)
		return nil
	}
	// The card first (what a staff member who just pressed looks at), then
	// the lines waiting; the feed's batch lines are bulk work: a staff
	// action's catch-up leaves them to the ordinary lane.
	if err := b.syncIncidentCard(ctx, idesk, desk, i, view, row, call); err != nil {
		return err
	}
	if err := b.runOps(ctx, d, &Case{ID: work}, []*threadRow{row}, call); err != nil {
		return err
	}
	if err := b.finalMark(ctx, d, i, view, call); err != nil {
		return err
	}
	if Urgent(ctx) {
		if row.PostsShown < int(i.Feed) || b.failuresWaiting(desk, id) {
			b.kickIncident(id, false)
		}
		return nil
	}
	if err := b.syncFeed(ctx, d, tx, i, row, call); err != nil {
		return err
	}
	return b.tellFailures(ctx, d, i, row, call)
}

// failuresWaiting reports whether failed deliveries wait to be told on desk.
func (b *Bridge) failuresWaiting(desk string, id IncidentID) bool {
	b.incidents.mu.Lock()
	defer b.incidents.mu.Unlock()
	return len(b.incidents.of(desk, id).failures) > 0
}

// syncIncidentCard re-renders the card: at once when the incident
// changed, at most every CardEvery when only counts or progress did.
func (b *Bridge) syncIncidentCard(ctx context.Context, idesk IncidentDesk, desk string, i *Incident, view IncidentView, row *threadRow, call func(func(context.Context) error) error) error {
	sig := view.signature()
	b.incidents.mu.Lock()
	sh := b.incidents.of(desk, i.ID)
	stale := row.CardVersion < i.Version
	wait := time.Duration(0)
	if !stale && sig != sh.sig {
		wait = b.cfg.Incidents.CardEvery - time.Since(sh.renderedAt)
	}
	b.incidents.mu.Unlock()
	if !stale && sig == sh.sig {
		return nil
	}
	if wait > 0 {
		b.later(ctx, desk, i.ID, wait)
		return nil
	}
	if err := call(func(ctx context.Context) error { return idesk.UpdateIncident(ctx, row.ref(), view) }); err != nil {
		return fmt.Errorf("update incident card: %w", err)
	}
	b.incidents.mu.Lock()
	sh.sig, sh.renderedAt = sig, time.Now()
	b.incidents.mu.Unlock()
	if stale {
		return b.synced(row, i.Version, 0)
	}
	return nil
}

// later catches incident id up on desk again after wait (once, however
// often asked meanwhile).
func (b *Bridge) later(ctx context.Context, desk string, id IncidentID, wait time.Duration) {
	b.incidents.mu.Lock()
	sh := b.incidents.of(desk, id)
	if sh.later {
		b.incidents.mu.Unlock()
		return
	}
	sh.later = true
	b.incidents.mu.Unlock()
	q := b.work[desk]
	go func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		b.incidents.mu.Lock()
		sh.later = false
		b.incidents.mu.Unlock()
		if ctx.Err() == nil {
			q.push(incidentWork(id), 1<<20, 0)
		}
	}()
}

// syncFeed shows the thread the feed entries it has not shown: complaints
// linked, in batch lines, and linked customers' follow-ups, each with a
// Split out button, in the order they came.
func (b *Bridge) syncFeed(ctx context.Context, d Desk, tx *memdb.Txn, i *Incident, row *threadRow, call func(func(context.Context) error) error) error {
	from := uint64(row.PostsShown) + 1
	if from > i.Feed {
		return nil
	}
	links := map[uint64]*Case{}
	for _, c := range linkedCases(tx, i.ID) {
		if c.IncidentN >= from {
			links[c.IncidentN] = c
		}
	}
	posts := map[uint64]*postRow{}
	for _, p := range incidentFollowUps(tx, i.ID, from) {
		posts[p.IN] = p
	}
	shown := from - 1
	var batch []*Case
	flush := func(upTo uint64) (bool, error) {
		if len(batch) == 0 {
			shown = upTo
			return true, nil
		}
		b.incidents.mu.Lock()
		sh := b.incidents.of(d.Name(), i.ID)
		wait := b.cfg.Incidents.BatchEvery - time.Since(sh.batchAt)
		b.incidents.mu.Unlock()
		if wait > 0 {
			b.later(ctx, d.Name(), i.ID, wait)
			return false, nil
		}
		line := batchLine(batch)
		if err := call(func(ctx context.Context) error {
			_, err := d.Post(ctx, row.ref(), DeskMessage{Kind: DeskNotice, Text: line})
			return err
		}); err != nil {
			return false, fmt.Errorf("list linked complaints: %w", err)
		}
		b.incidents.mu.Lock()
		sh.batchAt = time.Now()
		b.incidents.mu.Unlock()
		batch, shown = nil, upTo
		return true, b.synced(row, 0, int(upTo))
	}
	for n := from; n <= i.Feed; n++ {
		if c := links[n]; c != nil {
			batch = append(batch, c)
			continue
		}
		p := posts[n]
		if p == nil {
			continue // unlinked since
		}
		if ok, err := flush(n - 1); !ok || err != nil {
			return err
		}
		post := *p.Post
		msg := DeskMessage{Kind: DeskCustomer, Author: &post.Author, Text: post.Text, Link: post.URL,
			Actions: []DeskAction{{Verb: "split", Label: "Split out " + string(p.Case), Arg: string(p.Case)}}}
		if err := call(func(ctx context.Context) error { _, err := d.Post(ctx, row.ref(), msg); return err }); err != nil {
			return fmt.Errorf("show a linked customer's follow-up: %w", err)
		}
		shown = n
		if err := b.synced(row, 0, int(n)); err != nil {
			return err
		}
	}
	if _, err := flush(i.Feed); err != nil {
		return err
	}
	row.PostsShown = int(shown)
	return nil
}

// batchLine lists newly linked complaints: "3 more complaints linked (E-7,
// E-9, E-12): @ana on Mastodon, @bo on X, @cy on Bluesky".
func batchLine(cs []*Case) string {
	ids := make([]string, 0, len(cs))
	names := make([]string, 0, min(len(cs), maxBatchNames))
	for n, c := range cs {
		if n < maxBatchNames {
			ids = append(ids, string(c.ID))
			names = append(names, "@"+strings.TrimPrefix(c.Customer.Handle, "@")+" on "+networkTitle(c.Network))
		}
	}
	head := "1 more complaint linked"
	if len(cs) > 1 {
		head = strconv.Itoa(len(cs)) + " more complaints linked"
	}
	more := ""
	if rest := len(cs) - len(names); rest > 0 {
		more = " and " + strconv.Itoa(rest) + " more"
		ids = append(ids, "…")
	}
	return head + " (" + strings.Join(ids, ", ") + "): " + strings.Join(names, ", ") + more
}

// tellFailures says in the thread, in one line, which deliveries failed
// or are uncertain since it last said so.
func (b *Bridge) tellFailures(ctx context.Context, d Desk, i *Incident, row *threadRow, call func(func(context.Context) error) error) error {
	b.incidents.mu.Lock()
	sh := b.incidents.of(d.Name(), i.ID)
	lines := sh.failures
	sh.failures = nil
	b.incidents.mu.Unlock()
	if len(lines) == 0 {
		return nil
	}
	shown := lines[:min(len(lines), maxBatchNames)]
	text := fmt.Sprintf("%d not delivered: %s", len(lines), strings.Join(shown, "; "))
	if len(lines) > len(shown) {
		text += fmt.Sprintf("; and %d more", len(lines)-len(shown))
	}
	text += fmt.Sprintf(". The owner sends the failed ones again with the card's Retry button or `%sincident retry`; check the uncertain ones before sending them again.", b.cfg.CommandPrefix)
	if err := call(func(ctx context.Context) error {
		_, err := d.Post(ctx, row.ref(), DeskMessage{Kind: DeskNotice, Text: text})
		return err
	}); err != nil {
		b.incidents.mu.Lock()
		sh.failures = append(lines, sh.failures...)
		b.incidents.mu.Unlock()
		return fmt.Errorf("tell failed deliveries: %w", err)
	}
	return nil
}

// finalMark marks the released message once everything it made is
// settled: sent, or failed (with Retry naming the incident).
func (b *Bridge) finalMark(ctx context.Context, d Desk, i *Incident, v IncidentView, call func(func(context.Context) error) error) error {
	m := i.Sent
	if m.ID == "" || m.Desk != d.Name() || v.Progress.Pending > 0 || v.Progress.Total == 0 {
		return nil
	}
	b.incidents.mu.Lock()
	sh := b.incidents.of(d.Name(), i.ID)
	done := sh.final == m.Channel+"/"+m.ID+"/"+strconv.Itoa(v.Progress.Failed+v.Progress.Uncertain)
	b.incidents.mu.Unlock()
	if done {
		return nil
	}
	dl := Delivery{State: DeliverySent}
	if v.Progress.Failed+v.Progress.Uncertain > 0 {
		dl = Delivery{State: DeliveryFailed, Retry: string(i.ID),
			Reason: fmt.Sprintf("%d of %d did not go out for sure (%d failed, %d uncertain): see the thread.", v.Progress.Failed+v.Progress.Uncertain, v.Progress.Total, v.Progress.Failed, v.Progress.Uncertain)}
	}
	if err := call(func(ctx context.Context) error { return d.Mark(ctx, m, dl) }); err != nil {
		return fmt.Errorf("mark the incident's message: %w", err)
	}
	b.incidents.mu.Lock()
	sh.final = m.Channel + "/" + m.ID + "/" + strconv.Itoa(v.Progress.Failed+v.Progress.Uncertain)
	b.incidents.mu.Unlock()
	return nil
}

// incidentView renders incident i for a card.
func (b *Bridge) incidentView(tx *memdb.Txn, i *Incident) IncidentView {
	v := IncidentView{Incident: *i, ByNetwork: map[string]int{}}
	cases := linkedCases(tx, i.ID)
	for _, c := range cases {
		v.Cases++
		v.ByNetwork[c.Network]++
		at := c.First.CreatedAt
		if at.IsZero() {
			at = c.OpenedAt
		}
		if v.First.IsZero() || at.Before(v.First) {
			v.First = at
		}
		if at.After(v.Last) {
			v.Last = at
		}
	}
	for n := len(cases) - 1; n >= 0 && len(v.Samples) < 3; n-- {
		v.Samples = append(v.Samples, cases[n].First)
	}
	v.Progress = b.progress(tx, i, len(cases))
	for _, r := range b.cfg.Replies {
		v.Replies = append(v.Replies, r.Name)
	}
	return v
}

// progress counts the fate of i's latest message to its complainants:
// each linked case's newest item of that purpose.
func (b *Bridge) progress(tx *memdb.Txn, i *Incident, linked int) Progress {
	latest := map[CaseID]*OutboxItem{}
	closing := false
	for _, it := range incidentItems(tx, i.ID) {
		if it.Purpose == PurposeClosing {
			closing = true
		}
	}
	p := Progress{Purpose: PurposeAck}
	if closing {
		p.Purpose = PurposeClosing
	}
	for _, it := range incidentItems(tx, i.ID) {
		if it.Purpose == p.Purpose && it.Case != "" {
			latest[it.Case] = it
		}
	}
	if len(latest) == 0 && i.Ack == "" {
		return Progress{}
	}
	p.Total = max(linked, len(latest))
	pending := map[string]int{}
	for _, it := range latest {
		switch it.State {
		case OutboxSent:
			p.Sent++
		case OutboxQueued, OutboxAttempting:
			p.Pending++
			pending[it.Network]++
		case OutboxFailed:
			p.Failed++
		case OutboxUncertain:
			p.Uncertain++
		case OutboxCancelled:
			p.Cancelled++
		}
	}
	p.ETA = b.outbox.eta(pending)
	return p
}

// signature is what of a view the card shows besides its version: counts
// and progress (the ETA to the minute).
func (v IncidentView) signature() string {
	p := v.Progress
	return fmt.Sprintf("%d|%s|%d/%d/%d/%d/%d/%d|%d", v.Cases, v.NetworkLine(), p.Total, p.Sent, p.Pending, p.Failed, p.Uncertain, p.Cancelled,
		p.ETA/time.Minute)
}

// caseIncident fills the incident parts of a case's card: the incident it
// is linked to, or the open ones of its queue it could join, and the
// saved replies.
func (b *Bridge) caseIncident(tx *memdb.Txn, c *Case, v *CaseView) {
	if c.Incident != "" {
		if i := getIncident(tx, c.Incident); i != nil {
			v.IncidentTitle = i.Title
		}
	} else if c.Status.Open() {
		for _, i := range incidentsIn(tx, c.Queue, IncidentOpen) {
			v.Incidents = append(v.Incidents, incidentSummary(tx, i))
		}
	}
	for _, r := range b.cfg.Replies {
		v.Replies = append(v.Replies, r.Name)
	}
}

// reactIncidents runs the live consequences of incident changes: lines in
// the incident's thread, marks, desk work, the detector, metrics.
func (b *Bridge) reactIncidents(fx []applied) {
	linkedNow := map[CaseID]bool{}
	for _, a := range fx {
		if a.ev.Type == EvIncLinked {
			linkedNow[a.ev.Case] = true
		}
	}
	for _, a := range fx {
		ev := a.ev
		switch {
		case ev.Type == EvOpened && a.after != nil && !linkedNow[a.after.ID]:
			b.incidents.detect.saw(a.after)
		case ev.Type == EvFollowUp && a.after != nil && a.after.Incident != "":
			b.kickIncident(a.after.Incident, false) // its thread shows the follow-up
		case a.item != nil && a.item.Incident != "":
			b.reactIncidentItem(a)
		case a.inc != nil:
			b.reactIncident(a)
		}
	}
}

// reactIncidentItem follows one of an incident's items: the card's
// progress, failures told in the thread, metrics.
func (b *Bridge) reactIncidentItem(a applied) {
	it := a.item
	result := ""
	switch a.ev.Type {
	case EvSent:
		result = ReplySent
	case EvFailed:
		result = ReplyFailed
	case EvUncertain:
		result = ReplyUncertain
	case EvCancelled:
		result = ReplyCancelled
		if a.ev.Flag {
			result = ReplyRefused
		}
	}
	if result != "" {
		b.metrics.incident.replies.WithLabelValues(it.Network, it.Purpose, result).Inc()
	}
	if a.ev.Type == EvFailed || a.ev.Type == EvUncertain {
		who := it.Case
		if c := a.after; c != nil {
			who = CaseID("@" + strings.TrimPrefix(c.Customer.Handle, "@") + " (" + string(c.ID) + ")")
		}
		line := fmt.Sprintf("%s on %s: %s", who, networkTitle(it.Network), it.Reason)
		b.incidents.mu.Lock()
		for desk := range b.work {
			sh := b.incidents.of(desk, it.Incident)
			if _, told := sh.failedSeen[it.ID+"/"+strconv.Itoa(it.Attempts)]; !told {
				sh.failedSeen[it.ID+"/"+strconv.Itoa(it.Attempts)] = struct{}{}
				sh.failures = append(sh.failures, line)
			}
		}
		b.incidents.mu.Unlock()
	}
	if a.ev.Type == EvSent && it.Purpose == PurposeAck {
		b.observeAllAcked(it.Incident)
	}
	b.kickIncident(it.Incident, false)
}

// reactIncident follows a change of the incident itself.
func (b *Bridge) reactIncident(a applied) {
	ev, i := a.ev, a.inc
	by := ""
	if ev.Staff != nil {
		by = ev.Staff.Display()
	}
	say := func(text string) { b.incidentNotice(i, text) }
	switch ev.Type {
	case EvIncSuggested:
		b.metrics.incident.suggestions.WithLabelValues(i.Queue).Inc()
	case EvIncDeclared:
		say(fmt.Sprintf("Declared by %s: %s. Complaints in %s with %s join it as they come (%s).", by, i.Title, i.Queue,
			termsText(i.Terms), linkRule(i.Terms)))
	case EvIncDismissed:
		say(fmt.Sprintf("%s said this is not an incident.", by))
	case EvIncOwned:
		switch {
		case ev.To != nil:
			say(fmt.Sprintf("%s owns the incident now: only they speak for it.", ev.To.Display()))
		case ev.Flag:
			say(fmt.Sprintf("%s took %s from %s; nobody owns it now.", by, i.ID, orSomeone(a.incBefore.OwnerName)))
		default:
			say(fmt.Sprintf("Released by %s; nobody owns it now.", by))
		}
	case EvIncLinked:
		if ev.Staff != nil {
			say(fmt.Sprintf("%s linked %s.", by, ev.Case))
		}
		if a.after != nil {
			b.notice(a.after, "", fmt.Sprintf("Linked to %s (%s) by %s: the incident's owner answers it with everyone else's.", i.ID, i.Title, orSomeone(by)))
			b.kickBulk(a.after.ID, a.after.Priority, a.after.Seq)
		}
	case EvIncUnlinked:
		say(fmt.Sprintf("%s left the incident (%s): it has a card of its own now.", ev.Case, ev.Text))
		if a.after != nil {
			b.notice(a.after, "", fmt.Sprintf("No longer part of %s (%s): work it here as usual.", i.ID, ev.Text))
			b.kick(a.after.ID, a.after.Priority, a.after.Seq)
		}
	case EvIncAck, EvIncResolved:
		if ev.Type == EvIncResolved {
			n := len(linkedCases(b.read(), i.ID))
			line := fmt.Sprintf("Resolved by %s; its %d cases are resolved too (a customer who writes again within the reopen window reopens their own).", by, n)
			if i.Pending.Kind == pendingClosing {
				line += " The closing message goes to everyone after the undo window."
			}
			say(line)
		}
		if p := i.Pending; p.Kind != "" && p.Message.ID != "" {
			b.ops.add(p.Message.Desk, incidentWork(i.ID), deskOp{kind: opMark, message: p.Message, delivery: Delivery{State: DeliveryPending, Until: p.Due}})
			// One message to many: say so to its author, privately, while
			// it can still be changed.
			t := ThreadRef{Desk: p.Message.Desk, Channel: p.Message.Channel, ID: p.Message.Thread}
			b.ops.add(p.Message.Desk, incidentWork(i.ID), deskOp{kind: opNotify, thread: t, staffID: p.By.ID, msg: DeskMessage{Kind: DeskNotice,
				Text: fmt.Sprintf("This %s goes to all %d complainants of %s at %s. Edit your message to change it, delete it to stop it; start a message with %q to keep it a note.",
					pendingWhat(p.Kind), len(linkedCases(b.read(), i.ID)), i.ID, p.Due.UTC().Format("15:04:05 MST"), b.cfg.NotePrefixes[0])}})
		}
		b.wakeIncidents()
	case EvIncWithdrawn:
		if p := a.incBefore.Pending; p.Message.ID != "" {
			dl := Delivery{State: DeliveryCancelled}
			if ev.Text != "" {
				dl = Delivery{State: DeliveryNotSent, Reason: ev.Text, Private: true}
			}
			b.ops.add(p.Message.Desk, incidentWork(i.ID), deskOp{kind: opMark, message: p.Message, delivery: dl})
		} else if ev.Text != "" {
			say("Not sent: " + ev.Text)
		}
	case EvIncReleased:
		what := "acknowledgement"
		if i.SentKind == pendingClosing {
			what = "closing message"
		}
		say(fmt.Sprintf("%s's %s is going out to every linked complainant, paced within each network's limits: “%s”", a.incBefore.Pending.By.Display(), what, shorten(a.incBefore.Pending.Text, 300)))
		if i.Sent.ID != "" {
			b.ops.add(i.Sent.Desk, incidentWork(i.ID), deskOp{kind: opMark, message: i.Sent, delivery: Delivery{State: DeliveryPending}})
		}
	case EvIncUpdated:
		say(fmt.Sprintf("Update by %s: %s", by, ev.Text))
	case EvIncLate:
		if ev.Flag {
			say(fmt.Sprintf("%s turned late joiners on: complaints linked from now on get the acknowledgement.", by))
		} else {
			say(fmt.Sprintf("%s turned late joiners off: complaints linked from now on get no acknowledgement until staff write one.", by))
		}
	case EvIncTerms:
		say(fmt.Sprintf("%s changed the terms: complaints with %s join it (%s).", by, termsText(i.Terms), linkRule(i.Terms)))
	case EvIncPublic:
		say(fmt.Sprintf("%s started the public status thread: one post on each network; `%sincident update` adds to it.", by, b.cfg.CommandPrefix))
	}
	b.kickIncident(i.ID, ev.Staff != nil)
}

// incidentNotice queues a line from Earshot for the incident's thread.
func (b *Bridge) incidentNotice(i *Incident, text string) {
	q, ok := b.queues[i.Queue]
	if !ok {
		return
	}
	b.ops.add(q.Desk, incidentWork(i.ID), deskOp{kind: opNotice, queue: i.Queue, msg: DeskMessage{Kind: DeskNotice, Text: text}})
}

func termsText(terms []string) string {
	if len(terms) == 0 {
		return "no terms"
	}
	return "“" + strings.Join(terms, "”, “") + "”"
}

// linkRule says in words when a complaint is linked.
func linkRule(terms []string) string {
	if len(terms) < 2 {
		return "a complaint with the word is linked"
	}
	return "a complaint with at least two of them is linked"
}
