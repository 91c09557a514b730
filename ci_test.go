package main

import (
	"os"
	"strings"
	"testing"
)

// testCommand is the one command CI runs and the README shows.
const testCommand = "go vet ./... && go test -race ./..."

// commandLines returns the lines of text that run go test.
func commandLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ">") {
			continue
		}
		if strings.Contains(line, "go test") && !strings.Contains(line, "`") {
			out = append(out, line)
		}
	}
	return out
}

// The README's test command and the one .ci/run runs are the same.
func TestCIRunsTheREADMECommand(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	inREADME := commandLines(string(readme))
	inCI := commandLines(string(ci))
	if len(inREADME) != 1 || len(inCI) != 1 {
		t.Fatalf("want exactly one test command in each:\nREADME: %q\n.ci/run: %q", inREADME, inCI)
	}
	if inREADME[0] != inCI[0] {
		t.Errorf("README runs %q but .ci/run runs %q", inREADME[0], inCI[0])
	}
	if inCI[0] != testCommand {
		t.Errorf(".ci/run runs %q, want %q", inCI[0], testCommand)
	}
	if !strings.Contains(string(ci), "set -euo pipefail") {
		t.Errorf(".ci/run lacks set -euo pipefail")
	}
	if !strings.Contains(string(readme), "bash .ci/run") || !strings.Contains(string(readme), "go run . demo") {
		t.Errorf("README must show `go run . demo` and `bash .ci/run`")
	}
}
