package bridge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Watch rules say which posts become cases; routing rules say where a new
// case lands. Both are pure and read only the config and the post.

// watches reports whether any watch rule names network.
func (b *Bridge) watches(network string) bool {
	for _, w := range b.cfg.Watch {
		if w.Network == network {
			return true
		}
	}
	return false
}

// watched reports whether a post that joins no known conversation should
// open a case: some watch rule of its network matches it and none of that
// rule's exclusions does.
func (b *Bridge) watched(p Post) bool {
	var text *lowered
	for _, w := range b.cfg.Watch {
		if w.Network != p.Network {
			continue
		}
		if text == nil {
			text = lower(p.Text)
		}
		if w.matches(p, text) {
			return true
		}
	}
	return false
}

func (w WatchRule) matches(p Post, text *lowered) bool {
	hit := w.Mentions && p.MentionsUs ||
		w.RepliesToUs && p.ReplyToUs ||
		w.Direct && p.Direct ||
		text.anyPhrase(w.Keywords) ||
		text.anyHashtag(w.Hashtags)
	if !hit {
		return false
	}
	for _, x := range w.Exclude {
		if strings.HasPrefix(x, "#") {
			if text.hasHashtag(x[1:]) {
				return false
			}
		} else if text.hasPhrase(x) {
			return false
		}
	}
	return true
}

// route picks the queue, priority and tags of a new case: the first
// matching routing rule, else the first queue that is not a team's (the
// first queue when all are).
func (b *Bridge) route(p Post) (queue string, priority int, tags []string) {
	var text *lowered
	for _, r := range b.cfg.Routes {
		if len(r.Networks) > 0 && !containsFold(r.Networks, p.Network) {
			continue
		}
		if len(r.Languages) > 0 && !langMatches(r.Languages, p.Lang) {
			continue
		}
		if r.MinFollowers > 0 && p.Author.Followers < r.MinFollowers {
			continue
		}
		if len(r.Keywords) > 0 {
			if text == nil {
				text = lower(p.Text)
			}
			if !text.anyPhrase(r.Keywords) {
				continue
			}
		}
		return r.Queue, r.Priority, normTags(r.Tags)
	}
	for _, q := range b.cfg.Queues {
		if !q.Team {
			return q.Name, 0, nil
		}
	}
	return b.cfg.Queues[0].Name, 0, nil
}

func normTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// langMatches: "en" matches "en" and "en-GB"; a post without a language
// matches no language rule.
func langMatches(langs []string, lang string) bool {
	if lang == "" {
		return false
	}
	lang = strings.ToLower(lang)
	for _, l := range langs {
		l = strings.ToLower(l)
		if lang == l || strings.HasPrefix(lang, l+"-") || strings.HasPrefix(lang, l+"_") {
			return true
		}
	}
	return false
}

// lowered is a post's text folded to lower case once, for matching.
type lowered struct{ s string }

func lower(s string) *lowered { return &lowered{s: strings.ToLower(s)} }

func (t *lowered) anyPhrase(phrases []string) bool {
	for _, p := range phrases {
		if t.hasPhrase(p) {
			return true
		}
	}
	return false
}

// hasPhrase finds phrase as whole words: "late" matches "is late!" but not
// "chocolate"; a phrase may hold spaces ("no signal").
func (t *lowered) hasPhrase(phrase string) bool {
	phrase = strings.ToLower(strings.TrimSpace(phrase))
	if phrase == "" {
		return false
	}
	s := t.s
	for from := 0; ; {
		i := strings.Index(s[from:], phrase)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(phrase)
		if boundaryBefore(s, i) && boundaryAfter(s, end) {
			return true
		}
		from = i + 1
	}
}

func (t *lowered) anyHashtag(tags []string) bool {
	for _, h := range tags {
		if t.hasHashtag(h) {
			return true
		}
	}
	return false
}

// hasHashtag finds "#tag" as a whole tag: "#outage" but not "#outages".
func (t *lowered) hasHashtag(tag string) bool {
	tag = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(tag)), "#")
	if tag == "" {
		return false
	}
	needle := "#" + tag
	s := t.s
	for from := 0; ; {
		i := strings.Index(s[from:], needle)
		if i < 0 {
			return false
		}
		i += from
		if boundaryBefore(s, i) && boundaryAfter(s, i+len(needle)) {
			return true
		}
		from = i + 1
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isWordRune(r)
}

func boundaryAfter(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !isWordRune(r)
}
