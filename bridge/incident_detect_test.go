package bridge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	. "github.com/earshot-dev/earshot/bridge/bridgetest"
)

// chatter is a queue's ordinary day: complaints about everything.
var chatter = []string{
	"@brand my invoice shows a charge I never made",
	"@brand the app logs me out every morning",
	"@brand the engineer did not show up for the appointment",
	"@brand how do I change the email on my account?",
	"@brand why did my monthly price go up?",
	"@brand the router you sent me is the wrong colour lol",
	"@brand I was promised a callback on Tuesday, nothing",
	"@brand cancelled my contract but you still charge me",
	"@brand the TV box freezes during football",
	"@brand upload speed is terrible in the evening",
	"@brand your chat support closed while I was typing",
	"@brand moving house next week, how do I transfer my line?",
	"@brand the new modem keeps rebooting at night",
	"@brand a parcel from you arrived damaged",
	"@brand my landline has a crackle since Monday",
	"@brand can I get a refund for the days without service last month?",
	"@brand the password reset email never arrives",
	"@brand technician broke my wall socket",
	"@brand roaming charges in Spain are insane",
	"@brand my bill is in the wrong name",
}

// outage are the varied ways people say the same thing.
var outage = []string{
	"@brand broadband down in Braga since 9am, no internet at all",
	"@brand no internet in braga!! broadband dead",
	"@brand is your broadband down? Braga here, nothing works",
	"@brand Braga broadband outage again? internet gone",
	"@brand whole street in Braga without broadband",
	"@brand broadband in Braga has been off for an hour, internet please",
}

// surgeOpts makes the detector's window and the stepping of the clock fit a test.
func detecting(threshold int) Option {
	return withIncidents(func(c *bridge.Config) {
		c.Incidents.Surge = bridge.SurgeConfig{Threshold: threshold, Window: 10 * time.Minute}
	})
}

// An outage among unrelated complaints is suggested once, naming the terms
// the complaints share and how many; the unrelated ones are not counted.
func TestDetectorFindsAnOutageInMixedTraffic(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, detecting(15))
	for k := range 40 {
		text := chatter[k%len(chatter)]
		if k%2 == 1 {
			text = outage[k%len(outage)]
		}
		complain(tb, fmt.Sprintf("p%02d", k), text)
		tb.Clock.Advance(10 * time.Second)
	}
	tb.WaitFor("one suggestion", func() bool { return len(tb.Incidents("support")) == 1 })
	s := tb.Incidents("support")[0]
	v, _ := tb.Incident(string(s.ID))
	if v.Status != bridge.IncidentSuggested || !slices.Contains(v.Terms, "braga") || !slices.Contains(v.Terms, "broadband") {
		t.Fatalf("suggestion %+v", v.Incident)
	}
	if v.Suggested != 15 || !strings.HasPrefix(v.Title, "15 complaints in 5 min mention ") {
		t.Errorf("suggestion says %q (%d)", v.Title, v.Suggested)
	}
	th := incidentThread(tb, s.ID, "the suggestion card", nil)
	if th.Incident.Status != bridge.IncidentSuggested || th.Ref.Channel != "C-SUP" {
		t.Errorf("suggestion card %+v", th)
	}
	// More of the same within the window: no second suggestion.
	for k := range 20 {
		complain(tb, fmt.Sprintf("q%02d", k), outage[k%len(outage)])
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(tb.Incidents("support")); n != 1 {
		t.Errorf("%d suggestions, want 1", n)
	}
	if got := value(tb, "earshot_incident_suggestions_total", map[string]string{"queue": "support"}); got != 1 {
		t.Errorf("suggestions counted %v", got)
	}
	age := value(tb, "earshot_incident_suggestion_age_seconds", map[string]string{"queue": "support"})
	if age <= 0 {
		t.Errorf("an unanswered suggestion's age is %v", age)
	}
	// Declared: the suggestion's complaints (and the later ones) are linked.
	d, err := tb.DeclareSuggested(ctx, s.ID, Ana)
	if err != nil {
		t.Fatal(err)
	}
	if d.Cases != 40 || d.Title != "Braga, broadband, internet" {
		t.Errorf("declared: %d cases, title %q", d.Cases, d.Title)
	}
	if age := value(tb, "earshot_incident_suggestion_age_seconds", map[string]string{"queue": "support"}); age != 0 {
		t.Errorf("suggestion age %v after it was answered", age)
	}
}

// A day of unrelated complaints, however busy, suggests nothing.
func TestDetectorIgnoresUnrelatedChatter(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, detecting(8))
	for k := range 3 * len(chatter) {
		complain(tb, fmt.Sprintf("p%02d", k), chatter[k%len(chatter)]+fmt.Sprintf(" (%d)", k))
		tb.Clock.Advance(5 * time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	if got := tb.Incidents("support"); len(got) != 0 {
		t.Errorf("chatter made suggestions: %+v", got)
	}
}

// Dismissed: the same surge is not suggested again until its window has
// passed; then it may be.
func TestDetectorRespectsADismissal(t *testing.T) {
	t.Parallel()
	tb := NewTestBridge(t, detecting(4))
	for k := range 4 {
		complain(tb, fmt.Sprintf("a%d", k), outage[k])
	}
	tb.WaitFor("a suggestion", func() bool { return len(tb.Incidents("support")) == 1 })
	s := tb.Incidents("support")[0]
	if _, err := tb.DismissIncident(ctx, s.ID, Zed); err == nil {
		t.Error("someone not on the staff list dismissed a suggestion")
	}
	if _, err := tb.DismissIncident(ctx, s.ID, Bea); err != nil {
		t.Fatal(err)
	}
	for k := range 6 {
		complain(tb, fmt.Sprintf("b%d", k), outage[k])
	}
	time.Sleep(50 * time.Millisecond)
	if got := tb.Incidents("support"); len(got) != 0 {
		t.Errorf("suggested again within the window: %+v", got)
	}
	tb.Clock.Advance(11 * time.Minute)
	for k := range 4 {
		complain(tb, fmt.Sprintf("c%d", k), outage[k])
	}
	tb.WaitFor("a new suggestion after the window", func() bool { return len(tb.Incidents("support")) == 1 })
	th := incidentThread(tb, s.ID, "the dismissed card", nil)
	if th.Incident.Status != bridge.IncidentDismissed {
		t.Errorf("dismissed card shows %s", th.Incident.Status)
	}
}
