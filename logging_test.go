package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type secretHolder struct{ Token string }

func (s secretHolder) String() string { return "holder(" + s.Token + ")" }

// Secrets never reach the log, whatever form they travel in.
func TestLoggerRedactsSecrets(t *testing.T) {
	const tok = "xoxb-1234-very-secret"
	const other = "signing-secret-99"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, format, "debug", []string{tok, other, "ab"})
			log.Info("calling https://api.example/?token="+tok, "err", errors.New("bad auth "+tok))
			log.With("cfg", tok).WithGroup("g").Debug("x",
				"holder", secretHolder{tok},
				slog.Group("inner", "sig", other, "n", 3),
				"wrapped", fmt.Errorf("post: %w", errors.New(other)),
			)
			log.Warn("short secrets are not redacted: ab")
			out := buf.String()
			for _, s := range []string{tok, other} {
				if strings.Contains(out, s) {
					t.Errorf("secret %q leaked:\n%s", s, out)
				}
			}
			if strings.Count(out, redacted) < 6 {
				t.Errorf("want at least 6 redactions:\n%s", out)
			}
			if !strings.Contains(out, "short secrets are not redacted: ab") {
				t.Errorf("short values must pass untouched:\n%s", out)
			}
		})
	}
}

func TestLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "json", "warn", nil).Info("hidden")
	newLogger(&buf, "json", "warn", nil).Warn("shown", "k", "v")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time"`) || !strings.Contains(got, `"k":"v"`) {
		t.Errorf("json logger at warn: %q", got)
	}
	buf.Reset()
	newLogger(&buf, "text", "info", nil).Info("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "msg=hello k=v") {
		t.Errorf("text logger: %q", got)
	}
}

func TestRedactStringLongestFirst(t *testing.T) {
	got := redactString("a=abcd-long b=abcd", []string{"abcd", "abcd-long"})
	if got != "a=[REDACTED] b=[REDACTED]" {
		t.Errorf("got %q", got)
	}
}
