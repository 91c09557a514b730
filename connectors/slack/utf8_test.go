package slack_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/connectors/connectortest"
)

// Ids are compared byte for byte, and decoding (JSON, %-escapes) would turn
// invalid UTF-8 into U+FFFD: a signed request carrying invalid UTF-8 is a
// 400 with a clear message, on every route, before anything runs.
func TestRoutesRefuseInvalidUTF8(t *testing.T) {
	t.Parallel()
	now := time.Now()
	in := connectortest.NewRecordingInbox()
	e, _ := newRouteEnv(t, "s3cret", now, in)
	cases := []struct{ path, body, says string }{
		{"/slack/events", "{\"type\":\"event_callback\",\"event_id\":\"Ev\xff\",\"event\":{\"type\":\"message\"}}", "not valid UTF-8"},
		{"/slack/commands", "command=%2Fearshot&text=claim+E-1&user_id=U1%FF&channel_id=C1&trigger_id=t1", `form field "user_id" is not valid UTF-8`},
		{"/slack/interactive", "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%22t%FE%22%7D", `form field "payload" is not valid UTF-8`},
	}
	for _, c := range cases {
		resp := e.post(t, c.path, c.body, signed("s3cret", now, c.body))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), c.says) {
			t.Errorf("%s: %d %q, want 400 saying %s", c.path, resp.StatusCode, b, c.says)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(in.StaffMessages()) + len(in.Invocations()); n != 0 {
		t.Errorf("%d deliveries from refused requests", n)
	}
}
