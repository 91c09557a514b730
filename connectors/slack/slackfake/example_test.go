package slackfake_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
	"github.com/earshot-dev/earshot/connectors/slack/slackfake"
)

// Wiring the Slack desk to the fake, as `earshot demo` does: the desk's
// api_url and tokens come from the fake; a person then acts in the thread.
func Example() {
	f, err := slackfake.New(slackfake.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	f.AddUser(slackfake.User{ID: "U1", Name: "ana", DisplayName: "Ana"})
	f.AddChannel("C1", "support")
	changes := f.Subscribe() // a sandbox page would stream these

	desk, err := slack.New(slack.Config{BotToken: f.Options().BotToken, AppToken: f.Options().AppToken,
		APIURL: f.APIURL()}, bridge.Deps{})
	if err != nil {
		fmt.Println(err)
		return
	}
	th, err := desk.OpenThread(context.Background(), "C1", connectortest.SuiteCase("E-42"))
	if err != nil {
		fmt.Println(err)
		return
	}
	f.Say("U1", "C1", th.ID, "On it!")

	card, _ := f.Message("C1", th.ID)
	fmt.Println(strings.SplitN(card.Visible(), "\n", 2)[0])
	fmt.Println(len(f.Thread("C1", th.ID)), "messages in the thread")
	fmt.Println((<-changes).Kind)
	// Output:
	// E-42 · Ana Lima
	// 2 messages in the thread
	// message
}
