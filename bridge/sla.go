package bridge

import (
	"context"
	"time"
)

// SLA kinds: the values of earshot_sla_breaches_total's kind label.
const (
	SLAFirstResponse = "first_response"
	SLAResolution    = "resolution"
)

// slaEvery is how often open cases are checked against their deadlines.
const slaEvery = 5 * time.Second

// watchSLA checks deadlines until ctx ends. A breach is journaled once per
// case and kind, so it is counted once, restarts included.
func (b *Bridge) watchSLA(ctx context.Context) {
	b.every(ctx, slaEvery, "SLA check", b.checkSLA)
}

// every runs check now and then every period (on the bridge's clock) until
// ctx ends; a failed check is logged and tried again next time.
func (b *Bridge) every(ctx context.Context, period time.Duration, what string, check func() error) {
	for {
		if err := check(); err != nil {
			b.log.Warn("bridge: "+what, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-b.clock.After(period):
		}
	}
}

// checkSLA journals every breach not yet recorded.
func (b *Bridge) checkSLA() error {
	now := b.clock.Now()
	var evs []Event
	tx := b.read()
	for _, q := range b.cfg.Queues {
		if q.SLA.FirstResponse <= 0 && q.SLA.Resolution <= 0 {
			continue
		}
		for _, s := range OpenStatuses {
			for _, c := range casesIn(tx, q.Name, s) {
				fr, res := b.dues(c)
				if !fr.IsZero() && c.RespondedAt.IsZero() && !c.FirstResponseBreached && now.After(fr) {
					evs = append(evs, Event{Type: EvBreached, Case: c.ID, Text: SLAFirstResponse})
				}
				if !res.IsZero() && !c.ResolutionBreached && now.After(res) {
					evs = append(evs, Event{Type: EvBreached, Case: c.ID, Text: SLAResolution})
				}
			}
		}
	}
	if len(evs) == 0 {
		return nil
	}
	_, err := b.change(func(w *writeTx) error {
		for _, ev := range evs {
			c, _ := getCase(w.Txn, ev.Case)
			if c == nil || !c.Status.Open() ||
				ev.Text == SLAFirstResponse && (c.FirstResponseBreached || !c.RespondedAt.IsZero()) ||
				ev.Text == SLAResolution && c.ResolutionBreached {
				continue // changed since the scan
			}
			if _, err := w.emit(ev); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
