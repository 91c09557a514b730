package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/earshot-dev/earshot/demo/browser"
)

// startDemo runs `earshot demo` in-process with args until the test ends,
// and returns its base URL ("http://127.0.0.1:port/") once it printed
// that it is ready (the seed is in place), with its output.
func startDemo(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"demo", "--addr", "127.0.0.1:0", "--exit-after", "5m"}, args...), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("demo exited with %d\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the demo did not stop\n%s", stderr.String())
		}
		if t.Failed() {
			t.Logf("demo output:\n%s\n%s", stdout.String(), stderr.String())
		}
	})
	deadline := time.After(90 * time.Second)
	for !strings.Contains(stdout.String(), "Ready:") {
		select {
		case code := <-done:
			t.Fatalf("the demo exited with %d before it was ready:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("the demo was not ready in time:\n%s\n%s", stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	m := openLine.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no address in the demo's output:\n%s", stdout.String())
	}
	return m[1], &stdout
}

// A newcomer's first minute, in a real browser against the real demo: post
// a complaint as a customer, see its card in the team chat, claim it,
// reply inline, watch the reply go out after the undo window and appear on
// the public timeline, and resolve the case.
func TestDemoInTheBrowser(t *testing.T) {
	t.Parallel()
	base, _ := startDemo(t, "--undo-window", "2s")
	ctx := browser.Start(t, 60*time.Second)

	const complaint = "@earshot my train to Braga is 40 minutes late again (browser check)"
	card := `//ol[@id="cards"]/li[contains(., "(browser check)")]`
	reply := "Sorry Zoe, a signal failure near Campanhã; trains run again from 10:30."
	steps := []struct {
		what string
		do   chromedp.Action[chromedp.Void]
	}{
		{"open the sandbox", chromedp.Steps(
			chromedp.Navigate(base),
			chromedp.WaitVisible(`//p[@id="live"][normalize-space(.)="live"]`))},
		{"post the complaint as @zoe on Mastodon", chromedp.Steps(
			chromedp.SetValue(chromedp.ID("post-handle"), "zoe"),
			chromedp.SendKeys(chromedp.ID("post-text"), complaint),
			browser.Click(`//form[@id="post-form"]//button[@type="submit"]`),
			chromedp.WaitVisible(`//ol[@id="timeline"]/li[contains(., "(browser check)")]`))},
		{"see its card in #rail-disruption", chromedp.Steps(
			browser.Click(`//*[@id="chan-C02RAIL"]`),
			chromedp.WaitVisible(card+`//button[normalize-space(.)="Claim"]`))},
		{"claim it", chromedp.Steps(
			browser.Click(card+`//button[normalize-space(.)="Claim"]`),
			chromedp.WaitVisible(card+`[contains(., "Claimed by Rui Costa")]`))},
		{"reply inline in its thread", chromedp.Steps(
			browser.Click(card+`//button[contains(., "Open thread")]`),
			chromedp.WaitVisible(chromedp.ID("say-text")),
			chromedp.SendKeys(chromedp.ID("say-text"), reply+"\n"),
			chromedp.WaitVisible(`//ol[@id="thread"]/li[contains(., "Sorry Zoe")]`))},
		{"see it published after the undo window", chromedp.Steps(
			chromedp.WaitVisible(`//ol[@id="thread"]/li[contains(., "Sorry Zoe")]//span[@title="sent: published"]`),
			chromedp.WaitVisible(`//ol[@id="timeline"]/li[contains(@class, "brand")][contains(., "Sorry Zoe")]`))},
		{"resolve the case", chromedp.Steps(
			browser.Click(card+`//button[normalize-space(.)="Resolve"]`),
			chromedp.WaitVisible(card+`[contains(., "Resolved")]`))},
		{"see the seed's escalation in the Discord forum", chromedp.Steps(
			browser.Click(`//*[@id="desk-discord"]`),
			browser.Click(`//*[@id="chan-3100000000000000002"]`),
			chromedp.WaitVisible(`//ol[@id="cards"]/li[contains(., "Kai Müller")]//span[@class="tag"][.="Escalated"]`),
			browser.Click(`//ol[@id="cards"]/li[contains(., "Kai Müller")]//button[contains(., "Open thread")]`),
			chromedp.WaitVisible(`//ol[@id="thread"]/li[contains(., "broadband down since 6am")]`))},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.do); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
	}
	public, err := chromedp.Run(ctx, chromedp.Text(`//ol[@id="timeline"]/li[contains(@class, "brand")][contains(., "Sorry Zoe")]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(public, "@zoe@fake.social "+reply) || !strings.Contains(public, "in reply to @zoe@fake.social") {
		t.Errorf("the public reply reads %q", public)
	}
}

var scriptDone = regexp.MustCompile(`The script played in [0-9.]+s\.`)

// --script as a smoke test, with small crowds and a short undo window:
// every scene plays through the fakes and the real connectors, and the
// summary comes from the metrics.
func TestDemoScriptPlays(t *testing.T) {
	t.Parallel()
	_, out := startDemo(t, "--script", "--scale", "0.05", "--undo-window", "1s")
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "The sandbox stays open") {
		select {
		case <-deadline:
			t.Fatalf("the script did not finish:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	text := out.String()
	if !scriptDone.MatchString(text) {
		t.Fatalf("the script did not play through:\n%s", text)
	}
	for _, want := range []string{"✔ Rail disruption", "✔ Broadband outage", "✔ Flight rebooking", "Summary", "cases opened", "queue depth",
		"SLA breaches", "moved to DM, rebooked by DM, resolved"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The scenes did what they say: cases opened, replies sent, some
	// escalated to the specialists; the summary counts them.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`cases opened\s+([0-9]+)`),
		regexp.MustCompile(`replies\s+([0-9]+)\s+\(sent `),
		regexp.MustCompile(`acknowledgement went to all ([0-9]+) complainants`),
		regexp.MustCompile(`split (E-[0-9]+) out of the incident and escalated it`),
		regexp.MustCompile(`declaration to every complainant answered: ([0-9.]+)s`),
		regexp.MustCompile(`incident acknowledged\s+mean ([0-9.]+)`),
		regexp.MustCompile(`queue depth\s+([0-9]+) open`),
	} {
		if m := re.FindStringSubmatch(text); m == nil || m[1] == "0" {
			t.Errorf("output lacks a non-zero %s:\n%s", re, text)
		}
	}
	t.Logf("\n%s", text)
}
