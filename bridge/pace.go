package bridge

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The outbox paces publications per network within the budget the network
// declares (PublishPacer: Mastodon 300 requests per 5 minutes, Bluesky
// createRecord points, X posts per 15 minutes) and within Config.Pacing
// when that is lower, as a token bucket holding one window's budget. A
// network that answers "rate limited, wait" (a 429 with its reset, or X
// holding a call whose window is used up) holds its whole lane until then.
// Items wait queued, unattempted, for their turn; so a surge of
// acknowledgements never turns into 429s, retries and failures, and the
// incident card can tell when they will all be out. Staff's own replies
// go before an incident's fan-out (dispatch takes them first).

// publishPacer holds one lane per network; safe for concurrent use. Its
// times are the bridge's clock.
type publishPacer struct {
	mu    sync.Mutex
	lanes map[string]*lane
}

type lane struct {
	budget Budget
	lim    *rate.Limiter // nil: unpaced
	hold   time.Time     // the network asked us to wait until then
}

// newPublishPacer makes a lane for each network: the network's own budget,
// lowered by cfg where cfg names one. It returns warnings for budgets cfg
// sets above the network's (those are not used).
func newPublishPacer(networks map[string]Network, cfg map[string]Budget) (*publishPacer, []string) {
	p := &publishPacer{lanes: map[string]*lane{}}
	var warnings []string
	for name, n := range networks {
		var own Budget
		if pp, ok := n.(PublishPacer); ok {
			own = pp.PublishBudget()
		}
		use := own
		if set, ok := cfg[name]; ok && !set.IsZero() {
			switch {
			case own.IsZero() || set.rate() <= own.rate():
				use = set
			default:
				warnings = append(warnings, "outbox.pacing."+name+": "+set.String()+" is above what "+networkTitle(name)+" allows ("+own.String()+"); using "+own.String())
			}
		}
		l := &lane{budget: use}
		if !use.IsZero() {
			l.lim = rate.NewLimiter(rate.Limit(use.rate()), use.Requests)
		}
		p.lanes[name] = l
	}
	return p, warnings
}

// rate is the budget in publications per second.
func (b Budget) rate() float64 { return float64(b.Requests) / b.Per.Seconds() }

// take takes network's turn to publish at now, or says how long to wait.
func (p *publishPacer) take(network string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lanes[network]
	if l == nil {
		return 0
	}
	if l.hold.After(now) {
		return l.hold.Sub(now)
	}
	if l.lim == nil {
		return 0
	}
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// ready reports whether network would take a publication at now (no
// hold, a token left), without taking it.
func (p *publishPacer) ready(network string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lanes[network]
	return l == nil || !l.hold.After(now) && (l.lim == nil || l.lim.TokensAt(now) >= 1)
}

// observe holds network's lane after an answer that says to wait: a
// rate limit with a time to wait, before anything was sent.
func (p *publishPacer) observe(network string, err error, now time.Time) {
	if err == nil {
		return
	}
	pe := AsPublishError(err)
	if !pe.Retryable || pe.MaybeSent || pe.RetryAfter <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.lanes[network]; l != nil && now.Add(pe.RetryAfter).After(l.hold) {
		l.hold = now.Add(pe.RetryAfter)
	}
}

// eta is how long pending publications per network take at their lanes'
// pace from now: the slowest network's.
func (p *publishPacer) eta(pending map[string]int, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var worst time.Duration
	for network, n := range pending {
		l := p.lanes[network]
		if l == nil || n == 0 {
			continue
		}
		var d time.Duration
		if l.hold.After(now) {
			d = l.hold.Sub(now)
		}
		if l.lim != nil {
			tokens := l.lim.TokensAt(now.Add(d))
			if more := float64(n) - tokens; more > 0 {
				d += time.Duration(more / l.budget.rate() * float64(time.Second))
			}
		}
		worst = max(worst, d)
	}
	return worst
}

// Budgets are the budgets the outbox paces each network by (zero: unpaced).
func (b *Bridge) Budgets() map[string]Budget {
	out := map[string]Budget{}
	for name, l := range b.outbox.pace.lanes {
		out[name] = l.budget
	}
	return out
}
