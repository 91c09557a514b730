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

// README's first screen says what Earshot does, then how to try it (`go
// run . demo`, and what to try in the sandbox), then how to test it (`bash
// .ci/run`), before anything about configuring or running it for real.
func TestREADMEFirstScreen(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	lines := strings.Split(readme, "\n")
	firstScreen := strings.Join(lines[:min(len(lines), 25)], "\n")
	if !strings.HasPrefix(readme, "# Earshot\n") || !strings.Contains(firstScreen, "go run . demo") {
		t.Errorf("the first 25 lines of README do not show `go run . demo`:\n%s", firstScreen)
	}
	if lead, _, _ := strings.Cut(readme, "```"); !strings.Contains(lead, "complaints") || !strings.Contains(lead, "Slack") {
		t.Errorf("README does not open with what Earshot does:\n%s", lead)
	}
	order := []string{"go run . demo", "### What to try in the sandbox", "bash .ci/run", "## Configure", "## Operate"}
	at := -1
	for _, s := range order {
		i := strings.Index(readme, s)
		if i < 0 {
			t.Errorf("README lacks %q", s)
			continue
		}
		if i < at {
			t.Errorf("README shows %q before what comes ahead of it (want the order %q)", s, order)
		}
		at = i
	}
}
