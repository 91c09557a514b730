package xtext

import (
	"slices"
	"sync"
)

// The URL extractor is twitter-text's extractUrlsWithIndices (with
// extractUrlsWithoutProtocol on, as parseTweet calls it) over its extractUrl
// pattern:
//
//	(preceding)( (https?://)? domain (:port)? (/path)? (?query)? )
//
// written out by hand because Go's regexp has no lookahead, which the TLD
// alternations use. The pattern only ever takes the first way that works,
// and everything after the domain is optional, so each part below is the
// first choice a backtracking engine would settle on.

const (
	maxURLLength     = 4096 // with the protocol ("https://" when there is none)
	maxTcoSlugLength = 40
	maxLabelLength   = 63 // a domain label, punycode-encoded
)

// extractURLs returns the URL entities of u, in order.
func extractURLs(u []uint16) []urlSpan {
	if !slices.Contains(u, '.') {
		return nil // no domain without a dot
	}
	x := newURLScanner(u)
	var out []urlSpan
	for last := 0; last < len(u); {
		m, ok := x.find(last)
		if !ok {
			break
		}
		last = m.end // the next search starts after this match, kept or not
		out = x.accept(m, out)
	}
	return out
}

// urlMatch is one match of the pattern.
type urlMatch struct {
	before      int // the preceding unit, -1 at the start of the text
	start, end  int // the URL
	protocol    int // its length, 0 when absent
	domainStart int
	domainEnd   int
	path        bool
}

type urlScanner struct {
	u        []uint16
	cl       *classes
	labelEnd []int32 // where the run of domain characters, '-' and '_' from i ends
	under    []int32 // how many '_' come before i
	memo     []int32 // chainDomain of a label start, or memoUnknown
	tld      []int32 // where a TLD at a label start ends (-1: none), or memoUnknown
	domains  []span  // scratch: ASCII domains of one match
}

func newURLScanner(u []uint16) *urlScanner {
	x := &urlScanner{u: u, cl: urlClasses(), labelEnd: make([]int32, len(u)+1), under: make([]int32, len(u)+1), memo: make([]int32, len(u)+1), tld: make([]int32, len(u)+1)}
	for i := range x.memo {
		x.memo[i], x.tld[i] = memoUnknown, memoUnknown
	}
	x.labelEnd[len(u)] = int32(len(u))
	for i := len(u) - 1; i >= 0; i-- {
		x.labelEnd[i] = int32(i)
		if isLabelChar(u[i]) {
			x.labelEnd[i] = max(x.labelEnd[i+1], int32(i+1))
		}
	}
	for i, c := range u {
		x.under[i+1] = x.under[i]
		if c == '_' {
			x.under[i+1]++
		}
	}
	return x
}

func isLabelChar(c uint16) bool { return c == '-' || c == '_' || isDomainChar(c) }

// find is RegExp.exec from lastIndex: the leftmost match at or after from.
func (x *urlScanner) find(from int) (urlMatch, bool) {
	for p := from; p < len(x.u); p++ {
		// The preceding character is tried first, then the start of the text.
		if isPrecedingChar(x.u[p]) {
			if m, ok := x.urlAt(p + 1); ok {
				m.before = p
				return m, true
			}
		}
		if p == 0 {
			if m, ok := x.urlAt(0); ok {
				m.before = -1
				return m, true
			}
		}
	}
	return urlMatch{}, false
}

// urlAt matches protocol, domain, port, path and query at q.
func (x *urlScanner) urlAt(q int) (urlMatch, bool) {
	m := urlMatch{start: q}
	if n := x.protocolAt(q); n > 0 {
		// With a protocol the domain must follow it: without one, "http"
		// cannot start a domain (":" ends the label).
		m.protocol = n
	}
	ds := q + m.protocol
	de, ok := x.domainAt(ds)
	if !ok {
		return m, false
	}
	m.domainStart, m.domainEnd = ds, de
	i := de
	if i+1 < len(x.u) && x.u[i] == ':' && isDigit(x.u[i+1]) {
		for i++; i < len(x.u) && isDigit(x.u[i]); i++ {
		}
	}
	if i < len(x.u) && x.u[i] == '/' {
		m.path = true
		i = x.pathEnd(i + 1)
	}
	i = x.queryEnd(i)
	m.end = i
	return m, true
}

func isDigit(c uint16) bool { return c >= '0' && c <= '9' }

// protocolAt is the length of https?:// at q (any case), or 0.
func (x *urlScanner) protocolAt(q int) int {
	u := x.u
	if q+7 > len(u) || u[q]|0x20 != 'h' || u[q+1]|0x20 != 't' || u[q+2]|0x20 != 't' || u[q+3]|0x20 != 'p' {
		return 0
	}
	i := q + 4
	if u[i]|0x20 == 's' {
		i++
	}
	if i+3 <= len(u) && u[i] == ':' && u[i+1] == '/' && u[i+2] == '/' {
		return i + 3 - q
	}
	return 0
}

// domainAt is validDomain at q: subdomains (labels of domain characters,
// '-' and '_', each followed by '.'), then a domain name (no '_'), then a
// TLD. The pattern takes as many subdomains as it can first, so the last
// label of the run that can be the domain name and is followed by a TLD
// wins. The answer for the labels after q's first is the same for every q in
// that first label, so it is kept per label start (memo): a text of many
// short labels costs linear time, not quadratic.
func (x *urlScanner) domainAt(q int) (int, bool) {
	end := x.chainDomain(q)
	return end, end >= 0
}

// chainDomain is the end of the domain whose labels start at s, or -1.
func (x *urlScanner) chainDomain(s int) int {
	e := int(x.labelEnd[s])
	if !x.label(s, e) || e >= len(x.u) || x.u[e] != '.' {
		return -1 // not a subdomain, so not a domain name either
	}
	next := e + 1
	deeper := x.memo[next]
	if deeper == memoUnknown {
		deeper = int32(x.chainDomain(next))
		x.memo[next] = deeper
	}
	if deeper >= 0 {
		return int(deeper)
	}
	if x.under[e] != x.under[s] {
		return -1 // a domain name has no '_'
	}
	tld := x.tld[next]
	if tld == memoUnknown {
		tld = -1
		if end, ok := tldAt(x.u, next, len(x.u)); ok {
			tld = int32(end)
		}
		x.tld[next] = tld
	}
	return int(tld)
}

const memoUnknown = -2

// label reports whether [s, e) is a label: it starts and ends with a domain
// character ('-' and '_' only inside).
func (x *urlScanner) label(s, e int) bool {
	return e > s && isDomainChar(x.u[s]) && isDomainChar(x.u[e-1])
}

// pathEnd is where the path that starts after '/' at i-1 ends: after the last
// ending character or balanced parentheses in the run of path characters and
// balanced parentheses (validUrlPath*; "/" alone if there is none).
func (x *urlScanner) pathEnd(i int) int {
	end := i
	for i < len(x.u) {
		c := x.u[i]
		if x.cl.pathChar.has(c) {
			i++
			if x.cl.pathEnd.has(c) {
				end = i
			}
			continue
		}
		if c == '(' {
			if j, ok := x.balancedParens(i); ok {
				i, end = j, j
				continue
			}
		}
		break
	}
	return end
}

// balancedParens is validUrlBalancedParens at i: ( path chars ) or one
// nested level, ( chars ( chars ) chars ), never empty inside.
func (x *urlScanner) balancedParens(i int) (int, bool) {
	j := x.pathRun(i + 1)
	if j < len(x.u) && x.u[j] == ')' && j > i+1 {
		return j + 1, true
	}
	if j < len(x.u) && x.u[j] == '(' {
		k := x.pathRun(j + 1)
		if k > j+1 && k < len(x.u) && x.u[k] == ')' {
			l := x.pathRun(k + 1)
			if l < len(x.u) && x.u[l] == ')' {
				return l + 1, true
			}
		}
	}
	return 0, false
}

func (x *urlScanner) pathRun(i int) int {
	for i < len(x.u) && x.cl.pathChar.has(x.u[i]) {
		i++
	}
	return i
}

// queryEnd is where a query starting at i ends: '?' and the longest run of
// query characters that ends with a query-ending one; i if there is none.
func (x *urlScanner) queryEnd(i int) int {
	if i >= len(x.u) || x.u[i] != '?' {
		return i
	}
	end := i
	for j := i + 1; j < len(x.u) && isQueryChar(x.u[j]); j++ {
		if isQueryEnd(x.u[j]) {
			end = j + 1
		}
	}
	return end
}

// accept applies extractUrlsWithIndices' checks to a match and appends the
// entities it yields.
func (x *urlScanner) accept(m urlMatch, out []urlSpan) []urlSpan {
	if !x.validURL(m) {
		return out
	}
	if m.protocol == 0 {
		// Without a protocol: not after - _ . or /, and only the ASCII
		// domains inside the match (latin accents allowed) count; the last
		// one takes the path, port and query if there is a path.
		if m.before >= 0 {
			switch x.u[m.before] {
			case '-', '_', '.', '/':
				return out
			}
		}
		domains := x.asciiDomains(m.domainStart, m.domainEnd, x.domains[:0])
		x.domains = domains
		if len(domains) == 0 {
			return out
		}
		for i, d := range domains {
			e := urlSpan{start: d.start, end: d.end}
			if m.path && i == len(domains)-1 {
				// The domain in the URL's text becomes this ASCII domain.
				e.end, e.gapStart, e.gapEnd = m.end, d.end, m.domainEnd
			}
			out = append(out, e)
		}
		return out
	}
	// A t.co URL keeps its slug and query, nothing more, and a slug over 40
	// characters is no t.co URL at all.
	if end, slug, ok := x.tcoAt(m.start, m.end); ok {
		if slug > maxTcoSlugLength {
			return out
		}
		m.end = end
	}
	return append(out, urlSpan{start: m.start, end: m.end})
}

// validURL is isValidUrl: every label of the domain, punycode-encoded, has 1
// to 63 characters; a domain starting "xn--" must hold an ASCII domain; the
// URL with its protocol is at most 4096 units.
func (x *urlScanner) validURL(m urlMatch) bool {
	protocol := m.protocol
	if protocol == 0 {
		protocol = len("https://")
	}
	if protocol+m.end-m.start > maxURLLength {
		return false
	}
	d := x.u[m.domainStart:m.domainEnd]
	for rest := d; len(rest) > 0; {
		i := slices.Index(rest, '.')
		if i < 0 {
			i = len(rest)
		}
		if n := punycodeLength(rest[:i]); n < 1 || n > maxLabelLength {
			return false
		}
		if i == len(rest) {
			break
		}
		rest = rest[i+1:]
	}
	// Checked last: the labels are short by now, which keeps this linear.
	if len(d) >= 4 && d[0] == 'x' && d[1] == 'n' && d[2] == '-' && d[3] == '-' {
		return len(x.asciiDomains(m.domainStart, m.domainEnd, nil)) > 0
	}
	return true
}

// asciiDomains appends the matches of validAsciiDomain in [s, e): labels of
// ASCII letters, digits, '-' and latin accents, each followed by '.', then a
// TLD that ends the domain or is followed by anything but a letter, digit,
// '@', '+' or '-'. As in domainAt, the most labels are tried first, and the
// answer after a label is kept per label start.
func (x *urlScanner) asciiDomains(s, e int, out []span) []span {
	memo := make([]int32, e-s+1)
	for i := range memo {
		memo[i] = memoUnknown
	}
	var chain func(a int) int
	chain = func(a int) int {
		j := a
		for j < e && x.cl.asciiDomain.has(x.u[j]) {
			j++
		}
		if j == a || j >= e || x.u[j] != '.' {
			return -1
		}
		next := j + 1
		if memo[next-s] == memoUnknown {
			memo[next-s] = int32(chain(next))
		}
		if deeper := memo[next-s]; deeper >= 0 {
			return int(deeper)
		}
		if end, ok := tldAt(x.u, next, e); ok {
			return end
		}
		return -1
	}
	prevEnd := s
	for a := s; a < e; {
		end := chain(a)
		if end < 0 {
			a++
			continue
		}
		// indexOf from the end of the previous one finds where it starts.
		at := prevEnd + indexUnits(x.u[prevEnd:e], x.u[a:end])
		out = append(out, span{at, at + end - a})
		prevEnd = at + end - a
		a = end
	}
	return out
}

func indexUnits(s, sub []uint16) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if slices.Equal(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// tcoAt matches validTcoUrl at the start of the URL [s, e): https?://t.co/
// and a slug of ASCII letters and digits, then an optional query. It
// returns where that ends and the slug's length.
func (x *urlScanner) tcoAt(s, e int) (end, slug int, ok bool) {
	u := x.u[:e]
	i := s + x.protocolAt(s)
	if i+5 > e || u[i]|0x20 != 't' || u[i+1] != '.' || u[i+2]|0x20 != 'c' || u[i+3]|0x20 != 'o' || u[i+4] != '/' {
		return 0, 0, false
	}
	i += 5
	j := i
	for j < e && isASCIIAlnum(u[j]) {
		j++
	}
	if j == i {
		return 0, 0, false
	}
	q := j
	if j < e && u[j] == '?' {
		for k := j + 1; k < e && isQueryChar(u[k]); k++ {
			if isQueryEnd(u[k]) {
				q = k + 1
			}
		}
	}
	return q, j - i, true
}

// tldNode is a trie of the TLDs by canonical code unit.
type tldNode struct {
	next  map[uint16]*tldNode
	order int // the TLD's place in the alternation, or -1
}

var tldTrie = sync.OnceValue(func() *tldNode {
	root := &tldNode{order: -1}
	for i, t := range slices.Concat(gTLDs, ccTLDs) {
		n := root
		for _, c := range utf16Encode(t) {
			c = canon(c)
			if n.next == nil {
				n.next = map[uint16]*tldNode{}
			}
			child := n.next[c]
			if child == nil {
				child = &tldNode{order: -1}
				n.next[c] = child
			}
			n = child
		}
		n.order = i
	}
	return root
})

func utf16Encode(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16EncodeRune(r)
			out = append(out, hi, lo)
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}

func utf16EncodeRune(r rune) (uint16, uint16) {
	r -= 0x10000
	return uint16(0xD800 + r>>10), uint16(0xDC00 + r&0x3FF)
}

// tldAt matches (gTLD|ccTLD|punycode) at t, searching no further than
// limit: of the TLDs that match there and are followed by the end or by
// anything but an ASCII letter, digit, '@', '+' or '-', the first in the
// alternation; else xn-- and the longest run of letters, digits and '-'.
func tldAt(u []uint16, t, limit int) (int, bool) {
	best, bestEnd := -1, 0
	n := tldTrie()
	for j := t; j < limit; j++ {
		n = n.next[canon(u[j])]
		if n == nil {
			break
		}
		if n.order >= 0 && (best < 0 || n.order < best) && tldBoundary(u, j+1, limit) {
			best, bestEnd = n.order, j+1
		}
	}
	if best >= 0 {
		return bestEnd, true
	}
	if t+4 < limit && u[t]|0x20 == 'x' && u[t+1]|0x20 == 'n' && u[t+2] == '-' && u[t+3] == '-' {
		j := t + 4
		for j < limit && (isASCIIAlnum(u[j]) || u[j] == '-') {
			j++
		}
		if j > t+4 {
			return j, true
		}
	}
	return 0, false
}

func tldBoundary(u []uint16, j, limit int) bool {
	if j >= limit {
		return true
	}
	c := u[j]
	return !isASCIIAlnum(c) && c != '@' && c != '+' && c != '-'
}
