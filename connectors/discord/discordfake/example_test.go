package discordfake_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/discord"
	"github.com/earshot-dev/earshot/connectors/discord/discordfake"
)

// Wiring the Discord desk to the fake, as `earshot demo` does: the desk's
// api_url, token, guild and public key come from the fake; a person then
// acts in the case's forum post, and the fake shows what everyone sees.
func Example() {
	f, err := discordfake.New(discordfake.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	f.AddRole("40", "support")
	f.AddUser(discordfake.User{ID: "30", Username: "ana", GlobalName: "Ana", Roles: []string{"40"}})
	f.AddForum("20", "support")
	changes := f.Subscribe() // a sandbox page would stream these

	desk, err := discord.New(discord.Config{Token: f.Options().Token, GuildID: f.Options().GuildID,
		PublicKey: f.PublicKey(), APIURL: f.URL()}, bridge.Deps{})
	if err != nil {
		fmt.Println(err)
		return
	}
	th, err := desk.OpenThread(context.Background(), "20", connectortest.SuiteCase("E-42"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := f.Say("30", th.ID, "On it!"); err != nil {
		fmt.Println(err)
		return
	}

	card, _ := f.Message(th.ID, th.ID)
	fmt.Println(strings.Split(card.Visible(), "\n")[1])
	forum, _ := f.Channel("20")
	post, _ := f.Channel(th.ID)
	fmt.Println(post.TagNames(forum))
	fmt.Println(len(f.Thread(th.ID)), "messages in the post")
	fmt.Println((<-changes).Kind)
	// Output:
	// E-42 · Ana Lima
	// [New]
	// 2 messages in the post
	// channel
}
