package bluesky

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Rich text: Bluesky shows a mention, a link or a hashtag as such only when
// the post carries a facet for it, with UTF-8 byte offsets into the text.
// Detection follows the official app's (@atproto/api RichText
// detectFacets), so a reply reads the same as one typed in the app.

const (
	facetMention = "app.bsky.richtext.facet#mention"
	facetLink    = "app.bsky.richtext.facet#link"
	facetTag     = "app.bsky.richtext.facet#tag"
)

// facets returns the facets of text, ordered by offset: mentions of
// handles that resolve (others stay plain text), links and hashtags. It
// may resolve handles (network I/O).
func (n *Network) facets(ctx context.Context, text string) []facet {
	var out []facet
	add := func(start, end int, f facetFeature) {
		var fc facet
		fc.Index.ByteStart, fc.Index.ByteEnd = start, end
		fc.Features = []facetFeature{f}
		out = append(out, fc)
	}
	for _, m := range FindMentions(text) {
		if did, err := n.resolveHandle(ctx, m.Handle); err == nil && did != "" {
			add(m.Start, m.End, facetFeature{Type: facetMention, DID: did})
		}
	}
	for _, l := range FindLinks(text) {
		add(l.Start, l.End, facetFeature{Type: facetLink, URI: l.URI})
	}
	for _, t := range FindTags(text) {
		add(t.Start, t.End, facetFeature{Type: facetTag, Tag: t.Tag})
	}
	slices.SortFunc(out, func(a, b facet) int { return a.Index.ByteStart - b.Index.ByteStart })
	return out
}

var handleRe = regexp.MustCompile(`(^|\s|\()@([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)+)`)

// Mention is an @handle found in text, with UTF-8 byte offsets of "@handle".
type Mention struct {
	Handle     string
	Start, End int
}

// FindMentions finds @handles (domain-like) in text with byte offsets.
func FindMentions(text string) []Mention {
	var out []Mention
	for _, m := range handleRe.FindAllStringSubmatchIndex(text, -1) {
		out = append(out, Mention{Handle: strings.ToLower(text[m[4]:m[5]]), Start: m[4] - 1, End: m[5]})
	}
	return out
}

// linkRe finds what may be a link: a URL with its scheme, or a bare
// domain (checked for a real top-level domain) with an optional path,
// after the start, a space or "(".
var linkRe = regexp.MustCompile(`(?i)(^|\s|\()((https?://\S+)|(([a-z][a-z0-9]*(\.[a-z0-9]+)+)\S*))`)

// Link is a URL found in text: URI is what it points at (a bare domain
// gets https://), Start and End the UTF-8 byte offsets of the text shown.
type Link struct {
	URI        string
	Start, End int
}

// FindLinks finds links in text with byte offsets. Punctuation that ends
// a sentence is not part of a link, nor is a closing parenthesis the link
// does not open.
func FindLinks(text string) []Link {
	var out []Link
	for _, m := range linkRe.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[4], m[5]
		uri := text[start:end]
		if m[6] < 0 { // a bare domain
			domain := strings.ToLower(text[m[10]:m[11]])
			if suffix, icann := publicsuffix.PublicSuffix(domain); !icann || suffix == domain {
				continue
			}
			uri = "https://" + uri
		}
		if strings.ContainsAny(uri[len(uri)-1:], ".,;:!?") {
			uri, end = uri[:len(uri)-1], end-1
		}
		if strings.HasSuffix(uri, ")") && !strings.Contains(uri, "(") {
			uri, end = uri[:len(uri)-1], end-1
		}
		if end > start {
			out = append(out, Link{URI: uri, Start: start, End: end})
		}
	}
	return out
}

// Tag is a hashtag found in text: Tag without its '#', Start and End the
// UTF-8 byte offsets of "#tag".
type Tag struct {
	Tag        string
	Start, End int
}

// maxTagLen is the longest tag Bluesky takes, in UTF-16 code units.
const maxTagLen = 64

// FindTags finds hashtags in text with byte offsets: a '#' (or '＃') at
// the start or after a space, then characters up to the next space or
// invisible separator, less trailing punctuation; not only digits, at
// most 64 long.
func FindTags(text string) []Tag {
	var out []Tag
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r != '#' && r != '＃' {
			i += size
			continue
		}
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(text[:i])
			if !unicode.IsSpace(prev) {
				i += size
				continue
			}
		}
		start, body := i, i+size
		end := body
		for end < len(text) {
			c, n := utf8.DecodeRuneInString(text[end:])
			if unicode.IsSpace(c) || tagBreak(c) {
				break
			}
			end += n
		}
		i = max(end, body)
		if next, _ := utf8.DecodeRuneInString(text[body:]); next == '\ufe0f' {
			continue // a keycap emoji (#️⃣), not a tag
		}
		for end > body {
			c, n := utf8.DecodeLastRuneInString(text[body:end])
			if !unicode.IsPunct(c) {
				break
			}
			end -= n
		}
		tag := text[body:end]
		if tag == "" || utf16Len(tag) > maxTagLen || !strings.ContainsFunc(tag, func(c rune) bool {
			return !unicode.IsDigit(c) && !unicode.IsSpace(c) && !unicode.IsPunct(c) && !tagBreak(c)
		}) {
			continue
		}
		out = append(out, Tag{Tag: tag, Start: start, End: end})
	}
	return out
}

// tagBreak reports the invisible characters that end a tag as a space does.
func tagBreak(c rune) bool {
	switch c {
	case '\u00ad', '\u2060', '\u200a', '\u200b', '\u200c', '\u200d', '\u20e2':
		return true
	}
	return false
}

// utf16Len is the length of s in UTF-16 code units (JavaScript's length).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
