package script

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/demo"
)

// Scene is one played story.
type Scene struct {
	Name  string
	About string
	Play  func(ctx context.Context, st *Stage) error
}

// Scenes are the incidents --script plays, in order.
var Scenes = []Scene{
	{Name: "Rail disruption", About: "a signal failure at rush hour: a burst of mentions and keyword posts, some follow-ups", Play: railDisruption},
	{Name: "Broadband outage", About: "300 near-identical complaints worked as one incident: suggested, declared, everyone acknowledged, a status thread, one split out to the engineers on Discord, resolved", Play: broadbandOutage},
	{Name: "Flight rebooking", About: "a cancelled flight: claim, move to DM for the booking reference, rebook, resolve", Play: flightRebooking},
}

// Play plays every scene in order, each announced and timed on st.Out.
// It stops at the first scene that fails (Earshot did not react in time)
// or when ctx ends.
func Play(ctx context.Context, st *Stage) error {
	for _, sc := range Scenes {
		st.say("▶ %s: %s", sc.Name, sc.About)
		start := time.Now()
		if err := sc.Play(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		st.say("✔ %s, in %.1fs", sc.Name, time.Since(start).Seconds())
	}
	return nil
}

// Seed sets the scene a newcomer finds when the sandbox opens: a review
// from last night that nobody answered (its first-response SLA long
// breached), a few complaints from this morning on every network, one
// answered, one answered and resolved, one escalated from Slack to the
// network engineers' forum on Discord with a note, one claimed by the
// mobile team on Discord, a refused command from a colleague who is not
// staff, and two left new. It blocks until Earshot has done all of it (about one undo
// window) and, with Stage.Metrics, until the breach is counted.
func Seed(ctx context.Context, st *Stage) error {
	rui, mei, sam, alex := person(demo.SlackDesk, "rui"), person(demo.SlackDesk, "mei"), person(demo.SlackDesk, "sam"), person(demo.SlackDesk, "alex")
	aiko := person(demo.DiscordDesk, "aiko")
	slack, rail := channelOf("rail")
	_, broadband := channelOf("broadband")
	_, care := channelOf("care")
	discord, mobile := channelOf("mobile")
	overnight := time.Now().Add(-10 * time.Hour)
	posts := []struct {
		network, handle, text string
		at                    time.Time
	}{
		{demo.Reviews, "priya", "Two weeks waiting for the refund of my cancelled flight. Nobody answers my emails.", overnight},
		{demo.Mastodon, "ana", "@earshot the 07:40 train to Porto is cancelled again. Is the 08:10 running?", time.Time{}},
		{demo.Bluesky, "kai", "@earshot.fake.bsky broadband down since 6am in Braga, the router is blinking red", time.Time{}},
		{demo.X, "nadia", "@earshot my flight EA214 to Madrid was cancelled, I need to rebook for tomorrow", time.Time{}},
		{demo.Mastodon, "joao", "Signal failure at Campanhã again, every train delayed #railchaos", time.Time{}},
		{demo.X, "priya", "@earshot my phone has had no bars since the storm last night, 5G icon gone", time.Time{}},
	}
	for _, p := range posts {
		if _, err := st.post(ctx, p.network, p.handle, p.text, demo.PostOptions{At: p.at}); err != nil {
			return err
		}
	}
	return together(
		func() error { // answered, left open
			c, err := st.card(ctx, slack, rail, "07:40 train to Porto")
			if err != nil {
				return err
			}
			if err := st.claim(ctx, rui, c); err != nil {
				return err
			}
			return st.reply(ctx, rui, c, "Sorry Ana, the 07:40 was cancelled after a signal failure at Campanhã. The 08:10 is running, about 5 minutes late.")
		},
		func() error { // answered and resolved
			c, err := st.card(ctx, slack, care, "EA214")
			if err != nil {
				return err
			}
			if err := st.claim(ctx, mei, c); err != nil {
				return err
			}
			if err := st.reply(ctx, mei, c, "Hi Nadia, so sorry. You are rebooked on EA216 tomorrow at 09:15, same seat class; the new boarding pass is in your email."); err != nil {
				return err
			}
			if err := st.press(ctx, mei, c, "resolve", ""); err != nil {
				return err
			}
			return st.cardShows(ctx, c, "Resolved")
		},
		func() error { // claimed with a text command, noted, escalated
			c, err := st.card(ctx, slack, broadband, "blinking red")
			if err != nil {
				return err
			}
			if _, err := st.write(sam, c, "!claim"); err != nil {
				return err
			}
			if err := st.cardShows(ctx, c, "Claimed by "+sam.Name); err != nil {
				return err
			}
			if _, err := st.write(sam, c, "note: red light = line fault, not the router. Handing to network-ops."); err != nil {
				return err
			}
			if err := st.press(ctx, sam, c, "escalate", "network-ops"); err != nil {
				return err
			}
			return st.cardShows(ctx, c, "Escalated to network-ops")
		},
		func() error { // a colleague who is not staff is refused, privately
			c, err := st.card(ctx, slack, care, "refund of my cancelled flight")
			if err != nil {
				return err
			}
			return st.pressUntil(ctx, alex, c, "claim", "", "the refusal shown to "+alex.Name,
				func(_ demo.Message, notice string) bool { return notice != "" })
		},
		func() error { // claimed on Discord, by the mobile team
			c, err := st.card(ctx, discord, mobile, "no bars since the storm")
			if err != nil {
				return err
			}
			return st.claim(ctx, aiko, c)
		},
		func() error { // last night's review is long past its first-response target
			if st.Metrics == nil {
				return nil
			}
			return st.waitFor(ctx, "the overnight review's SLA breach to be counted", func() bool {
				s, err := Summarize(st.Metrics)
				return err == nil && s.Breaches["first_response"] > 0
			})
		},
	)
}

// notices are the private notices p has seen, in every channel.
func (st *Stage) notices(p demo.Person) []demo.Notice {
	n, _ := st.World.Notices(p.Desk, "", p.ID, 1000)
	return n
}

// railDisruption: a burst of mentions and keyword posts about one signal
// failure, some follow-ups from people still waiting; two agents work the
// queue from the oldest card, the lead writes a note for the team.
func railDisruption(ctx context.Context, st *Stage) error {
	slack, rail := channelOf("rail")
	rui, mei, lena := person(slack, "rui"), person(slack, "mei"), person(slack, "lena")
	lines := []string{
		"@earshot stuck at Ermesinde, the 08:32 train hasn't moved for 20 minutes",
		"@earshot any news on the signal failure? My train is delayed 35 minutes",
		"trains delayed everywhere north of Porto this morning #railchaos",
		"@earshot the platform display says cancelled but staff say it's running??",
		"@earshot is the 09:05 train to Braga cancelled or delayed? Conflicting info at the station",
	}
	networks := []string{demo.Mastodon, demo.Bluesky, demo.X}
	handles := []string{"rita", "tiago", "ines", "bruno", "sofia", "miguel", "carla", "duarte"}
	burst := st.n(24)
	type posted struct {
		network, handle, id, phrase string
	}
	var all []posted
	for i := range burst {
		n := networks[i%len(networks)]
		h := fmt.Sprintf("%s%d", handles[i%len(handles)], i/len(handles)+1)
		text := lines[i%len(lines)]
		if n == demo.Bluesky {
			text = bskyMention(text)
		}
		phrase := fmt.Sprintf("(ref R%d)", i+1)
		p, err := st.post(ctx, n, h, text+" "+phrase, demo.PostOptions{})
		if err != nil {
			return err
		}
		all = append(all, posted{n, h, p.ID, phrase})
	}
	st.say("  %d complaints posted on Mastodon, Bluesky and X", burst)
	follow := st.n(6)
	for i := 0; i < follow && i < len(all); i++ {
		p := all[i]
		text := "Still waiting, 50 minutes now. Can someone answer?"
		if p.network != demo.Reviews {
			text = mention(p.network) + " " + text
		}
		if _, err := st.post(ctx, p.network, p.handle, text, demo.PostOptions{InReplyTo: p.id}); err != nil {
			return err
		}
	}
	st.say("  %d follow-ups from people still waiting", follow)
	first, err := st.card(ctx, slack, rail, all[0].phrase)
	if err != nil {
		return err
	}
	if _, err := st.write(lena, first, "note: signal failure between Ermesinde and Campanhã, ETA 10:30. Use the holding line and point to the live map."); err != nil {
		return err
	}
	answer := "We're sorry: a signal failure between Ermesinde and Campanhã is delaying trains north of Porto. Engineers are on site; we expect normal service by 10:30. Live times: the app's journey planner."
	answered := make([]int, 2)
	err = together(
		func() error {
			var err error
			answered[0], err = st.workQueue(ctx, rui, rail, st.n(5), answer, true)
			return err
		},
		func() error {
			var err error
			answered[1], err = st.workQueue(ctx, mei, rail, st.n(5), answer, false)
			return err
		},
	)
	st.say("  %s and %s answered %d cases; the rest wait in #%s", rui.Name, mei.Name, answered[0]+answered[1], channelName(slack, rail))
	return err
}

// workQueue is an agent working a queue: take the oldest unclaimed card,
// claim it, answer it, and resolve it when resolve is set; up to n cases.
func (st *Stage) workQueue(ctx context.Context, p demo.Person, channel string, n int, answer string, resolve bool) (int, error) {
	done := 0
	for done < n {
		st.claimMu.Lock()
		cards := st.unclaimed(p.Desk, channel, "New", 1)
		if len(cards) == 0 {
			st.claimMu.Unlock()
			return done, nil
		}
		c := cards[0]
		err := st.claim(ctx, p, c)
		st.claimMu.Unlock()
		if err != nil {
			return done, err
		}
		if err := st.reply(ctx, p, c, answer); err != nil {
			return done, err
		}
		if resolve {
			if _, err := st.write(p, c, "!resolve signal failure explained, service restored by 10:30"); err != nil {
				return done, err
			}
			if err := st.cardShows(ctx, c, "Resolved"); err != nil {
				return done, err
			}
		}
		done++
	}
	return done, nil
}

// broadbandOutage plays the outage through incident mode: the first
// complaints get cards and the surge detector suggests an incident; Rui
// declares it and owns it; the rest of the crowd joins it without cards,
// listed in batches in its thread; Rui writes one acknowledgement there
// and every complainant gets it, paced, once; he starts the public status
// thread and posts an update; a customer whose fault is different is split
// out and escalated to the engineers on Discord, where Tomás answers; Rui
// resolves the incident with a closing message to everyone. It says how
// long it took from the declaration until every complainant had an
// answer, and how many Slack messages the surge cost.
func broadbandOutage(ctx context.Context, st *Stage) error {
	slack, bb := channelOf("broadband")
	discord, netops := channelOf("network-ops")
	rui, sam := person(slack, "rui"), person(slack, "sam")
	tomas, lena := person(discord, "tomas"), person(slack, "lena")
	towns := []string{"Braga", "Guimarães", "Barcelos", "Famalicão", "Viana", "Póvoa"}
	texts := []string{
		"broadband down again in %s, no internet since 11:00",
		"no internet in %s for two hours, I work from home! broadband dead",
		"is there a broadband outage in %s? no internet, the router has no light at all",
		"internet down in %s, third time this month, broadband useless",
	}
	networks := []string{demo.X, demo.Bluesky, demo.Mastodon, demo.X}
	crowd := st.n(300)
	early := min(crowd, max(4, st.n(20)))
	_, cardsBefore, err := st.World.Cards(slack, bb, 1)
	if err != nil {
		return err
	}
	complain := func(from, to int) error {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for w := range 4 { // four feeds at once, as a surge looks
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += 4 {
					n := networks[i%len(networks)]
					text := mention(n) + " " + fmt.Sprintf(texts[i%len(texts)], towns[i%len(towns)]) + fmt.Sprintf(" [B%d]", i+1)
					if _, err := st.post(ctx, n, fmt.Sprintf("home_%03d", i+1), text, demo.PostOptions{}); err != nil {
						errs[w] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}

	// The first complaints: cards, and the detector's suggestion.
	if err := complain(0, early); err != nil {
		return err
	}
	sugg, err := st.incidentCard(ctx, slack, bb, "earshot:incident:declare")
	if err != nil {
		return err
	}
	m, _ := st.current(sugg)
	st.say("  %d complaints in; Earshot suggests %s: %s", early, sugg.CaseID, firstLine(m, "complaints in"))
	declared := time.Now()
	if err := st.pressUntil(ctx, rui, sugg, "incident:declare", "", sugg.CaseID+" declared",
		func(m demo.Message, _ string) bool { return strings.Contains(status(m), "owned by "+rui.Name) }); err != nil {
		return err
	}
	st.say("  %s declared %s and owns it", rui.Name, sugg.CaseID)

	// The rest of the crowd joins the incident: no cards, lines in its thread.
	if err := complain(early, crowd); err != nil {
		return err
	}
	if err := st.cardShows(ctx, sugg, fmt.Sprintf("*Complaints*\n%d", crowd)); err != nil {
		return err
	}
	st.say("  %d complaints in one incident", crowd)

	// One acknowledgement to everyone, paced, at most once each.
	ack := "Hi {name}, sorry: a fibre cut near Braga is affecting broadband in the area. Engineers are on site and we expect service back by 16:00. No need to restart your router."
	id, err := st.write(rui, sugg, ack)
	if err != nil {
		return err
	}
	if err := st.marked(ctx, sugg, id, "sent"); err != nil {
		return err
	}
	took := time.Since(declared)
	st.say("  %s's acknowledgement went to all %d complainants, %.1fs after the declaration", rui.Name, crowd, took.Seconds())

	// The public status thread, and an update under it.
	for _, line := range []string{
		"!incident status Broadband is down around Braga after a fibre cut. Engineers are on site; next update 16:00.",
		"!incident update Engineers have spliced the cable; service is coming back street by street.",
	} {
		if _, err := st.write(rui, sugg, line); err != nil {
			return err
		}
	}
	if err := st.cardShows(ctx, sugg, "Public status thread"); err != nil {
		return err
	}
	st.say("  %s started the public status thread and posted an update", rui.Name)

	// One customer's fault is not the cut: split out and escalated.
	if _, err := st.post(ctx, demo.Mastodon, fmt.Sprintf("home_%03d", 3), "@earshot broadband is back for my neighbours, but my router still has no light at all", demo.PostOptions{}); err != nil {
		return err
	}
	split, err := st.lineWith(ctx, sugg, "back for my neighbours", "earshot:incident:split")
	if err != nil {
		return err
	}
	if err := st.World.Press(slack, bb, split.ID, sam.ID, "earshot:incident:split", ""); err != nil {
		return err
	}
	c, err := st.card(ctx, slack, bb, "[B3]")
	if err != nil {
		return err
	}
	if err := st.claim(ctx, sam, c); err != nil {
		return err
	}
	if _, err := st.write(sam, c, "note: no light on the line = a fault at the street cabinet, not the fibre cut."); err != nil {
		return err
	}
	if err := st.press(ctx, sam, c, "escalate", "network-ops"); err != nil {
		return err
	}
	if err := st.cardShows(ctx, c, "Escalated to network-ops"); err != nil {
		return err
	}
	posts := st.unclaimed(discord, netops, "Escalated", 1)
	if len(posts) == 0 {
		return fmt.Errorf("no escalated case waits in #%s", channelName(discord, netops))
	}
	e := posts[0]
	if err := st.claim(ctx, tomas, e); err != nil {
		return err
	}
	if err := st.reply(ctx, tomas, e, "Tomás from the network team here: your line has its own fault at the street cabinet. A crew is on its way; it should be fixed by 15:00."); err != nil {
		return err
	}
	st.say("  %s split %s out of the incident and escalated it; %s answered it from the Discord forum", sam.Name, c.CaseID, tomas.Name)

	// Resolved: the closing message to everyone, their cases resolved.
	rid, err := st.write(rui, sugg, "!resolve Service is back in Braga. Sorry for the trouble, {name}, and thank you for your patience.")
	if err != nil {
		return err
	}
	if err := st.marked(ctx, sugg, rid, "sent"); err != nil {
		return err
	}
	cards, cardsAfter, err := st.World.Cards(slack, bb, 1)
	if err != nil || len(cards) == 0 {
		return fmt.Errorf("reading #%s: %v", channelName(slack, bb), err)
	}
	thread, err := st.World.Thread(slack, bb, sugg.Thread)
	if err != nil {
		return err
	}
	st.say("  %s resolved %s: the closing message went to every complainant", rui.Name, sugg.CaseID)
	st.say("  declaration to every complainant answered: %.1fs", took.Seconds())
	st.say("  Slack messages for %d complaints: %d (%d cards, the incident card included, and %d lines in its thread), instead of %d cards",
		crowd, cardsAfter-cardsBefore+len(thread)-1, cardsAfter-cardsBefore, len(thread)-1, crowd)

	before := len(st.notices(lena))
	if err := st.World.Slash(slack, bb, "", lena.ID, "/queue"); err != nil {
		return err
	}
	return st.waitFor(ctx, lena.Name+"'s /queue listing", func() bool { return len(st.notices(lena)) > before })
}

// flightRebooking: one customer, a whole case: claim, a public answer,
// move to DM with !dm (a public line says so, the question goes by DM),
// the customer answers by DM, the rebooking goes by DM, resolve with a
// summary.
func flightRebooking(ctx context.Context, st *Stage) error {
	slack, care := channelOf("care")
	mei := person(slack, "mei")
	if _, err := st.post(ctx, demo.X, "lucia", "@earshot my flight EA512 to Lisbon was cancelled an hour before boarding. I need to get home tomorrow!", demo.PostOptions{}); err != nil {
		return err
	}
	c, err := st.card(ctx, slack, care, "EA512")
	if err != nil {
		return err
	}
	st.say("  %s opened for @lucia on X", c.CaseID)
	if err := st.claim(ctx, mei, c); err != nil {
		return err
	}
	if err := st.reply(ctx, mei, c, "Hi Lucía, I'm so sorry about EA512. I can rebook you now: I'll send you a DM to take your booking reference."); err != nil {
		return err
	}
	dmsBefore, _ := st.World.DMs(demo.X, 1000)
	if _, err := st.write(mei, c, "!dm Hi Lucía, Mei from the care team here. Could you send me your booking reference?"); err != nil {
		return err
	}
	if err := st.cardShows(ctx, c, "Direct messages"); err != nil {
		return err
	}
	if err := st.waitFor(ctx, "the brand's DM to @lucia", func() bool {
		dms, _ := st.World.DMs(demo.X, 1000)
		return len(dms) > len(dmsBefore)
	}); err != nil {
		return err
	}
	if _, err := st.post(ctx, demo.X, "lucia", "Booking reference QX7K2P. Anything tomorrow morning works.", demo.PostOptions{Direct: true}); err != nil {
		return err
	}
	if err := st.waitFor(ctx, "Lucía's DM in the thread", func() bool {
		msgs, err := st.World.Thread(slack, care, c.Thread)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if m.Bot && containsText(m, "QX7K2P") {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	if err := st.reply(ctx, mei, c, "Done: you're on EA514 tomorrow at 07:05, seat 14C, at no cost. Your new boarding pass is in your email. Safe travels!"); err != nil {
		return err
	}
	if _, err := st.write(mei, c, "!resolve rebooked on EA514, DM confirmed"); err != nil {
		return err
	}
	if err := st.cardShows(ctx, c, "Resolved"); err != nil {
		return err
	}
	st.say("  %s: claimed, answered, moved to DM, rebooked by DM, resolved", c.CaseID)
	return nil
}

func containsText(m demo.Message, s string) bool {
	return strings.Contains(m.Visible(), s)
}

// mention is how a customer addresses the brand on network.
func mention(network string) string {
	switch network {
	case demo.Bluesky:
		return "@earshot.fake.bsky"
	case demo.Reviews:
		return ""
	}
	return "@earshot"
}

// bskyMention rewrites "@earshot" for Bluesky, where handles are domains.
func bskyMention(text string) string {
	if rest, ok := strings.CutPrefix(text, "@earshot "); ok {
		return "@earshot.fake.bsky " + rest
	}
	return text
}
