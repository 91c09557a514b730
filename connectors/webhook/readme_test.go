package webhook_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/webhook"
)

// fenced returns the first ```lang block of README.md that contains want.
func fenced(t *testing.T, lang, want string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rest := string(readme)
	for {
		_, after, ok := strings.Cut(rest, "```"+lang+"\n")
		if !ok {
			t.Fatalf("README.md has no ```%s block with %q", lang, want)
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatalf("README.md: unclosed ```%s block", lang)
		}
		if strings.Contains(block, want) {
			return block
		}
		rest = tail
	}
}

// example is the README's worked example: its inputs and the header value.
type example struct {
	secret, source, ts, body, signed, header string
}

func readExample(t *testing.T) example {
	t.Helper()
	fields := map[string]string{}
	for _, line := range strings.Split(fenced(t, "text", "secret:"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	ex := example{secret: fields["secret"], source: fields["source"], ts: fields["timestamp"], body: fields["body"]}
	ex.signed = strings.TrimSpace(fenced(t, "text", "v1:"+ex.source+":"))
	for _, line := range strings.Split(fenced(t, "text", "X-Earshot-Signature:"), "\n") {
		if v, ok := strings.CutPrefix(line, "X-Earshot-Signature: "); ok {
			ex.header = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "X-Earshot-Timestamp: "); ok && strings.TrimSpace(v) != ex.ts {
			t.Errorf("the example's header timestamp %q is not its input %q", v, ex.ts)
		}
	}
	if ex.secret == "" || ex.source == "" || ex.ts == "" || ex.body == "" || ex.header == "" {
		t.Fatalf("README.md's worked example is incomplete: %+v", ex)
	}
	return ex
}

// The worked example in README.md is right: the string it says is signed
// is the scheme's, Sign gives its header value, the route's verifier
// accepts it for its source and refuses it for another, and the shell and
// Python signers print the same value.
func TestREADMEWorkedExample(t *testing.T) {
	t.Parallel()
	ex := readExample(t)
	if want := "v1:" + ex.source + ":" + ex.ts + ":" + ex.body; ex.signed != want {
		t.Errorf("the signed string shown is %q, want %q", ex.signed, want)
	}
	sec, err := strconv.ParseInt(ex.ts, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(sec, 0)
	if got := webhook.Sign(ex.secret, ex.source, at, []byte(ex.body)); got != ex.header {
		t.Errorf("Sign = %s, README says %s", got, ex.header)
	}
	v := webhook.Verifier{Secret: ex.secret, Source: ex.source, Window: 5 * time.Minute}
	if _, err := v.Verify(ex.ts, ex.header, []byte(ex.body), at.Add(time.Minute)); err != nil {
		t.Errorf("the example does not verify: %v", err)
	}
	v.Source = "appstore"
	if _, err := v.Verify(ex.ts, ex.header, []byte(ex.body), at.Add(time.Minute)); err == nil {
		t.Error("the example verifies for another source")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(tool string, args ...string) {
		t.Helper()
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("%s not installed: its signer is not checked", tool)
			return
		}
		out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != ex.header {
			t.Errorf("the %s signer printed %q (%v), want %s", tool, got, err, ex.header)
		}
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		run("sh", "-c", fenced(t, "sh", "earshot_sign()")+`earshot_sign "$0" "$1" "$2" "$3"`, ex.secret, ex.source, ex.ts, ex.body)
	}
	run("python3", "-c", fenced(t, "python", "def earshot_sign")+
		"\nimport sys\nprint(earshot_sign(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()))",
		ex.secret, ex.source, ex.ts, ex.body)
}

// The curl example in README.md works as written (with openssl and curl on
// PATH): signed by hand for reviews, it is accepted there; the same body
// and signature sent to appstore (which shares the secret) is refused.
func TestREADMECurlExample(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	script := fenced(t, "sh", "curl ")
	fx := newFixture(t, nil)
	in := listen(t, fx)
	script = strings.ReplaceAll(script, "https://earshot.example", fx.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	answers := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(answers) != 2 || !strings.Contains(answers[0], `"accepted"`) || !strings.Contains(answers[1], "signature does not match") {
		t.Fatalf("example: %v\n%s", err, out)
	}
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == "reviews/r-1042" })
	if p.Text != "Two weeks and still no refund." {
		t.Errorf("post %+v", p)
	}
	if n := len(in.Posts()); n != 1 {
		t.Errorf("%d posts taken, want 1", n)
	}
}
