package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Split cuts a command's argument text into arguments the way staff expect
// from a chat box, close to a shell but forgiving of ordinary prose:
//
//   - arguments are separated by any Unicode space (including no-break and
//     ideographic spaces) and by zero-width spaces and word joiners that chat
//     clients paste;
//   - "double", 'single', “curly”, ‘curly’ and «guillemet» quotes group
//     words, but only when the quote starts an argument (or directly follows
//     a closing quote): the apostrophe in `customer's` stays a letter;
//   - a backslash makes the next character literal, outside quotes and inside
//     double quotes; inside single quotes only \' and \\ are escapes; a
//     trailing lone backslash is kept as is;
//   - "" is an empty argument;
//   - a quote opened and never closed is an error naming where it opened.
//
// Split never returns an error for text without quotes. It does no I/O.
func Split(raw string) ([]string, error) {
	var out []string
	for i := 0; ; {
		tok, end, ok, err := scan(raw, i, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, tok)
		i = end
	}
}

// splitLenient is Split for free text: an unbalanced quote is kept as a
// literal character instead of failing.
func splitLenient(raw string) []string {
	var out []string
	for i := 0; ; {
		tok, end, ok, _ := scan(raw, i, true)
		if !ok {
			return out
		}
		out = append(out, tok)
		i = end
	}
}

// skipTokens returns raw after its first n arguments, with the separators
// before the rest removed. ok is false when raw has fewer than n arguments
// or one of them is unbalanced.
func skipTokens(raw string, n int) (rest string, ok bool) {
	i := 0
	for range n {
		_, end, found, err := scan(raw, i, false)
		if err != nil || !found {
			return "", false
		}
		i = end
	}
	return trimSep(raw[i:]), true
}

// trimSep removes leading and trailing separators.
func trimSep(s string) string {
	return strings.TrimFunc(s, isSep)
}

// isSep reports whether r separates arguments.
func isSep(r rune) bool {
	switch r {
	case '\u200b', '\u2060', '\ufeff', '\u180e':
		return true
	}
	return unicode.IsSpace(r)
}

// closers maps each opening quote to the quotes that close it.
func closers(r rune) string {
	switch r {
	case '"':
		return `"`
	case '\'':
		return `'`
	case '“':
		return `”"`
	case '‘':
		return `’'`
	case '«':
		return `»`
	}
	return ""
}

// scan reads one argument of s starting at byte i, skipping separators
// first. ok is false when only separators are left. end is the byte offset
// just after the argument. Bytes of invalid UTF-8 are kept as they are.
func scan(s string, i int, lenient bool) (tok string, end int, ok bool, err error) {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isSep(r) {
			break
		}
		i += size
	}
	if i >= len(s) {
		return "", len(s), false, nil
	}
	start := i
	// Fast path: an argument without a backslash that does not start with a
	// quote is taken as is (a quote can only open after a closing one).
	if first, _ := utf8.DecodeRuneInString(s[i:]); closers(first) == "" {
		j := i
		plain := true
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if isSep(r) {
				break
			}
			if r == '\\' {
				plain = false
				break
			}
			j += size
		}
		if plain {
			return s[i:j], j, true, nil
		}
	}
	var b strings.Builder
	canOpen := true // a quote may open here
	var open rune   // the quote we are inside, 0 outside
	openAt := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if open == 0 {
			switch {
			case isSep(r):
				return b.String(), i, true, nil
			case r == '\\':
				if i+size < len(s) {
					_, n := utf8.DecodeRuneInString(s[i+size:])
					b.WriteString(s[i+size : i+size+n])
					i += size + n
				} else {
					b.WriteByte('\\')
					i += size
				}
				canOpen = false
				continue
			case canOpen && closers(r) != "":
				open, openAt = r, i
				i += size
				continue
			}
			b.WriteString(s[i : i+size])
			canOpen = false
			i += size
			continue
		}
		// Inside a quote.
		if strings.ContainsRune(closers(open), r) {
			open = 0
			canOpen = true
			i += size
			continue
		}
		if r == '\\' && i+size < len(s) {
			nr, n := utf8.DecodeRuneInString(s[i+size:])
			single := open == '\'' || open == '‘'
			if !single || nr == '\\' || strings.ContainsRune(closers(open), nr) {
				b.WriteString(s[i+size : i+size+n])
				i += size + n
				continue
			}
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	if open != 0 {
		if lenient {
			// Take the argument literally up to the next separator.
			j := start
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if isSep(r) {
					break
				}
				j += size
			}
			return s[start:j], j, true, nil
		}
		col := utf8.RuneCountInString(s[:openAt]) + 1
		return "", 0, false, fmt.Errorf("the %c quote at character %d is never closed", open, col)
	}
	return b.String(), i, true, nil
}

// Quote returns s written so that Split reads it back as one argument.
func Quote(s string) string {
	if s == "" {
		return `""`
	}
	first, _ := utf8.DecodeRuneInString(s)
	needs := closers(first) != ""
	for _, r := range s {
		if isSep(r) || r == '\\' {
			needs = true
			break
		}
	}
	if !needs {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// Join quotes each argument as needed and joins them with spaces; Split
// reads the result back as args.
func Join(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
