package demo

import (
	"regexp"
	"strings"
)

// typing.go does to what a person types in the sandbox what a desk's own
// client does before the message reaches the desk: a mention picked from
// the client's list goes as the desk's mention token. The sandbox has no
// such list, so "@handle" of a desk member stands for picking them, and
// @here, @channel and @everyone for the broadcasts; a token typed as the
// desk writes it (<@U02MEI>, <!here>) is taken as picked too.

// memberHandleRE finds "@handle" at the start of a word.
var memberHandleRE = regexp.MustCompile(`(^|[\s(\[{"'“])@([A-Za-z][A-Za-z0-9._-]*)`)

// slackTokenRE matches the mention tokens Slack's client sends.
var slackTokenRE = regexp.MustCompile(`<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^<>|]*)?|!(?:here|channel|everyone)|!subteam\^S[A-Z0-9]+)>`)

// typedSlack is text as Slack's client sends it: &, < and > escaped, and
// mentions as Slack's tokens.
func typedSlack(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range slackTokenRE.FindAllStringIndex(s, -1) {
		b.WriteString(mentionHandles(SlackDesk, escapeSlack(s[last:loc[0]])))
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	b.WriteString(mentionHandles(SlackDesk, escapeSlack(s[last:])))
	return b.String()
}

// typedDiscord is text as Discord's client sends it: "@handle" of a
// member as <@id> (@here and @everyone are plain text on Discord too).
func typedDiscord(s string) string { return mentionHandles(DiscordDesk, s) }

// mentionHandles turns "@handle" of desk's members into the desk's mention.
func mentionHandles(desk, s string) string {
	return memberHandleRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := memberHandleRE.FindStringSubmatch(m)
		handle := strings.TrimRight(sub[2], ".-")
		rest := sub[2][len(handle):]
		if desk == SlackDesk {
			switch strings.ToLower(handle) {
			case "here", "channel", "everyone":
				return sub[1] + "<!" + strings.ToLower(handle) + ">" + rest
			}
		}
		for _, p := range Staff {
			if p.Desk == desk && strings.EqualFold(p.Handle, handle) {
				return sub[1] + "<@" + p.ID + ">" + rest
			}
		}
		return m
	})
}
