package bridgetest

import (
	"context"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
)

// OpenIncident records a new incident thread with its card.
func (d *Desk) OpenIncident(_ context.Context, channel string, v bridge.IncidentView) (bridge.ThreadRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("open " + string(v.ID))
	if err := d.failing(); err != nil {
		return bridge.ThreadRef{}, err
	}
	d.n++
	ref := bridge.ThreadRef{Desk: d.name, Channel: channel, ID: fmt.Sprintf("%s-I%d", channel, d.n)}
	d.threads[ref.ID] = &Thread{Ref: ref, Incident: v, IsIncident: true, Renders: 1}
	d.order = append(d.order, ref.ID)
	return ref, nil
}

// UpdateIncident records the re-rendered incident card.
func (d *Desk) UpdateIncident(_ context.Context, t bridge.ThreadRef, v bridge.IncidentView) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called("update " + string(v.ID))
	if err := d.failing(); err != nil {
		return err
	}
	th, ok := d.threads[t.ID]
	if !ok || !th.IsIncident {
		return fmt.Errorf("bridgetest: no incident thread %s", t.ID)
	}
	th.Incident = v
	th.Renders++
	return nil
}

// IncidentThread returns the thread of incident id, if the desk shows it.
func (d *Desk) IncidentThread(id bridge.IncidentID) (Thread, bool) {
	for _, th := range d.Threads() {
		if th.IsIncident && th.Incident.ID == id {
			return th, true
		}
	}
	return Thread{}, false
}

// CaseThreads lists the case threads (not the incidents'), oldest first.
func (d *Desk) CaseThreads() []Thread {
	var out []Thread
	for _, th := range d.Threads() {
		if !th.IsIncident {
			out = append(out, th)
		}
	}
	return out
}

// Lines lists the texts of a thread's messages that contain sub.
func (th Thread) Lines(sub string) []string {
	var out []string
	for _, m := range th.Messages {
		if strings.Contains(m.Text, sub) {
			out = append(out, m.Text)
		}
	}
	return out
}
