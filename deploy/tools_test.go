package deploy

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var update = flag.Bool("update", false, "rewrite kubernetes/prometheusrule.yaml from prometheus/alerts.yml")

// inCI reports whether the tests run in CI, where every tool must be present.
func inCI() bool { return os.Getenv("CI") == "true" }

// needTool returns the path of an external program. When it is missing the
// test fails in CI and skips elsewhere, with a message that cannot be missed.
func needTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := "!!! " + name + " is not installed: this test proves the deploy files with the real tool. " +
		"Install Debian's `prometheus` package (apt-get install -y prometheus), or run bash .ci/run as root."
	if inCI() {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

// repoRoot is the module root (the parent of this package's directory).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Dir(filepath.Dir(file))
}

// readFile reads a file relative to the module root.
func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
