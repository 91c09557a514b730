package webhook_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/bridge"
)

// The curl example in README.md works as written (with openssl and curl on PATH).
func TestREADMECurlExample(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```sh\n")
	script, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```sh example")
	}
	fx := newFixture(t, nil)
	in := listen(t, fx)
	script = strings.ReplaceAll(script, "https://earshot.example", fx.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"accepted"`) {
		t.Fatalf("example: %v\n%s", err, out)
	}
	p := in.WaitPost(t, 5*time.Second, func(p bridge.Post) bool { return p.ID == "reviews/r-1042" })
	if p.Text != "Two weeks and still no refund." {
		t.Errorf("post %+v", p)
	}
}
