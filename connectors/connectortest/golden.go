package connectortest

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// update is the -update flag of every test binary that imports
// connectortest (a test package importing it must not declare its own).
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ (Golden)")

// Golden compares got with the golden file at path (testdata/*.golden.*),
// failing the test where they differ or the file is missing; with
// `go test -update` it writes got to path instead.
func Golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs (run go test -update after checking):\n%s", path, got)
	}
}
