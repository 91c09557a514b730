// Package desktext holds what the desks share in reading staff messages as
// plain text (the canonical reading the bridge's public-speech rules start
// from): how a link reads once its markup is gone. Each desk parses its own
// markup; this package only decides how the pieces read.
package desktext

import (
	"net/url"
	"strings"
	"unicode"
)

// Link is how a link with target (a URL, or mailto:address) and label
// reads in plain text:
//
//   - no label, or a label that is the target as typed (without its
//     scheme, mailto: or a trailing slash): the label, else the address;
//   - a label that reads as another address or domain: the real address
//     only, so a label never poses as a different place;
//   - any other label: "label (address)".
func Link(target, label string) string {
	label = strings.TrimSpace(label)
	addr := strings.TrimPrefix(target, "mailto:")
	switch {
	case label == "":
		return addr
	case sameAddress(label, target):
		return label
	case LooksLikeAddress(label):
		return addr
	}
	return label + " (" + addr + ")"
}

// sameAddress reports whether label is target as typed.
func sameAddress(label, target string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"mailto:", "https://", "http://", "tel:"} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimSuffix(s, "/")
	}
	return norm(label) == norm(target)
}

// LooksLikeAddress reports text that reads as a web or mail address or a
// domain ("example.com", "https://x", "a@b").
func LooksLikeAddress(text string) bool {
	l := strings.TrimSpace(text)
	if l == "" || strings.ContainsAny(l, " \t\n") {
		return false
	}
	if strings.Contains(l, "://") || strings.Contains(l, "@") {
		return true
	}
	host, _, _ := strings.Cut(l, "/")
	u, err := url.Parse("http://" + host)
	if err != nil || !strings.Contains(u.Hostname(), ".") {
		return false
	}
	h := u.Hostname()
	tld := h[strings.LastIndexByte(h, '.')+1:]
	return len(tld) >= 2 && strings.IndexFunc(tld, func(r rune) bool { return !unicode.IsLetter(r) }) < 0
}
