package sandbox

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/demo"
	"github.com/earshot-dev/earshot/demo/browser"
)

// The page itself, in a real browser, against the fakes and the real Slack
// desk (no core: a recording inbox stands in for it): a post made with the
// form shows on the timeline; a card the desk opened shows with its
// buttons; Claim, a thread message and its deletion reach the desk as the
// Invocation and staff messages the core would get.
func TestPageDrivesTheFakes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Coalesce: 50 * time.Millisecond})
	desk, err := slack.New(slack.Config{BotToken: f.w.Slack.Options().BotToken, AppToken: f.w.Slack.Options().AppToken,
		APIURL: f.w.Slack.APIURL(), Customize: true}, bridge.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in := connectortest.NewRecordingInbox()
	lctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- desk.Listen(lctx, in) }()
	t.Cleanup(func() { stop(); <-done })
	connectortest.WaitFor(t, 10*time.Second, "the desk listening", desk.Listening)
	care := demo.Channels[0].ID
	card, err := desk.OpenThread(lctx, care, connectortest.SuiteCase("E-7"))
	if err != nil {
		t.Fatal(err)
	}

	ctx := browser.Start(t, 45*time.Second)
	text := "@earshot my parcel is lost, order 7781"
	err = chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"),
		chromedp.WaitVisible(`//p[@id="live"][normalize-space(.)="live"]`),
		// A customer posts on Mastodon with the form.
		chromedp.SetValue(chromedp.ID("post-handle"), "zoe"),
		chromedp.SendKeys(chromedp.ID("post-text"), text),
		browser.Click(`//form[@id="post-form"]//button[@type="submit"]`),
		chromedp.WaitVisible(`//ol[@id="timeline"]/li[contains(., "order 7781")]`),
		// The card the desk opened, with its buttons, its mrkdwn drawn
		// (a bold link, an escaped text kept verbatim).
		chromedp.WaitVisible(`//ol[@id="cards"]/li[@data-case="E-7"]`),
		chromedp.WaitVisible(`//ol[@id="cards"]/li[@data-case="E-7"]//strong/a[.="Ana Lima"]`),
		chromedp.WaitVisible(`//ol[@id="cards"]/li[@data-case="E-7"]//div[contains(., "nobody answers <support> *again*")]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	cardText, err := chromedp.Run(ctx, chromedp.Text(`//ol[@id="cards"]/li[@data-case="E-7"]`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, browser.Click(`//ol[@id="cards"]/li[@data-case="E-7"]//button[normalize-space(.)="Claim"]`)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cardText, "Ana Lima") {
		t.Errorf("the card reads %q", cardText)
	}
	posts, _, _ := f.w.Timeline(demo.Mastodon, 10)
	if len(posts) != 1 || posts[0].Author != "@zoe@fake.social" || posts[0].Text != text {
		t.Errorf("timeline %+v", posts)
	}
	connectortest.WaitInvocation(t, in, func(inv bridge.Invocation) bool {
		return inv.Name == "claim" && inv.Staff.ID == demo.Staff[0].ID && inv.Thread.ID == card.ID
	})

	// In the thread: a message sent with Enter, then deleted with its button.
	err = chromedp.Do(ctx,
		browser.Click(`//ol[@id="cards"]/li[@data-case="E-7"]//button[contains(., "Open thread")]`),
		chromedp.WaitVisible(chromedp.ID("say-text")),
		chromedp.SendKeys(chromedp.ID("say-text"), "Sorry Ana, on it\n"),
		chromedp.WaitVisible(`//ol[@id="thread"]/li[contains(., "Sorry Ana, on it")]//button[.="Delete"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool {
		return m.Kind == bridge.MessageNew && m.Text == "Sorry Ana, on it" && m.Staff.ID == demo.Staff[0].ID
	})
	err = chromedp.Do(ctx,
		browser.Click(`//ol[@id="thread"]/li[contains(., "Sorry Ana, on it")]//button[.="Delete"]`),
		chromedp.WaitNotPresent(`//ol[@id="thread"]/li[contains(., "Sorry Ana, on it")]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	connectortest.WaitStaffMessage(t, in, func(m bridge.StaffMessage) bool { return m.Kind == bridge.MessageDeleted })
}
