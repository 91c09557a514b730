package discordfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// validate.go checks what the app sends against Discord's documented
// limits, so a desk that would be refused by Discord is refused here too.
// Each check returns "" or the reason, reported as 400 code 50035.

// Limits enforced (Discord's).
const (
	MaxContent        = 2000
	MaxEmbeds         = 10
	MaxEmbedTotal     = 6000
	MaxEmbedTitle     = 256
	MaxEmbedDesc      = 4096
	MaxEmbedFields    = 25
	MaxFieldName      = 256
	MaxFieldValue     = 1024
	MaxFooter         = 2048
	MaxAuthorName     = 256
	MaxRows           = 5
	MaxRowButtons     = 5
	MaxCustomID       = 100
	MaxButtonLabel    = 80
	MaxSelectOptions  = 25
	MaxOptionText     = 100
	MaxPlaceholder    = 150
	MaxThreadName     = 100
	MaxForumTags      = 20
	MaxAppliedTags    = 5
	MaxTagName        = 20
	MaxCommands       = 100
	MaxCommandOptions = 25
	MaxWebhookName    = 80
)

func runes(s string) int { return utf8.RuneCountInString(s) }

type embed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	Footer      *struct {
		Text string `json:"text"`
	} `json:"footer"`
	Author *struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"author"`
	Fields []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	} `json:"fields"`
}

type component struct {
	Type        int         `json:"type"`
	CustomID    string      `json:"custom_id"`
	Label       string      `json:"label"`
	Style       int         `json:"style"`
	URL         string      `json:"url"`
	Disabled    bool        `json:"disabled"`
	Placeholder string      `json:"placeholder"`
	Options     []option    `json:"options"`
	Components  []component `json:"components"`
}

type option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// checkEmbeds validates raw (a JSON array of embeds, or empty).
func checkEmbeds(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var es []embed
	if err := json.Unmarshal(raw, &es); err != nil {
		return "embeds: not a list of embeds"
	}
	if len(es) > MaxEmbeds {
		return fmt.Sprintf("embeds: %d embeds, at most %d", len(es), MaxEmbeds)
	}
	total := 0
	for i, e := range es {
		p := fmt.Sprintf("embeds.%d.", i)
		switch {
		case runes(e.Title) > MaxEmbedTitle:
			return p + "title: Must be 256 or fewer in length."
		case runes(e.Description) > MaxEmbedDesc:
			return p + "description: Must be 4096 or fewer in length."
		case len(e.Fields) > MaxEmbedFields:
			return p + "fields: Must be 25 or fewer in length."
		}
		total += runes(e.Title) + runes(e.Description)
		if e.Footer != nil {
			if runes(e.Footer.Text) > MaxFooter {
				return p + "footer.text: Must be 2048 or fewer in length."
			}
			total += runes(e.Footer.Text)
		}
		if e.Author != nil {
			if runes(e.Author.Name) > MaxAuthorName {
				return p + "author.name: Must be 256 or fewer in length."
			}
			total += runes(e.Author.Name)
		}
		for j, fl := range e.Fields {
			switch {
			case fl.Name == "" || runes(fl.Name) > MaxFieldName:
				return fmt.Sprintf("%sfields.%d.name: Must be between 1 and 256 in length.", p, j)
			case fl.Value == "" || runes(fl.Value) > MaxFieldValue:
				return fmt.Sprintf("%sfields.%d.value: Must be between 1 and 1024 in length.", p, j)
			}
			total += runes(fl.Name) + runes(fl.Value)
		}
	}
	if total > MaxEmbedTotal {
		return fmt.Sprintf("embeds: Embed size exceeds maximum size of 6000 (%d)", total)
	}
	return ""
}

// checkComponents validates raw (a JSON array of action rows, or empty).
func checkComponents(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var rows []component
	if err := json.Unmarshal(raw, &rows); err != nil {
		return "components: not a list of components"
	}
	if len(rows) > MaxRows {
		return "components: Must be 5 or fewer in length."
	}
	ids := map[string]bool{}
	for i, r := range rows {
		p := fmt.Sprintf("components.%d.", i)
		if r.Type != 1 {
			return p + "type: top-level components must be action rows"
		}
		if len(r.Components) == 0 || len(r.Components) > MaxRowButtons {
			return p + "components: Must be between 1 and 5 in length."
		}
		for j, c := range r.Components {
			q := fmt.Sprintf("%scomponents.%d.", p, j)
			switch c.Type {
			case 2:
				if c.Style == 5 {
					if c.URL == "" {
						return q + "url: a link button needs a url"
					}
				} else if c.CustomID == "" {
					return q + "custom_id: required"
				}
				if runes(c.Label) > MaxButtonLabel {
					return q + "label: Must be 80 or fewer in length."
				}
			case 3:
				if len(r.Components) != 1 {
					return p + "components: a select menu must be alone in its row"
				}
				if len(c.Options) == 0 || len(c.Options) > MaxSelectOptions {
					return q + "options: Must be between 1 and 25 in length."
				}
				if runes(c.Placeholder) > MaxPlaceholder {
					return q + "placeholder: Must be 150 or fewer in length."
				}
				values := map[string]bool{}
				for k, o := range c.Options {
					if o.Label == "" || runes(o.Label) > MaxOptionText || o.Value == "" || runes(o.Value) > MaxOptionText {
						return fmt.Sprintf("%soptions.%d: label and value must be between 1 and 100 in length.", q, k)
					}
					if values[o.Value] {
						return fmt.Sprintf("%soptions.%d.value: duplicate", q, k)
					}
					values[o.Value] = true
				}
			default:
				return q + "type: unsupported component type"
			}
			if c.CustomID != "" {
				if runes(c.CustomID) > MaxCustomID {
					return q + "custom_id: Must be 100 or fewer in length."
				}
				if ids[c.CustomID] {
					return q + "custom_id: Component custom id cannot be duplicated"
				}
				ids[c.CustomID] = true
			}
		}
	}
	return ""
}

// messageBody is the part of a message create/edit body the fake reads.
type messageBody struct {
	Content         *string         `json:"content"`
	Embeds          json.RawMessage `json:"embeds"`
	Components      json.RawMessage `json:"components"`
	Flags           int             `json:"flags"`
	AllowedMentions json.RawMessage `json:"allowed_mentions"`
	Reference       *struct {
		MessageID string `json:"message_id"`
	} `json:"message_reference"`
	Username  string `json:"username"`
	AvatarURL string `json:"avatar_url"`
	// Nonce (a string or an integer) with EnforceNonce makes a repeat of
	// the same create within NonceWindow answer the first message.
	Nonce        json.RawMessage `json:"nonce"`
	EnforceNonce bool            `json:"enforce_nonce"`
}

// nonce is the body's nonce as a string ("" for none).
func (b messageBody) nonce() string {
	raw := strings.TrimSpace(string(b.Nonce))
	if raw == "" || raw == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(b.Nonce, &s) == nil {
		return s
	}
	return raw // an integer
}

func (b messageBody) empty() bool {
	return (b.Content == nil || *b.Content == "") && isEmptyList(b.Embeds) && isEmptyList(b.Components)
}

func isEmptyList(r json.RawMessage) bool {
	s := strings.TrimSpace(string(r))
	return s == "" || s == "null" || s == "[]"
}

// check validates a message body; creating says an empty message is refused.
func (b messageBody) check(creating bool) (code int, msg string) {
	if creating && b.empty() {
		return 50006, "Cannot send an empty message"
	}
	if b.Content != nil && runes(*b.Content) > MaxContent {
		return 50035, "content: Must be 2000 or fewer in length."
	}
	if runes(b.nonce()) > MaxNonce {
		return 50035, "nonce: Must be 25 or fewer in length."
	}
	if m := checkEmbeds(b.Embeds); m != "" {
		return 50035, m
	}
	if m := checkComponents(b.Components); m != "" {
		return 50035, m
	}
	return 0, ""
}

var forbiddenInNames = []string{"@", "#", ":", "```", "discord", "clyde"}

// checkWebhookName applies Discord's naming rules to a webhook name or username override.
func checkWebhookName(name string) string {
	if name == "" {
		return ""
	}
	if runes(name) > MaxWebhookName {
		return "username: Must be 80 or fewer in length."
	}
	lower := strings.ToLower(name)
	for _, s := range forbiddenInNames {
		if strings.Contains(lower, s) {
			return fmt.Sprintf("username: Username cannot contain %q", s)
		}
	}
	return ""
}

var commandName = regexp.MustCompile(`^[-_\p{Ll}\p{N}\p{Lo}]{1,32}$`)

// checkCommands validates a bulk registration and returns the commands.
func checkCommands(raw []byte) ([]Command, string) {
	var in []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Type        int    `json:"type"`
		Options     []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Type        int    `json:"type"`
			Required    bool   `json:"required"`
		} `json:"options"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, "body: a list of application commands"
	}
	if len(in) > MaxCommands {
		return nil, "Maximum number of application commands reached (100)"
	}
	seen := map[string]bool{}
	var out []Command
	for i, c := range in {
		p := fmt.Sprintf("%d.", i)
		if c.Type != 0 && c.Type != 1 {
			return nil, p + "type: only chat input commands are supported by the fake"
		}
		if !commandName.MatchString(c.Name) {
			return nil, p + "name: Command name is invalid"
		}
		if seen[c.Name] {
			return nil, p + "name: Application command names must be unique"
		}
		seen[c.Name] = true
		if runes(c.Description) < 1 || runes(c.Description) > 100 {
			return nil, p + "description: Must be between 1 and 100 in length."
		}
		if len(c.Options) > MaxCommandOptions {
			return nil, p + "options: Must be 25 or fewer in length."
		}
		cmd := Command{Name: c.Name, Description: c.Description}
		optional := false
		for j, o := range c.Options {
			q := fmt.Sprintf("%soptions.%d.", p, j)
			if !commandName.MatchString(o.Name) {
				return nil, q + "name: Command name is invalid"
			}
			if runes(o.Description) < 1 || runes(o.Description) > 100 {
				return nil, q + "description: Must be between 1 and 100 in length."
			}
			if o.Type < 3 || o.Type > 11 {
				return nil, q + "type: only value options are supported by the fake"
			}
			if o.Required && optional {
				return nil, q + "required: Required options must be placed before non-required options"
			}
			optional = optional || !o.Required
			cmd.Options = append(cmd.Options, CommandOption{Name: o.Name, Description: o.Description, Type: o.Type, Required: o.Required})
		}
		out = append(out, cmd)
	}
	return out, ""
}

// CheckMessage validates a message create body (content, embeds,
// components) the way the fake's REST API does, for renderer tests: nil
// when Discord would take it.
func CheckMessage(body []byte) error {
	var b messageBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("discordfake: not a message body: %w", err)
	}
	if code, msg := b.check(true); code != 0 {
		return fmt.Errorf("discordfake: Discord would refuse it (code %d): %s", code, msg)
	}
	return nil
}
