package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
	"github.com/earshot-dev/earshot/demo"
	"github.com/earshot-dev/earshot/demo/script"
)

// BenchmarkIncidentSurge is the outage, measured from outside like a
// person would, through the production path (an ordinary config, the real
// connectors, the fakes at the platforms' limits):
//
//   - 1,000 complaints about one cause reach one queue in two minutes, a
//     third each on Mastodon, Bluesky and X; the surge detector suggests
//     an incident, a staff member declares it;
//   - meanwhile another staff member presses Claim / Release on an
//     unrelated case's card every few seconds: how long until the card
//     shows it (p99, max);
//   - once everyone is in, the owner writes one acknowledgement: how long
//     until every complainant has exactly one answer on their network,
//     against the least time the networks' budgets allow; duplicates and
//     lost answers counted;
//   - how many Slack messages the surge cost (cards, the incident card,
//     lines in its thread).
//
// Slack runs at its real pace (chat.postMessage 1/s per channel with a
// small burst, Tier 3 methods 50/min) in real time. The networks keep
// their real budgets (Mastodon 300 requests / 5 min, Bluesky 5,000
// points / hour at 3 a post, X 100 posts / 15 min) with their windows
// shortened by EARSHOT_BENCH_SCALE (default 30: 10 s, 2 min and 30 s), and
// Earshot's pacing shortened the same, so a run takes minutes, not an
// hour; EARSHOT_BENCH_SCALE=1 runs them at full length. The ratio of the
// least time to the time taken does not depend on the scale.
//
//	go test -run XXX -bench IncidentSurge -benchtime 1x -timeout 30m .
func BenchmarkIncidentSurge(b *testing.B) {
	for range b.N {
		r := runIncidentSurge(b, benchScale(b), 1000, 2*time.Minute)
		b.ReportMetric(r.ackTime.Seconds(), "ack_s")
		b.ReportMetric(r.least.Seconds(), "least_s")
		b.ReportMetric(100*r.least.Seconds()/r.ackTime.Seconds(), "%_of_allowed")
		b.ReportMetric(float64(r.duplicates), "duplicates")
		b.ReportMetric(float64(r.lost), "lost")
		b.ReportMetric(float64(r.slackMessages), "slack_msgs")
		b.ReportMetric(float64(r.pressP99.Milliseconds()), "press_p99_ms")
		b.ReportMetric(float64(r.pressMax.Milliseconds()), "press_max_ms")
		b.ReportMetric(float64(r.rateLimited), "429s")
		b.Logf("\n%s", r)
	}
}

func benchScale(b *testing.B) float64 {
	s := 30.0
	if v := os.Getenv("EARSHOT_BENCH_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 1 {
			b.Fatalf("EARSHOT_BENCH_SCALE=%q: want a number >= 1", v)
		}
		s = f
	}
	return s
}

// surgeResult is what one run measured.
type surgeResult struct {
	complaints, linked int
	perNetwork         map[string]int
	declaredAfter      time.Duration // from the first complaint
	ackTime, least     time.Duration
	doneAt             map[string]time.Duration // per network, from the acknowledgement
	duplicates, lost   int
	slackMessages      int
	cardsBefore        int // case cards posted before the declaration
	threadLines        int
	presses            int
	pressP50, pressP99 time.Duration
	pressMax           time.Duration
	slowest            []string // the slowest presses, with when they came
	rateLimited        int
	slackLimited       int // Slack calls the fake answered 429
	scale              float64
	debug              []string
}

func (r surgeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "complaints %d (%v), linked to the incident %d; declared %.1fs after the first\n", r.complaints, r.perNetwork, r.linked, r.declaredAfter.Seconds())
	fmt.Fprintf(&b, "acknowledgement to every complainant answered: %.1fs; least the networks allow: %.1fs (%.0f%%); per network done after %v\n",
		r.ackTime.Seconds(), r.least.Seconds(), 100*r.least.Seconds()/r.ackTime.Seconds(), r.doneAt)
	fmt.Fprintf(&b, "duplicates %d, lost %d, answers refused with 429 by the fakes %d\n", r.duplicates, r.lost, r.rateLimited)
	fmt.Fprintf(&b, "Slack messages for the surge: %d (%d case cards before the declaration, 1 incident card, %d lines in its thread) instead of %d cards\n",
		r.slackMessages, r.cardsBefore, r.threadLines, r.complaints)
	fmt.Fprintf(&b, "staff press to card: %d presses, p50 %v, p99 %v, max %v (network windows shortened %gx)\n",
		r.presses, r.pressP50.Round(time.Millisecond), r.pressP99.Round(time.Millisecond), r.pressMax.Round(time.Millisecond), r.scale)
	fmt.Fprintf(&b, "slowest presses: %s; Slack calls answered 429: %d\n", strings.Join(r.slowest, ", "), r.slackLimited)
	if f := os.Getenv("EARSHOT_BENCH_DEBUG"); f != "" {
		_ = os.WriteFile(f, []byte(strings.Join(r.debug, "\n")+"\n"), 0o600)
	}
	return b.String()
}

// The networks' real budgets per account.
var benchBudgets = map[string]bridge.Budget{
	demo.Mastodon: {Requests: 300, Per: 5 * time.Minute},
	demo.Bluesky:  {Requests: 5000 / 3, Per: time.Hour},
	demo.X:        {Requests: 100, Per: 15 * time.Minute},
}

// scaledNetwork is a network whose declared budget has its window
// shortened (as its fake's is); everything else is the real connector.
type scaledNetwork struct {
	bridge.Network
	budget bridge.Budget
}

func (n scaledNetwork) PublishBudget() bridge.Budget { return n.budget }

func (n scaledNetwork) Idempotent() bool {
	i, ok := n.Network.(bridge.Idempotent)
	return ok && i.Idempotent()
}

func (n scaledNetwork) Broadcasts() bool {
	bc, ok := n.Network.(bridge.Broadcaster)
	return ok && bc.Broadcasts()
}

// benchConfig is the demo's config with Slack at its real pace, the
// incident settings at their defaults and no X budget of the demo's.
func benchConfig(raw []byte) []byte {
	s := string(raw)
	s = regexp.MustCompile(`(?s)\n  pacing:   # the fake takes more than real Slack.*?updates_per_minute: 3000\n`).ReplaceAllString(s, "\n")
	s = regexp.MustCompile(`(?s)\nincidents:\n.*?card_every: 1s\n`).ReplaceAllString(s, "\n")
	s = regexp.MustCompile(`\n  posts_per_15m: 10000[^\n]*`).ReplaceAllString(s, "")
	return []byte(s)
}

func runIncidentSurge(b *testing.B, scale float64, n int, over time.Duration) surgeResult {
	b.Helper()
	r := surgeResult{perNetwork: map[string]int{}, doneAt: map[string]time.Duration{}, scale: scale}
	world, err := demo.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer world.Close()
	window := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	// The fakes at the platforms' limits (windows shortened by scale).
	world.Slack.SetPostRate(1, 3, 5)
	for _, m := range []string{"chat.update", "reactions.add", "reactions.remove", "chat.postEphemeral"} {
		world.Slack.SetMethodRate(m, 50, 10)
	}
	world.Mastodon.SetRateLimit(benchBudgets[demo.Mastodon].Requests, window(benchBudgets[demo.Mastodon].Per))
	world.Bluesky.SetPointsBudget(5000, window(time.Hour))
	world.X.SetRateLimit("POST /2/tweets", benchBudgets[demo.X].Requests, window(benchBudgets[demo.X].Per))

	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "earshot.yaml")
	raw := world.Config(demo.ConfigOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "journal"), UndoWindow: 5 * time.Second})
	if err := os.WriteFile(cfgPath, benchConfig(raw), 0o600); err != nil {
		b.Fatal(err)
	}
	p, err := prepareConfig(cfgPath, os.LookupEnv)
	if err != nil {
		b.Fatalf("bench config: %v", err)
	}
	old := buildConnectors
	buildConnectors = func(cfg connectors.Config, deps bridge.Deps) (*connectors.Set, error) {
		set, err := old(cfg, deps)
		if err != nil {
			return nil, err
		}
		for i, nw := range set.Networks {
			if bud, ok := benchBudgets[nw.Name()]; ok {
				set.Networks[i] = scaledNetwork{Network: nw, budget: bridge.Budget{Requests: bud.Requests, Per: window(bud.Per)}}
			}
		}
		return set, nil
	}
	defer func() { buildConnectors = old }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	ready := make(chan func() bool, 1)
	go func() {
		served <- serveAll(ctx, p, newLogger(io.Discard, "text", "error", nil), serveOptions{
			Serving: func(_ context.Context, s serving) { ready <- s.EngineReady },
		})
	}()
	engineReady := <-ready
	if err := script.WaitReady(ctx, world, engineReady, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()

	slackDesk, channel := demo.SlackDesk, ""
	for _, c := range demo.Channels {
		if c.Queue == "broadband" {
			channel = c.ID
		}
	}
	rui, mei := staffByHandle(b, "rui"), staffByHandle(b, "mei")
	start := time.Now()
	_, cardsAtStart, _ := world.Cards(slackDesk, channel, 1)

	// An unrelated case whose card staff keep pressing during the surge.
	if _, err := world.Post(ctx, demo.Mastodon, "zoe", "@earshot my broadband bill doubled this month, please check my account", demo.PostOptions{}); err != nil {
		b.Fatal(err)
	}
	zoe := waitMessage(b, 2*time.Minute, "zoe's card", func() (demo.Message, bool) {
		cards, _, _ := world.Cards(slackDesk, channel, 50)
		for _, c := range cards {
			if strings.Contains(c.Visible(), "bill doubled") && c.Has("earshot:claim") {
				return c, true
			}
		}
		return demo.Message{}, false
	})

	// What Slack saw, for EARSHOT_BENCH_DEBUG.
	var feedMu sync.Mutex
	var feed []string
	events := world.Slack.Subscribe()
	go func() {
		for ev := range events {
			feedMu.Lock()
			text := ""
			if ev.Message != nil {
				text = ev.Message.Text
				if len(text) > 60 {
					text = text[:60]
				}
			}
			feed = append(feed, fmt.Sprintf("%8.3f %s %s %q", time.Since(start).Seconds(), ev.Kind, ev.TS, text))
			feedMu.Unlock()
		}
	}()

	// The surge: n complaints over the period, a third on each network.
	networks := []string{demo.Mastodon, demo.Bluesky, demo.X}
	towns := []string{"Braga", "Guimarães", "Barcelos", "Famalicão", "Viana", "Póvoa"}
	texts := []string{
		"broadband down again in %s, no internet since 11:00",
		"no internet in %s for two hours, I work from home! broadband dead",
		"is there a broadband outage in %s? no internet, the router has no light at all",
		"internet down in %s, third time this month, broadband useless",
	}
	posted := make([]demo.PublicPost, n)
	surgeDone := make(chan struct{})
	var postErr error
	go func() {
		defer close(surgeDone)
		tick := over / time.Duration(n)
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * tick)); d > 0 {
				time.Sleep(d)
			}
			nw := networks[i%3]
			pp, err := world.Post(ctx, nw, fmt.Sprintf("cust%04d", i), mentionOf(world, nw)+" "+fmt.Sprintf(texts[i%4], towns[i%6])+fmt.Sprintf(" [B%d]", i), demo.PostOptions{})
			if err != nil {
				postErr = err
				return
			}
			posted[i] = pp
		}
	}()

	// Staff press Claim / Release on zoe's card every few seconds, and
	// time how long the card takes to show it.
	var pressMu sync.Mutex
	type press struct{ at, took time.Duration }
	var presses []press
	pressDone := make(chan struct{})
	stopPress := make(chan struct{})
	go func() {
		defer close(pressDone)
		claimed := false
		for {
			select {
			case <-stopPress:
				return
			case <-time.After(6 * time.Second):
			}
			action, want := "earshot:claim", "Claimed by "+mei.Name
			if claimed {
				action, want = "earshot:release", "*Status*\nNew"
			}
			t0 := time.Now()
			if err := world.Press(slackDesk, channel, zoe.ID, mei.ID, action, ""); err != nil {
				continue
			}
			for time.Since(t0) < time.Minute {
				if m, err := world.Message(slackDesk, channel, zoe.ID); err == nil && strings.Contains(m.Visible(), want) {
					pressMu.Lock()
					presses = append(presses, press{at: t0.Sub(start), took: time.Since(t0)})
					pressMu.Unlock()
					claimed = !claimed
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()

	// The suggestion, declared as soon as it shows.
	sugg := waitMessage(b, 2*time.Minute, "the suggestion", func() (demo.Message, bool) {
		cards, _, _ := world.Cards(slackDesk, channel, 200)
		for _, c := range cards {
			if strings.HasPrefix(c.CaseID, "INC-") && c.Has("earshot:incident:declare") {
				return c, true
			}
		}
		return demo.Message{}, false
	})
	if err := world.Press(slackDesk, channel, sugg.ID, rui.ID, "earshot:incident:declare", ""); err != nil {
		b.Fatal(err)
	}
	waitMessage(b, time.Minute, "the declaration on the card", func() (demo.Message, bool) {
		m, err := world.Message(slackDesk, channel, sugg.ID)
		return m, err == nil && strings.Contains(m.Visible(), "owned by "+rui.Name)
	})
	r.declaredAfter = time.Since(start)
	_, cardsAtDeclaration, _ := world.Cards(slackDesk, channel, 1)

	<-surgeDone
	if postErr != nil {
		b.Fatal(postErr)
	}
	r.complaints = n
	for _, pp := range posted {
		r.perNetwork[pp.Network]++
	}
	// Everyone linked: the card counts them.
	want := fmt.Sprintf("*Complaints*\n%d", n)
	waitMessage(b, 5*time.Minute, "every complaint on the incident card", func() (demo.Message, bool) {
		m, err := world.Message(slackDesk, channel, sugg.ID)
		return m, err == nil && strings.Contains(m.Visible(), want)
	})
	r.linked = n

	// One acknowledgement to everyone.
	ackAt := time.Now()
	if _, err := world.Say(slackDesk, channel, sugg.ID, rui.ID, "Hi {name}, sorry: a fibre cut near Braga is affecting broadband and internet in the area. Engineers are on site."); err != nil {
		b.Fatal(err)
	}
	answered := func() (map[string]int, map[string]int) {
		per := map[string]int{} // complaint id -> answers
		done := map[string]int{}
		for _, st := range world.Mastodon.Published() {
			per[st.InReplyTo]++
		}
		for _, p := range world.Bluesky.Published() {
			if p.Record.Reply != nil {
				per[p.Record.Reply.Parent.URI]++
			}
		}
		for _, t := range world.X.Published() {
			per[t.InReplyTo]++
		}
		for _, pp := range posted {
			if per[pp.ID] > 0 {
				done[pp.Network]++
			}
		}
		return per, done
	}
	deadline := time.Now().Add(time.Duration(float64(20*time.Minute)/scale) + 5*time.Minute)
	for {
		_, done := answered()
		for nw, k := range done {
			if k == r.perNetwork[nw] {
				if _, ok := r.doneAt[nw]; !ok {
					r.doneAt[nw] = time.Since(ackAt).Round(100 * time.Millisecond)
				}
			}
		}
		if len(r.doneAt) == len(r.perNetwork) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.ackTime = time.Since(ackAt)
	time.Sleep(time.Duration(float64(2*time.Minute) / scale)) // anything late would show as a duplicate
	close(stopPress)
	<-pressDone
	per, _ := answered()
	for _, pp := range posted {
		switch k := per[pp.ID]; {
		case k == 0:
			r.lost++
		case k > 1:
			r.duplicates += k - 1
		}
	}
	// The least time: the undo window, then each network's posts in
	// windows of its budget, the first window opened by the first post.
	undo := 5 * time.Second
	for nw, k := range r.perNetwork {
		bud := benchBudgets[nw]
		if nw == demo.Bluesky {
			bud.Requests = 5000 / 3
		}
		least := undo + time.Duration((k-1)/bud.Requests)*window(bud.Per)
		r.least = max(r.least, least)
	}
	r.rateLimited = world.Mastodon.RateLimited() + world.Bluesky.PointsRefused() + world.X.RateLimited()

	// The Slack messages of the surge: every card posted in the channel
	// since it began but zoe's, and the incident thread's lines.
	cards, total, _ := world.Cards(slackDesk, channel, 5000)
	thread, _ := world.Thread(slackDesk, channel, sugg.ID)
	r.cardsBefore = cardsAtDeclaration - cardsAtStart - 2 // zoe's and the incident's
	r.threadLines = len(thread) - 1
	r.slackMessages = total - cardsAtStart - 1 + r.threadLines
	_ = cards

	pressMu.Lock()
	r.presses = len(presses)
	slices.SortFunc(presses, func(x, y press) int { return int(y.took - x.took) })
	for _, p := range presses[:min(3, len(presses))] {
		r.slowest = append(r.slowest, fmt.Sprintf("%v at %v", p.took.Round(time.Millisecond), p.at.Round(time.Second)))
	}
	if len(presses) > 0 {
		from, to := presses[0].at.Seconds()-1, (presses[0].at+presses[0].took).Seconds()+0.5
		feedMu.Lock()
		for _, line := range feed {
			var at float64
			fmt.Sscanf(line, "%f", &at)
			if at >= from && at <= to {
				r.debug = append(r.debug, line)
			}
		}
		feedMu.Unlock()
	}
	r.slackLimited = world.Slack.RateLimited()
	latencies := make([]time.Duration, len(presses))
	for i, p := range presses {
		latencies[i] = p.took
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		r.pressP50 = latencies[len(latencies)/2]
		r.pressP99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
		r.pressMax = latencies[len(latencies)-1]
	}
	pressMu.Unlock()
	b.StopTimer()
	cancel()
	if err := <-served; err != nil {
		b.Logf("earshot stopped: %v", err)
	}
	return r
}

func staffByHandle(b *testing.B, handle string) demo.Person {
	for _, p := range demo.Staff {
		if p.Desk == demo.SlackDesk && p.Handle == handle {
			return p
		}
	}
	b.Fatalf("no staff %s", handle)
	return demo.Person{}
}

// mentionOf is how a post on network mentions the brand.
func mentionOf(w *demo.World, network string) string {
	switch network {
	case demo.Bluesky:
		return "@" + w.Bluesky.Us().Handle
	case demo.X:
		return "@" + w.X.Us().Username
	}
	return "@" + w.Mastodon.Us().Username
}

func waitMessage(b *testing.B, limit time.Duration, what string, f func() (demo.Message, bool)) demo.Message {
	b.Helper()
	deadline := time.Now().Add(limit)
	for {
		if m, ok := f(); ok {
			return m
		}
		if time.Now().After(deadline) {
			b.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
