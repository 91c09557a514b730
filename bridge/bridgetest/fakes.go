// Package bridgetest holds recording fakes of bridge.Network and
// bridge.Desk, a manual clock, and NewTestBridge, which runs a real Bridge
// (real memdb store, real journal) against them. The fakes keep what the
// bridge did to them and let a test act as a customer or a staff member.
// Everything is safe for concurrent use.
package bridgetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// Network is a recording bridge.Network. Publish records replies and
// answers with a link; FailNext makes the next publishes fail; Hold makes
// them wait (a network that hangs, or a crash in mid-attempt).
type Network struct {
	name string

	mu         sync.Mutex
	inbox      bridge.Inbox
	published  []bridge.Reply
	attempts   []bridge.Reply
	keys       map[string]bridge.PostRef
	fail       []error
	publishes  gate // Hold: publishes wait until Release
	limits     bridge.TextLimits
	idempotent bool
	noDMs      bool
	unplugged  bool
	budget     bridge.Budget
	next       int
}

var (
	_ bridge.Network         = (*Network)(nil)
	_ bridge.Idempotent      = (*Network)(nil)
	_ bridge.DirectMessenger = (*Network)(nil)
	_ bridge.PublishPacer    = (*Network)(nil)
	_ bridge.Broadcaster     = (*Network)(nil)
)

// Broadcasts reports that the network takes public posts (status threads).
func (n *Network) Broadcasts() bool { return true }

// NewNetwork returns a network called name with a 500-character limit.
func NewNetwork(name string) *Network {
	return &Network{name: name, limits: bridge.TextLimits{Max: 500, Unit: "characters"}, keys: map[string]bridge.PostRef{}}
}

// Name is the network's name.
func (n *Network) Name() string { return n.name }

// Listen records the inbox (for Deliver) and blocks until ctx ends.
func (n *Network) Listen(ctx context.Context, in bridge.Inbox) error {
	n.mu.Lock()
	n.inbox = in
	n.mu.Unlock()
	<-ctx.Done()
	n.mu.Lock()
	if n.inbox == in { // another bridge (a new leader) may listen by now
		n.inbox = nil
	}
	n.mu.Unlock()
	return nil
}

// Listening reports whether Listen runs.
func (n *Network) Listening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inbox != nil
}

// Limits are the network's text limits (SetLimits changes them).
func (n *Network) Limits() bridge.TextLimits {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.limits
}

// SetLimits changes the limits.
func (n *Network) SetLimits(l bridge.TextLimits) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.limits = l
}

// Idempotent reports what SetIdempotent set (false at first).
func (n *Network) Idempotent() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.idempotent
}

// SetIdempotent makes the network deduplicate by idempotency key.
func (n *Network) SetIdempotent(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.idempotent = v
}

// DirectMessages reports whether DMs are set up (SetDirectMessages(false) turns them off).
func (n *Network) DirectMessages() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.noDMs
}

// SetDirectMessages turns DMs on or off.
func (n *Network) SetDirectMessages(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noDMs = !on
}

// FailNext makes the next len(errs) publishes fail with errs, in order.
func (n *Network) FailNext(errs ...error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail = append(n.fail, errs...)
}

// Hold makes publishes wait until Release; Held receives once per publish
// that is waiting.
func (n *Network) Hold() (held <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.publishes.hold(100)
}

// Release lets held publishes go on.
func (n *Network) Release() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.publishes.open()
}

// Publish records r as published (unless a failure is queued) and returns
// its link. An idempotent network answers a repeated key with the first post.
func (n *Network) Publish(ctx context.Context, r bridge.Reply) (bridge.PostRef, error) {
	n.mu.Lock()
	if n.unplugged {
		n.mu.Unlock()
		return bridge.PostRef{}, bridge.Permanent(fmt.Errorf("bridgetest: %s is unplugged", n.name), "unplugged")
	}
	n.attempts = append(n.attempts, r)
	g := n.publishes
	n.mu.Unlock()
	if err := g.wait(ctx); err != nil {
		return bridge.PostRef{}, bridge.AsPublishError(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.fail) > 0 {
		err := n.fail[0]
		n.fail = n.fail[1:]
		if err != nil {
			return bridge.PostRef{}, err
		}
	}
	if ref, ok := n.keys[r.IdempotencyKey]; ok && n.idempotent {
		return ref, nil
	}
	n.next++
	ref := bridge.PostRef{Network: n.name, ID: fmt.Sprintf("our-%d", n.next), URL: fmt.Sprintf("https://%s.example/our-%d", n.name, n.next)}
	n.keys[r.IdempotencyKey] = ref
	n.published = append(n.published, r)
	return ref, nil
}

// PublishBudget is what SetBudget set (none at first: unpaced).
func (n *Network) PublishBudget() bridge.Budget {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.budget
}

// SetBudget sets the publishing budget the network declares; set it before
// the bridge is built.
func (n *Network) SetBudget(b bridge.Budget) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.budget = b
}

// Unplug makes every later publish fail at once without reaching the
// network (calls already under way, held or not, go on): what a crashed
// process no longer sends. Plug undoes it.
func (n *Network) Unplug() { n.mu.Lock(); n.unplugged = true; n.mu.Unlock() }

// Plug undoes Unplug.
func (n *Network) Plug() { n.mu.Lock(); n.unplugged = false; n.mu.Unlock() }

// Published lists the replies that went out, oldest first.
func (n *Network) Published() []bridge.Reply {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.published)
}

// PublishedTo lists the replies that went out to handle, oldest first.
func (n *Network) PublishedTo(handle string) []bridge.Reply {
	var out []bridge.Reply
	for _, r := range n.Published() {
		if r.To.Handle == handle {
			out = append(out, r)
		}
	}
	return out
}

// Attempts lists every publish call, failed ones included.
func (n *Network) Attempts() []bridge.Reply {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.attempts)
}

// Deliver hands p to the listening bridge, as the network's stream would.
func (n *Network) Deliver(ctx context.Context, p bridge.Post) error {
	n.mu.Lock()
	in := n.inbox
	n.mu.Unlock()
	if in == nil {
		return fmt.Errorf("bridgetest: %s is not listening", n.name)
	}
	if p.Network == "" {
		p.Network = n.name
	}
	return in.Post(ctx, p)
}

// Thread is one case thread (or incident thread) as the fake desk holds it.
type Thread struct {
	Ref      bridge.ThreadRef
	Card     bridge.CaseView // the card as last rendered
	Renders  int             // OpenThread and UpdateCard calls (OpenIncident, UpdateIncident)
	Messages []bridge.DeskMessage
	// Incident is the incident card as last rendered, for an incident's
	// thread (IsIncident).
	Incident   bridge.IncidentView
	IsIncident bool
}

// Note is a private line the desk showed one staff member.
type Note struct {
	Thread  bridge.ThreadRef
	StaffID string
	Text    string
}

// Desk is a recording bridge.Desk, bridge.Notifier and
// bridge.ThreadFinder. LoseAnswers and HoldOpens stand for a crash or a
// timeout between the desk showing a card and the bridge learning its
// thread.
type Desk struct {
	name string

	mu      sync.Mutex
	inbox   bridge.Inbox
	threads map[string]*Thread
	order   []string
	keys    map[string]string // thread id -> the key its card was posted with
	marks   map[string][]bridge.Delivery
	notes   []Note
	fail    []error
	lose    int   // OpenThreadKeyed answers to lose after posting
	noFind  error // FindThread fails with it, when set
	opens   gate  // HoldOpens: opens wait, card shown, until ReleaseOpens
	marking gate  // HoldMarks: marks wait, recorded, until ReleaseMarks
	n       int
	delay   time.Duration // each call takes this long (a paced desk)
	calls   []string      // "open E-5", "update E-5", "post", "mark", "notify", "open INC-1", "update INC-1"
}

var (
	_ bridge.Desk         = (*Desk)(nil)
	_ bridge.Notifier     = (*Desk)(nil)
	_ bridge.ThreadFinder = (*Desk)(nil)
	_ bridge.IncidentDesk = (*Desk)(nil)
)

// NewDesk returns a desk called name.
func NewDesk(name string) *Desk {
	return &Desk{name: name, threads: map[string]*Thread{}, keys: map[string]string{}, marks: map[string][]bridge.Delivery{}}
}

// LoseAnswers makes the next n OpenThreadKeyed calls show the card and
// then fail, as a desk whose answer timed out after it posted.
func (d *Desk) LoseAnswers(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lose = n
}

// FailFinds makes every FindThread fail with err (nil: find again), as a
// desk that cannot read its history.
func (d *Desk) FailFinds(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noFind = err
}

// HoldOpens makes OpenThreadKeyed show the card and then wait, before
// answering, until ReleaseOpens; held receives once per open that waits
// (the moment to take a crash image).
func (d *Desk) HoldOpens() (held <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opens.hold(16)
}

// ReleaseOpens lets held opens answer.
func (d *Desk) ReleaseOpens() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opens.open()
}

// HoldMarks makes Mark record the delivery and then wait, before
// answering, until ReleaseMarks; held receives once per mark that waits
// (the moment for staff to act while the desk is being told).
func (d *Desk) HoldMarks() (held <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.marking.hold(16)
}

// ReleaseMarks lets held marks answer.
func (d *Desk) ReleaseMarks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marking.open()
}

// OpenThreadKeyed records a new thread with its card and key.
func (d *Desk) OpenThreadKeyed(ctx context.Context, channel string, c bridge.CaseView, key string) (bridge.ThreadRef, error) {
	ref, err := d.OpenThread(ctx, channel, c)
	if err != nil {
		return ref, err
	}
	d.mu.Lock()
	d.keys[ref.ID] = key
	lost := d.lose > 0
	if lost {
		d.lose--
	}
	g := d.opens
	d.mu.Unlock()
	if err := g.wait(ctx); err != nil {
		return bridge.ThreadRef{}, err
	}
	if lost {
		return bridge.ThreadRef{}, fmt.Errorf("bridgetest: the answer to opening %s was lost", ref.ID)
	}
	return ref, nil
}

// FindThread finds the thread whose card was posted with key.
func (d *Desk) FindThread(_ context.Context, channel string, c bridge.CaseView, key string, _ time.Time) (bridge.ThreadRef, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.failing(); err != nil {
		return bridge.ThreadRef{}, false, err
	}
	if d.noFind != nil {
		return bridge.ThreadRef{}, false, d.noFind
	}
	for _, id := range d.order {
		if th := d.threads[id]; d.keys[id] == key && th.Ref.Channel == channel && th.Card.ID == c.ID {
			return th.Ref, true, nil
		}
	}
	return bridge.ThreadRef{}, false, nil
}

// Name is the desk's name.
func (d *Desk) Name() string { return d.name }

// Listen records the inbox (for Say) and blocks until ctx ends.
func (d *Desk) Listen(ctx context.Context, in bridge.Inbox) error {
	d.mu.Lock()
	d.inbox = in
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	if d.inbox == in { // another bridge (a new leader) may listen by now
		d.inbox = nil
	}
	d.mu.Unlock()
	return nil
}

// Listening reports whether Listen runs.
func (d *Desk) Listening() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inbox != nil
}

// FailNext makes the next len(errs) desk calls fail.
func (d *Desk) FailNext(errs ...error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = append(d.fail, errs...)
}

// SetDelay makes every later desk call take d, as a desk paced by its
// platform does.
func (d *Desk) SetDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// Calls lists the desk calls made, oldest first: "open E-5", "update
// E-5", "post", "mark", "notify", "open INC-1", "update INC-1".
func (d *Desk) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// called waits out the desk's delay (with d.mu released) and logs the
// call; d.mu held.
func (d *Desk) called(what string) {
	if delay := d.delay; delay > 0 {
		d.mu.Unlock()
		time.Sleep(delay)
		d.mu.Lock()
	}
	d.calls = append(d.calls, what)
}

func (d *Desk) failing() error {
	if len(d.fail) == 0 {
		return nil
	}
	err := d.fail[0]
	d.fail = d.fail[1:]
	return err
}

// OpenThread records a new thread with its card.
func (d *Desk) OpenThread(_ context.Context, channel string, c bridge.CaseView) (bridge.ThreadRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("open " + string(c.ID))
	if err := d.failing(); err != nil {
		return bridge.ThreadRef{}, err
	}
	d.n++
	ref := bridge.ThreadRef{Desk: d.name, Channel: channel, ID: fmt.Sprintf("%s-T%d", channel, d.n)}
	d.threads[ref.ID] = &Thread{Ref: ref, Card: c, Renders: 1}
	d.order = append(d.order, ref.ID)
	return ref, nil
}

// UpdateCard records the re-rendered card.
func (d *Desk) UpdateCard(_ context.Context, t bridge.ThreadRef, c bridge.CaseView) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("update " + string(c.ID))
	if err := d.failing(); err != nil {
		return err
	}
	th, ok := d.threads[t.ID]
	if !ok {
		return fmt.Errorf("bridgetest: no thread %s", t.ID)
	}
	th.Card = c
	th.Renders++
	return nil
}

// Post records a message in the thread.
func (d *Desk) Post(_ context.Context, t bridge.ThreadRef, m bridge.DeskMessage) (bridge.MessageRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("post")
	if err := d.failing(); err != nil {
		return bridge.MessageRef{}, err
	}
	th, ok := d.threads[t.ID]
	if !ok {
		return bridge.MessageRef{}, fmt.Errorf("bridgetest: no thread %s", t.ID)
	}
	th.Messages = append(th.Messages, m)
	d.n++
	return bridge.MessageRef{Desk: d.name, Channel: t.Channel, Thread: t.ID, ID: fmt.Sprintf("B%d", d.n)}, nil
}

// Mark records a delivery mark (and waits while marks are held).
func (d *Desk) Mark(ctx context.Context, m bridge.MessageRef, s bridge.Delivery) error {
	d.mu.Lock()
	d.called("mark")
	if err := d.failing(); err != nil {
		d.mu.Unlock()
		return err
	}
	d.marks[m.ID] = append(d.marks[m.ID], s)
	g := d.marking
	d.mu.Unlock()
	return g.wait(ctx)
}

// Notify records a private line.
func (d *Desk) Notify(_ context.Context, _ string, t bridge.ThreadRef, staffID, text string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("notify")
	if err := d.failing(); err != nil {
		return err
	}
	d.notes = append(d.notes, Note{Thread: t, StaffID: staffID, Text: text})
	return nil
}

// Threads lists the threads, in the order they were opened.
func (d *Desk) Threads() []Thread {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Thread, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, d.copyThread(id))
	}
	return out
}

func (d *Desk) copyThread(id string) Thread {
	th := *d.threads[id]
	th.Messages = slices.Clone(th.Messages)
	return th
}

// ThreadsOf lists the threads of case id, oldest first.
func (d *Desk) ThreadsOf(id bridge.CaseID) []Thread {
	var out []Thread
	for _, th := range d.Threads() {
		if th.Card.ID == id {
			out = append(out, th)
		}
	}
	return out
}

// Thread returns the thread with thread id.
func (d *Desk) Thread(id string) (Thread, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.threads[id]; !ok {
		return Thread{}, false
	}
	return d.copyThread(id), true
}

// Marks lists the marks a message got, oldest first.
func (d *Desk) Marks(messageID string) []bridge.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.marks[messageID])
}

// LastMark is the mark a message shows now (zero if none).
func (d *Desk) LastMark(messageID string) bridge.Delivery {
	ms := d.Marks(messageID)
	if len(ms) == 0 {
		return bridge.Delivery{}
	}
	return ms[len(ms)-1]
}

// Notes lists the private lines shown to staffID.
func (d *Desk) Notes(staffID string) []Note {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Note
	for _, n := range d.notes {
		if n.StaffID == staffID {
			out = append(out, n)
		}
	}
	return out
}

// HasMessage reports whether thread id shows a message containing sub.
func (d *Desk) HasMessage(thread, sub string) bool {
	th, ok := d.Thread(thread)
	if !ok {
		return false
	}
	for _, m := range th.Messages {
		if strings.Contains(m.Text, sub) {
			return true
		}
	}
	return false
}

// Say delivers a staff message in thread t to the bridge and returns its ref.
func (d *Desk) Say(ctx context.Context, t bridge.ThreadRef, by bridge.Staff, text string) (bridge.MessageRef, error) {
	return d.SayMentioning(ctx, t, by, text)
}

// SayMentioning is Say for a message in which the desk found mentions
// of itself (colleagues, groups, @here).
func (d *Desk) SayMentioning(ctx context.Context, t bridge.ThreadRef, by bridge.Staff, text string, mentions ...bridge.DeskMention) (bridge.MessageRef, error) {
	d.mu.Lock()
	in := d.inbox
	d.n++
	ref := bridge.MessageRef{Desk: d.name, Channel: t.Channel, Thread: t.ID, ID: fmt.Sprintf("S%d", d.n), Author: by.ID}
	d.mu.Unlock()
	if in == nil {
		return ref, fmt.Errorf("bridgetest: %s is not listening", d.name)
	}
	return ref, in.StaffMessage(ctx, bridge.StaffMessage{Kind: bridge.MessageNew, Thread: t, Message: ref, Staff: by, Text: text, Mentions: mentions, At: time.Now()})
}

// Edit delivers an edit of message m.
func (d *Desk) Edit(ctx context.Context, t bridge.ThreadRef, m bridge.MessageRef, by bridge.Staff, text string) error {
	return d.deliver(ctx, bridge.StaffMessage{Kind: bridge.MessageEdited, Thread: t, Message: m, Staff: by, Text: text, At: time.Now()})
}

// Delete delivers a delete of message m.
func (d *Desk) Delete(ctx context.Context, t bridge.ThreadRef, m bridge.MessageRef, by bridge.Staff) error {
	return d.deliver(ctx, bridge.StaffMessage{Kind: bridge.MessageDeleted, Thread: t, Message: m, Staff: by, At: time.Now()})
}

// Deliver hands m to the listening bridge as it is (an edit carrying
// mentions, a redelivery).
func (d *Desk) Deliver(ctx context.Context, m bridge.StaffMessage) error { return d.deliver(ctx, m) }

func (d *Desk) deliver(ctx context.Context, m bridge.StaffMessage) error {
	d.mu.Lock()
	in := d.inbox
	d.mu.Unlock()
	if in == nil {
		return fmt.Errorf("bridgetest: %s is not listening", d.name)
	}
	return in.StaffMessage(ctx, m)
}

// Clock is a manual bridge.Clock: time moves only with Advance.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter

	jumpAt time.Time     // JumpBeforeTimer's moment
	jumpBy time.Duration // and its jump (0: none pending)
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

var _ bridge.Clock = (*Clock)(nil)

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires once the clock has been advanced by d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jumpBefore(c.now.Add(d))
	return c.timer(c.now.Add(d))
}

// At fires once the clock shows t or later.
func (c *Clock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jumpBefore(t)
	return c.timer(t)
}

// JumpBeforeTimer makes the clock advance by d just before it arms the
// next timer asked for the moment at (After from the time it shows then,
// or At): a test's Advance landing while the code asking for the timer
// works out its wait.
func (c *Clock) JumpBeforeTimer(at time.Time, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jumpAt, c.jumpBy = at, d
}

// jumpBefore makes JumpBeforeTimer's jump if at is its moment; c.mu is held.
func (c *Clock) jumpBefore(at time.Time) {
	if c.jumpBy > 0 && at.Equal(c.jumpAt) {
		c.advance(c.jumpBy)
		c.jumpBy = 0
	}
}

// timer arms a timer for at; c.mu is held.
func (c *Clock) timer(at time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if !at.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: at, ch: ch})
	return ch
}

// Advance moves the clock on by d and fires the timers due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(d)
}

// advance is Advance with c.mu held.
func (c *Clock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}
