package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// parseLevel reads debug, info, warn or error.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}

// newLogger writes to w as JSON (production) or text (demo, check), and
// replaces every secret in messages and attribute values by "[REDACTED]".
func newLogger(w io.Writer, format, level string, secrets []string) *slog.Logger {
	lvl, err := parseLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(newRedactor(h, secrets))
}

// redacted replaces secrets in what is logged or printed.
const redacted = "[REDACTED]"

// redactor is a slog.Handler that removes secrets before the inner handler
// sees a record. It is the last line of defence: connectors must not log
// secrets in the first place, but an error echoing a request URL with a
// token, or a config value logged by mistake, is caught here.
type redactor struct {
	inner   slog.Handler
	replace *strings.Replacer
}

func newRedactor(h slog.Handler, secrets []string) slog.Handler {
	if len(secrets) == 0 {
		return h
	}
	return &redactor{inner: h, replace: secretReplacer(secrets)}
}

// secretReplacer replaces the longest secrets first, so a secret that
// contains another is removed whole.
func secretReplacer(secrets []string) *strings.Replacer {
	seen := map[string]bool{}
	var list []string
	for _, s := range secrets {
		if len(s) >= minSecretLen && !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	// strings.Replacer tries the arguments in order at each position.
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && len(list[j]) > len(list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, redacted)
	}
	return strings.NewReplacer(pairs...)
}

// redactString removes secrets from s; for text printed outside the logger
// (`earshot check` output).
func redactString(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	return secretReplacer(secrets).Replace(s)
}

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool {
	return r.inner.Enabled(ctx, l)
}

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.replace.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.inner.Handle(ctx, out)
}

func (r *redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = r.attr(a)
	}
	return &redactor{inner: r.inner.WithAttrs(clean), replace: r.replace}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	return &redactor{inner: r.inner.WithGroup(name), replace: r.replace}
}

// attr redacts one attribute, resolving LogValuers and descending into groups.
// Values that are not plain kinds (errors, structs, Stringers) are rendered
// as text and redacted, so nothing escapes through a formatter.
func (r *redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.replace.Replace(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = r.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		s := fmt.Sprint(v.Any())
		if c := r.replace.Replace(s); c != s {
			return slog.String(a.Key, c)
		}
		return slog.Attr{Key: a.Key, Value: v}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
