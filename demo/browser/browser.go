// Package browser starts headless Chromium for the tests that drive the
// sandbox page (with github.com/chromedp/chromedp), the way a person uses
// it: typing, clicking, reading what is shown.
//
// Start finds Debian's chromium (.ci/run installs it when root), runs it
// with the flags this workplace needs (no sandbox as root, no GPU, no QUIC,
// no background networking, a fresh profile), and stops it when the test
// ends. Without chromium the test fails in CI (CI=true) and skips loudly
// elsewhere. When the test fails, a screenshot and the page's text are
// saved (under the test's -outputdir with -artifacts, else in a directory
// kept under the system temp dir) and their paths logged; set
// EARSHOT_SCREENSHOT=1 to save them after a passing test too.
package browser

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// names are the programs tried, in order; EARSHOT_CHROMIUM overrides them.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Path finds the browser, or "".
func Path() string {
	if p := os.Getenv("EARSHOT_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a headless browser for t and returns a chromedp context
// for one tab, bounded by limit. The browser stops when the test ends.
func Start(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		msg := "!!! chromium is not installed: the browser test of the sandbox cannot run. " +
			"Install Debian's chromium (apt-get install -y chromium) or run bash .ci/run as root."
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: failing instead of skipping)")
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	if err := chromedp.Do(tab); err != nil { // starts the browser, which lives as long as tab
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	// The test's actions are bounded by limit; the browser outlives it, so
	// a test that ran out of time still gets its screenshot.
	ctx, cancelLimit := context.WithTimeout(tab, limit)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("EARSHOT_SCREENSHOT") != "" {
			saveEvidence(t, tab)
		}
		cancelLimit()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// saveEvidence writes a screenshot and the page's text for a failed test.
func saveEvidence(t testing.TB, ctx context.Context) {
	dir := artifactDir(t)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url, _ := chromedp.Run(cctx, chromedp.Location())
	text, _ := chromedp.Run(cctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	png, err := chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("browser: no screenshot of the failure: %v", err)
		return
	}
	shot := filepath.Join(dir, "screenshot.png")
	page := filepath.Join(dir, "page.txt")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Logf("browser: saving the screenshot: %v", err)
		return
	}
	_ = os.WriteFile(page, []byte(url+"\n\n"+text), 0o644)
	t.Logf("browser: the page at the failure (%s): screenshot %s, text %s", url, shot, page)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// artifactDir is t's artifact directory when the test runs with
// -artifacts, else a directory under the system temp dir that is kept.
func artifactDir(t testing.TB) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		if a, ok := t.(interface{ ArtifactDir() string }); ok {
			return a.ArtifactDir()
		}
	}
	dir := filepath.Join(os.TempDir(), "earshot-test-artifacts",
		fmt.Sprintf("%s-%d", unsafeName.ReplaceAllString(t.Name(), "_"), time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return os.TempDir()
	}
	return dir
}

// Click clicks the first element the XPath xpath matches, once it is
// visible, finding and clicking it in one script inside the page. The
// sandbox re-renders its lists on every live update: chromedp.Click finds
// a node and then clicks it by its id, and a node replaced in between is
// gone ("Could not find node with given id"). A match that vanished
// before the script ran is looked for again until ctx ends.
func Click(xpath string) chromedp.Action[chromedp.Void] {
	quoted, _ := json.Marshal(xpath) // a string always marshals
	script := `(() => {
		const n = document.evaluate(` + string(quoted) + `, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		if (!n) return false;
		n.click();
		return true;
	})()`
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			if _, err := chromedp.WaitVisible(xpath)(ctx, t); err != nil {
				return chromedp.Void{}, fmt.Errorf("browser: click %s: %w", xpath, err)
			}
			clicked, err := chromedp.Evaluate[bool](script)(ctx, t)
			if err != nil {
				return chromedp.Void{}, fmt.Errorf("browser: click %s: %w", xpath, err)
			}
			if clicked {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("browser: click %s: %w", xpath, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
