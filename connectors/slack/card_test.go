package slack_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	goslack "github.com/slack-go/slack"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/connectortest"
	"github.com/earshot-dev/earshot/connectors/slack"
)

func cardCases() map[string]bridge.CaseView {
	cases := connectortest.CardCases("slack:U1")
	cv := cases["new"]
	hostile := cv
	hostile.Customer.Name = "<!channel> *Eve* & co"
	hostile.First.Text = "<@U123> <https://evil.example|click> `x` & <!here>"
	cases["hostile"] = hostile
	return cases
}

func TestCardGolden(t *testing.T) {
	t.Parallel()
	for name, cv := range cardCases() {
		blocks, fallback := slack.RenderCard(cv)
		checkLimits(t, name, blocks)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"text": fallback, "blocks": blocks}); err != nil {
			t.Fatal(err)
		}
		connectortest.Golden(t, filepath.Join("testdata", "card_"+name+".golden.json"), buf.Bytes())
	}
}

// checkLimits enforces Block Kit's limits on rendered blocks.
func checkLimits(t *testing.T, name string, blocks []goslack.Block) {
	t.Helper()
	if len(blocks) > 50 {
		t.Errorf("%s: %d blocks", name, len(blocks))
	}
	raw, _ := json.Marshal(blocks)
	var bs []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields   []struct{ Text string } `json:"fields"`
		Elements []json.RawMessage       `json:"elements"`
	}
	_ = json.Unmarshal(raw, &bs)
	for _, b := range bs {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > 3000 {
			t.Errorf("%s: a %s text of %d characters", name, b.Type, utf8.RuneCountInString(b.Text.Text))
		}
		if b.Type == "header" && b.Text != nil && utf8.RuneCountInString(b.Text.Text) > 150 {
			t.Errorf("%s: header too long", name)
		}
		if len(b.Fields) > 10 {
			t.Errorf("%s: %d fields", name, len(b.Fields))
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > 2000 {
				t.Errorf("%s: field of %d characters", name, utf8.RuneCountInString(f.Text))
			}
		}
		if len(b.Elements) > 25 {
			t.Errorf("%s: %d elements", name, len(b.Elements))
		}
	}
	if strings.Contains(string(raw), "<!channel>") || strings.Contains(string(raw), "<!here>") || strings.Contains(string(raw), "<@U123>") {
		// Only plain_text may carry them verbatim; mrkdwn must be escaped.
		var plainOnly bool
		for _, b := range bs {
			if b.Text != nil && strings.Contains(b.Text.Text, "<!") {
				plainOnly = true
			}
		}
		if !plainOnly {
			t.Errorf("%s: a mention leaked into markup", name)
		}
	}
}

func FuzzRenderCard(f *testing.F) {
	f.Add("ana", "hello", "support", "https://x.example/1")
	f.Add("<!channel>", strings.Repeat("é", 5000), "q|x", "https://x.example/<a>")
	f.Fuzz(func(t *testing.T, name, text, queue, url string) {
		cv := connectortest.SuiteCase("E-1")
		cv.Customer.Name, cv.First.Text, cv.Queue, cv.First.URL = name, text, queue, url
		blocks, _ := slack.RenderCard(cv)
		checkLimits(t, "fuzz", blocks)
		if _, err := json.Marshal(blocks); err != nil {
			t.Fatal(err)
		}
	})
}
