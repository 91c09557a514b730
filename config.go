package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
)

// Defaults for the settings main owns (the bridge has its own).
const (
	defaultListen          = ":8080"
	defaultDataDir         = "./earshot-data"
	defaultHealthGrace     = 2 * time.Minute
	defaultShutdownTimeout = 25 * time.Second // inside Kubernetes' default 30 s grace period
	maxSecretFile          = 1 << 20          // a *_file larger than this is surely not a secret
	minSecretLen           = 4                // shorter values are not redacted (they would garble every log line)
)

// fileConfig is the config file as operators write it (deploy/earshot.example.yaml
// documents every key). Durations are Go strings: "10s", "72h".
type fileConfig struct {
	Listen        string        `yaml:"listen"`
	DataDir       string        `yaml:"data_dir"`
	Log           logConfig     `yaml:"log"`
	Outbox        outboxConfig  `yaml:"outbox"`
	Retention     retention     `yaml:"retention"`
	NotePrefixes  []string      `yaml:"note_prefixes"`
	CommandPrefix string        `yaml:"command_prefix"`
	CaseIDPrefix  string        `yaml:"case_id_prefix"`
	DeskWorkers   int           `yaml:"desk_workers"`
	Queues        []queueConfig `yaml:"queues"`
	Watch         []watchConfig `yaml:"watch"`
	Routes        []routeConfig `yaml:"routes"`
	Staff         []staffConfig `yaml:"staff"`
	Store         storeConfig   `yaml:"store"` // where the journal lives (store.go)

	// Operations: connector health in /readyz, and the shutdown budget.
	Health          healthConfig  `yaml:"health"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// Incident mode and saved replies (config_incidents.go).
	Incidents incidentsConfig `yaml:"incidents"`
	Replies   []replyConfig   `yaml:"replies"`

	// Connectors are the per-connector sections (slack:, mastodon:, ...),
	// each decoded into its connector package's Config.
	Connectors connectors.Config `yaml:",inline"`
}

// healthConfig is when a connector's trouble makes Earshot unready.
type healthConfig struct {
	// Grace is how long a required connector may be down before /readyz
	// answers 503 (default 2m; 0: at once).
	Grace *time.Duration `yaml:"grace"`
	// Required names the connectors whose being down makes Earshot
	// unready; absent: every configured connector; []: none.
	Required []string `yaml:"required"`
}

type logConfig struct {
	Format string `yaml:"format"` // json (default) or text
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

type outboxConfig struct {
	UndoWindow *time.Duration `yaml:"undo_window"` // nil: the bridge's default (10s); 0 allowed
	Retry      retryConfig    `yaml:"retry"`
	Pacing     []pacingConfig `yaml:"pacing"` // config_incidents.go
}

type retention struct {
	Resolved time.Duration `yaml:"resolved"` // how long a resolved case is kept; 0 keeps every case
}

type retryConfig struct {
	Attempts int           `yaml:"attempts"`
	Backoff  time.Duration `yaml:"backoff"`
	MaxWait  time.Duration `yaml:"max_wait"`
}

type queueConfig struct {
	Name               string        `yaml:"name"`
	Desk               string        `yaml:"desk"`
	Channel            string        `yaml:"channel"`
	Team               bool          `yaml:"team"`
	SLA                slaConfig     `yaml:"sla"`
	ReopenWindow       time.Duration `yaml:"reopen_window"`
	FirstReplierClaims bool          `yaml:"first_replier_claims"`
	OneCasePerCustomer *bool         `yaml:"one_case_per_customer"` // nil: true
	Surge              surgeConfig   `yaml:"surge"`
}

type slaConfig struct {
	FirstResponse time.Duration `yaml:"first_response"`
	Resolution    time.Duration `yaml:"resolution"`
}

type watchConfig struct {
	Network     string   `yaml:"network"`
	Mentions    bool     `yaml:"mentions"`
	RepliesToUs bool     `yaml:"replies_to_us"`
	Direct      bool     `yaml:"direct"`
	Keywords    []string `yaml:"keywords"`
	Hashtags    []string `yaml:"hashtags"`
	Exclude     []string `yaml:"exclude"`
}

type routeConfig struct {
	Name         string   `yaml:"name"`
	Networks     []string `yaml:"networks"`
	Keywords     []string `yaml:"keywords"`
	Languages    []string `yaml:"languages"`
	MinFollowers int      `yaml:"min_followers"`
	Queue        string   `yaml:"queue"`
	Priority     int      `yaml:"priority"`
	Tags         []string `yaml:"tags"`
}

type staffConfig struct {
	Desk  string `yaml:"desk"`
	User  string `yaml:"user"`
	Group string `yaml:"group"`
	Role  string `yaml:"role"`
}

// loadedConfig is a config file read, expanded, checked and decoded.
type loadedConfig struct {
	Path string
	File fileConfig
	// Secrets are values that must never be logged or printed: everything
	// read through a *_file key and every value of a secret-looking key
	// (token, secret, password, key, ...).
	Secrets []string
	lines   map[string]int // config path ("queues[1].sla") → line, to locate errors
}

// configError is one problem in the config file, located by line and path.
type configError struct {
	File string
	Line int    // 0 when unknown
	Path string // "queues[1].sla.first_response"; "" for the file as a whole
	Msg  string
}

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// configErrors lists every problem found; its Error has one per line.
type configErrors []*configError

func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders the problems by line; those without a line come last.
func (es configErrors) sorted() configErrors {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	return es
}

// loadConfig reads the YAML file at path. It expands ${VAR} from getenv ($$
// is a literal $), replaces every `foo_file: PATH` by `foo: <file contents>`
// (relative paths from the config file's directory, one trailing newline
// trimmed), refuses unknown keys and malformed durations, and decodes. Every
// problem found is returned at once as configErrors, each with its line.
// It does file I/O and nothing else.
func loadConfig(path string, getenv func(string) (string, bool)) (*loadedConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, raw, getenv, os.ReadFile)
}

// parseConfig is loadConfig on bytes already read; readFile serves *_file keys.
func parseConfig(path string, raw []byte, getenv func(string) (string, bool), readFile func(string) ([]byte, error)) (*loadedConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, configErrors{yamlError(path, err)}
	}
	if len(doc.Content) == 0 {
		return nil, configErrors{{File: path, Msg: "the file is empty"}}
	}
	w := &treeWalker{
		file:     path,
		dir:      filepath.Dir(path),
		getenv:   getenv,
		readFile: readFile,
		lines:    map[string]int{},
	}
	root := doc.Content[0]
	w.expand(root, "", 0)
	w.walk(root, reflect.TypeOf(fileConfig{}), "", 0)
	secrets := append(w.secrets, secretValues(root)...)
	// Error messages may quote values ("cannot unmarshal !!str `xoxb-...`"):
	// they hide secrets and anything that came from the environment.
	hide := append(append([]string{}, secrets...), w.fromEnv...)
	if len(w.errs) > 0 {
		return nil, w.errs.redact(hide).sorted()
	}
	lc := &loadedConfig{Path: path, lines: w.lines, Secrets: secrets}
	if err := root.Decode(&lc.File); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var es configErrors
			at := w.pathsByLine()
			for _, m := range te.Errors {
				e := lineError(path, hideQuoted(m, hide))
				e.Path = at[e.Line]
				es = append(es, e)
			}
			return nil, es.redact(hide)
		}
		return nil, configErrors{{File: path, Msg: redactString(err.Error(), hide)}}
	}
	return lc, nil
}

// pathsByLine maps each line to the deepest config path that starts on it,
// to name the place of the decoder's errors, which only know lines.
func (w *treeWalker) pathsByLine() map[int]string {
	out := map[int]string{}
	for p, l := range w.lines {
		if len(p) > len(out[l]) {
			out[l] = p
		}
	}
	return out
}

// hideQuoted replaces a value yaml quotes in backticks, whole or shortened
// to "xoxb-en...", when it is (the start of) a secret.
func hideQuoted(msg string, secrets []string) string {
	start := strings.IndexByte(msg, '`')
	if start < 0 {
		return msg
	}
	end := strings.IndexByte(msg[start+1:], '`')
	if end < 0 {
		return msg
	}
	quoted := msg[start+1 : start+1+end]
	prefix, shortened := strings.CutSuffix(quoted, "...")
	for _, s := range secrets {
		if s == quoted || (shortened && prefix != "" && strings.HasPrefix(s, prefix)) {
			return msg[:start+1] + redacted + msg[start+1+end:]
		}
	}
	return msg
}

// redact removes secrets from every message.
func (es configErrors) redact(secrets []string) configErrors {
	if len(secrets) == 0 {
		return es
	}
	r := secretReplacer(secrets)
	for _, e := range es {
		e.Msg = r.Replace(e.Msg)
	}
	return es
}

// yamlError turns a parse error ("yaml: line 3: ...") into a located configError.
func yamlError(file string, err error) *configError {
	return lineError(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

// lineError reads the "line N: " prefix yaml.v3 puts on its messages.
func lineError(file, msg string) *configError {
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return &configError{File: file, Line: n, Msg: text}
			}
		}
	}
	return &configError{File: file, Msg: msg}
}

// lineOf finds the line of path or of its nearest parent present in the file.
func (lc *loadedConfig) lineOf(path string) int {
	for path != "" {
		if l, ok := lc.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// locate turns an error whose message starts with a config path
// ("queues[1].desk: required", as bridge.Config.Validate writes them) into a
// configError with the line of that path.
func (lc *loadedConfig) locate(err error) *configError {
	msg := err.Error()
	if p, rest, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(p, " \"") {
		return &configError{File: lc.Path, Line: lc.lineOf(p), Path: p, Msg: rest}
	}
	return &configError{File: lc.Path, Msg: msg}
}

// treeWalker rewrites and checks the YAML node tree before decoding.
type treeWalker struct {
	file     string
	dir      string
	getenv   func(string) (string, bool)
	readFile func(string) ([]byte, error)
	errs     configErrors
	lines    map[string]int
	secrets  []string
	visits   int                 // nodes walked: bounds the work aliases can cause
	onPath   map[*yaml.Node]bool // alias targets being walked: a cycle is refused
	bad      map[*yaml.Node]bool // values whose ${VAR} failed: already reported
	fromEnv  []string            // values that came from the environment, hidden in errors
}

const (
	maxDepth  = 64
	maxVisits = 100_000
)

func (w *treeWalker) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, &configError{File: w.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// markBad records a node whose problem was reported, so later checks skip it.
func (w *treeWalker) markBad(n *yaml.Node) {
	if w.bad == nil {
		w.bad = map[*yaml.Node]bool{}
	}
	w.bad[n] = true
}

// expand replaces ${VAR} in every scalar value (not in keys).
func (w *treeWalker) expand(n *yaml.Node, path string, depth int) {
	if depth > maxDepth {
		w.errorf(n, path, "nested too deeply")
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandEnv(n.Value, w.getenv)
		if err != nil {
			w.errorf(n, path, "%v", err)
			w.markBad(n)
			return
		}
		if v == "" && isSecretKey(lastKey(path)) {
			// run would fail later, far from this line, or worse, run
			// without the credential.
			w.errorf(n, path, "environment variable %s is set but empty, and a secret cannot be empty", strings.Join(envNames(n.Value), ", "))
			n.Value = ""
			w.markBad(n)
			return
		}
		if v != n.Value {
			if len(v) >= minSecretLen {
				w.fromEnv = append(w.fromEnv, v)
			}
			n.Value = v
			// A plain scalar is re-resolved from its new text ("${PORT}" → 8080);
			// a quoted one stays a string.
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				n.Tag = ""
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.expand(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.expand(n.Content[i+1], joinPath(path, n.Content[i].Value), depth+1)
		}
	}
}

// expandEnv replaces ${NAME} by its value; $$ is a literal $; any other $ is
// kept as it is. An unset variable is an error naming it.
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in value")
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q in ${...} (write $$ for a literal $)", name)
			}
			v, ok := getenv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// envNames lists the ${NAME}s of a value.
func envNames(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return out
		}
		out = append(out, s[i+2:i+end])
		s = s[i+end:]
	}
}

// lastKey is the last key of a config path ("slack.bot_token" → "bot_token").
func lastKey(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
	unmarshalerT = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// walk checks n against the Go type t it will be decoded into: unknown keys,
// malformed durations, mappings where a value is expected. It resolves
// *_file keys and records the line of every path.
func (w *treeWalker) walk(n *yaml.Node, t reflect.Type, path string, depth int) {
	if depth > maxDepth {
		w.errorf(n, path, "nested too deeply")
		return
	}
	if w.visits++; w.visits > maxVisits {
		if w.visits == maxVisits+1 {
			w.errorf(n, path, "the file expands to too many values (aliases?)")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		target := n.Alias
		if target == nil {
			return
		}
		if w.onPath[target] {
			w.errorf(n, path, "alias *%s refers to itself", n.Value)
			return
		}
		if w.onPath == nil {
			w.onPath = map[*yaml.Node]bool{}
		}
		w.onPath[target] = true
		defer delete(w.onPath, target)
		n = target
	}
	if w.bad[n] {
		return
	}
	if path != "" {
		if _, seen := w.lines[path]; !seen {
			w.lines[path] = n.Line
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the default
	}
	switch {
	case t == nodeType:
		w.generic(n, path, depth)
		return
	case t == durationType:
		w.duration(n, path)
		return
	case reflect.PointerTo(t).Implements(unmarshalerT):
		w.generic(n, path, depth) // it decodes itself; still resolve *_file inside
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.errorf(n, path, "want a mapping of keys, found %s", describe(n))
			return
		}
		fields := yamlFields(t)
		w.resolveFiles(n, path, func(key string) bool { _, ok := fields[key]; return ok })
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key: its mappings belong to this struct
				w.walk(v, t, path, depth+1)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok && w.bad[k] {
				continue // a *_file key already reported
			}
			if !ok {
				w.errorf(k, joinPath(path, k.Value), "unknown key %q%s", k.Value, suggest(k.Value, fields))
				continue
			}
			w.walk(v, ft, joinPath(path, k.Value), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.errorf(n, path, "want a list, found %s", describe(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.errorf(n, path, "want a mapping, found %s", describe(n))
			return
		}
		w.resolveFiles(n, path, nil)
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), depth+1)
		}
	case reflect.Interface:
		w.generic(n, path, depth)
	default:
		if n.Kind != yaml.ScalarNode {
			w.errorf(n, path, "want a single value, found %s", describe(n))
		}
	}
}

// generic resolves *_file keys in a subtree whose Go type is not known here.
func (w *treeWalker) generic(n *yaml.Node, path string, depth int) {
	if depth > maxDepth {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		w.resolveFiles(n, path, nil)
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			w.lines[p] = n.Content[i+1].Line
			w.generic(n.Content[i+1], p, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.generic(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	}
}

// resolveFiles replaces each `foo_file: PATH` in mapping n by `foo: contents`.
// When known is given, a key that is itself a field (a real `foo_file`
// setting) is left alone, and so is one whose `foo` is not a field (it is
// then reported as unknown).
func (w *treeWalker) resolveFiles(n *yaml.Node, path string, known func(string) bool) {
	present := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		present[n.Content[i].Value] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		base, ok := strings.CutSuffix(k.Value, "_file")
		if !ok || base == "" {
			continue
		}
		if known != nil && (known(k.Value) || !known(base)) {
			continue
		}
		if w.bad[v] { // its ${VAR} failed, already reported
			w.markBad(k)
			continue
		}
		p := joinPath(path, k.Value)
		bad := func(n *yaml.Node, format string, args ...any) {
			w.errorf(n, p, format, args...)
			w.markBad(k) // reported here: not also an unknown key
		}
		if present[base] {
			bad(k, "give %s or %s, not both", base, k.Value)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
			bad(v, "want a file path")
			continue
		}
		file := v.Value
		if !filepath.IsAbs(file) {
			file = filepath.Join(w.dir, file)
		}
		data, err := w.readFile(file)
		if err != nil {
			bad(v, "%v", err)
			continue
		}
		if len(data) > maxSecretFile {
			bad(v, "%s is larger than %d bytes", file, maxSecretFile)
			continue
		}
		secret := strings.TrimRight(string(data), "\r\n")
		if secret == "" {
			bad(v, "%s is empty", file)
			continue
		}
		if len(secret) >= minSecretLen {
			w.secrets = append(w.secrets, secret)
		}
		k.Value = base
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: secret, Line: v.Line, Column: v.Column}
		present[base] = true
	}
}

// duration checks a Go duration string and makes sure yaml decodes it as one
// ("0" included).
func (w *treeWalker) duration(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.errorf(n, path, "want a duration such as \"10s\" or \"72h\", found %s", describe(n))
		return
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		w.errorf(n, path, "invalid duration %q (write it like \"10s\", \"5m\" or \"72h\")", n.Value)
		return
	}
	n.Tag = "!!str"
	n.Style = yaml.DoubleQuotedStyle
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// yamlFields maps the yaml key names of struct t (inline fields included) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest names a known key close to an unknown one (a typo, a wrong separator).
func suggest(key string, fields map[string]reflect.Type) string {
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(s), "-", ""), "_", "")
	}
	for k := range fields {
		if norm(k) == norm(key) || (len(key) > 3 && editDistance(k, key) == 1) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// secretWords mark a key whose value is a secret when any _-separated part of
// the key is one of them ("bot_token", "signing_secret", "api_key").
var secretWords = map[string]bool{
	"token": true, "secret": true, "password": true, "passwd": true, "key": true,
	"apikey": true, "credential": true, "credentials": true, "private": true, "auth": true,
}

// secretValues collects the values of secret-looking keys anywhere in the tree.
func secretValues(n *yaml.Node) []string {
	var out []string
	var visit func(n *yaml.Node, depth int)
	visit = func(n *yaml.Node, depth int) {
		if depth > maxDepth {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && isSecretKey(k.Value) && len(v.Value) >= minSecretLen {
					out = append(out, v.Value)
				}
				visit(v, depth+1)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				visit(c, depth+1)
			}
		}
	}
	visit(n, 0)
	return out
}

func isSecretKey(key string) bool {
	if strings.HasSuffix(key, "_file") {
		return false // a path, not a secret
	}
	for _, part := range strings.Split(strings.ToLower(key), "_") {
		if secretWords[part] {
			return true
		}
	}
	return false
}

// settings are main's own settings with defaults applied.
type settings struct {
	Listen    string
	DataDir   string
	LogFormat string
	LogLevel  string
	// HealthGrace and Required decide the connectors' part of /readyz
	// (Required nil: every connector).
	HealthGrace time.Duration
	Required    []string
	// ShutdownTimeout is the one budget every stage of a shutdown shares.
	ShutdownTimeout time.Duration
}

// mainSettings applies main's defaults and checks its own keys.
func mainSettings(fc fileConfig) (settings, []error) {
	s := settings{Listen: fc.Listen, DataDir: fc.DataDir, LogFormat: strings.ToLower(fc.Log.Format), LogLevel: strings.ToLower(fc.Log.Level)}
	if s.Listen == "" {
		s.Listen = defaultListen
	}
	if s.DataDir == "" {
		s.DataDir = defaultDataDir
	}
	if s.LogFormat == "" {
		s.LogFormat = "json"
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	s.HealthGrace = defaultHealthGrace
	if fc.Health.Grace != nil {
		s.HealthGrace = *fc.Health.Grace
	}
	s.Required = fc.Health.Required
	s.ShutdownTimeout = fc.ShutdownTimeout
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = defaultShutdownTimeout
	}
	var errs []error
	if s.HealthGrace < 0 {
		errs = append(errs, fmt.Errorf("health.grace: must not be negative"))
	}
	if s.ShutdownTimeout < time.Second {
		errs = append(errs, fmt.Errorf("shutdown_timeout: %s is too short to stop cleanly; give at least 1s (default %s)", s.ShutdownTimeout, defaultShutdownTimeout))
	}
	if s.LogFormat != "json" && s.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("log.format: %q is not json or text", fc.Log.Format))
	}
	if _, err := parseLevel(s.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %v", err))
	}
	if fc.DeskWorkers < 0 {
		errs = append(errs, fmt.Errorf("desk_workers: must not be negative"))
	}
	if fc.Outbox.Retry.Attempts < 0 || fc.Outbox.Retry.Backoff < 0 || fc.Outbox.Retry.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("outbox.retry: values must not be negative"))
	}
	return s, errs
}

// toBridgeConfig maps the file's settings onto bridge.Config. It reports
// what it cannot map (an unknown role) with the path; everything else is
// left to bridge.Config.Validate. Unset values stay zero: the bridge applies
// its own defaults.
func toBridgeConfig(fc fileConfig) (bridge.Config, []error) {
	var errs []error
	c := bridge.Config{
		NotePrefixes:  fc.NotePrefixes,
		CommandPrefix: fc.CommandPrefix,
		CaseIDPrefix:  fc.CaseIDPrefix,
		DeskWorkers:   fc.DeskWorkers,
		Retention:     fc.Retention.Resolved,
		Retry: bridge.RetryConfig{
			Attempts: fc.Outbox.Retry.Attempts,
			Backoff:  fc.Outbox.Retry.Backoff,
			MaxWait:  fc.Outbox.Retry.MaxWait,
		},
	}
	if fc.Outbox.UndoWindow != nil {
		c.UndoWindow = *fc.Outbox.UndoWindow
		c.UndoWindowSet = true
	}
	for _, q := range fc.Queues {
		c.Queues = append(c.Queues, bridge.QueueConfig{
			Name:               q.Name,
			Desk:               q.Desk,
			Channel:            q.Channel,
			Team:               q.Team,
			SLA:                bridge.SLAConfig{FirstResponse: q.SLA.FirstResponse, Resolution: q.SLA.Resolution},
			ReopenWindow:       q.ReopenWindow,
			FirstReplierClaims: q.FirstReplierClaims,
			SeparateCases:      q.OneCasePerCustomer != nil && !*q.OneCasePerCustomer,
			Surge:              q.Surge.bridge(),
		})
	}
	errs = append(errs, incidentSettings(fc, &c)...)
	for _, w := range fc.Watch {
		c.Watch = append(c.Watch, bridge.WatchRule{
			Network:     w.Network,
			Mentions:    w.Mentions,
			RepliesToUs: w.RepliesToUs,
			Direct:      w.Direct,
			Keywords:    w.Keywords,
			Hashtags:    w.Hashtags,
			Exclude:     w.Exclude,
		})
	}
	for _, r := range fc.Routes {
		c.Routes = append(c.Routes, bridge.RouteRule{
			Name:         r.Name,
			Networks:     r.Networks,
			Keywords:     r.Keywords,
			Languages:    r.Languages,
			MinFollowers: r.MinFollowers,
			Queue:        r.Queue,
			Priority:     r.Priority,
			Tags:         r.Tags,
		})
	}
	for i, s := range fc.Staff {
		role, err := bridge.ParseRole(s.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("staff[%d].role: %v", i, err))
			role = bridge.RoleAgent // so Validate does not report it a second time
		}
		c.Staff = append(c.Staff, bridge.StaffRule{Desk: s.Desk, User: s.User, Group: s.Group, Role: role})
	}
	return c, errs
}

// crossCheck finds references to desks and networks that have no section.
func crossCheck(c bridge.Config, cc connectors.Config) []error {
	kinds := map[string]connectors.Kind{}
	for _, s := range cc.Sections() {
		kinds[s.Name] = s.Kind
	}
	var errs []error
	desk := func(path, name string) {
		if name != "" && kinds[name] != connectors.KindDesk {
			errs = append(errs, fmt.Errorf("%s: no desk %q is configured (%s)", path, name, missingHint(name, connectors.KindDesk)))
		}
	}
	network := func(path, name string) {
		if name != "" && kinds[name] != connectors.KindNetwork {
			errs = append(errs, fmt.Errorf("%s: no network %q is configured (%s)", path, name, missingHint(name, connectors.KindNetwork)))
		}
	}
	for i, q := range c.Queues {
		desk(fmt.Sprintf("queues[%d].desk", i), q.Desk)
	}
	for i, s := range c.Staff {
		desk(fmt.Sprintf("staff[%d].desk", i), s.Desk)
	}
	for i, w := range c.Watch {
		network(fmt.Sprintf("watch[%d].network", i), w.Network)
	}
	for i, r := range c.Routes {
		for j, n := range r.Networks {
			network(fmt.Sprintf("routes[%d].networks[%d]", i, j), n)
		}
	}
	for n := range c.Pacing {
		network("outbox.pacing", n)
	}
	return errs
}

// missingHint says how to get a desk or network named name that has no
// section: add its section, when this build has such a connector of that
// kind; else which ones it has.
func missingHint(name string, kind connectors.Kind) string {
	var have []string
	for _, s := range connectors.Known() {
		if s.Name == name && s.Kind == kind {
			return fmt.Sprintf("add a %s: section", name)
		}
		if s.Name == name {
			return fmt.Sprintf("%s is a %s, not a %s", name, s.Kind, kind)
		}
		if s.Kind == kind {
			have = append(have, s.Name)
		}
	}
	return fmt.Sprintf("earshot has no %s %q; the %ss it has are %s", kind, name, kind, strings.Join(have, ", "))
}

// checkRequired finds health.required names that are no configured connector.
func checkRequired(required []string, cc connectors.Config) []error {
	configured := map[string]bool{}
	var names []string
	for _, s := range cc.Sections() {
		configured[s.Name] = true
		names = append(names, s.Name)
	}
	var errs []error
	for i, name := range required {
		if !configured[name] {
			errs = append(errs, fmt.Errorf("health.required[%d]: no connector %q is configured (configured: %s)", i, name, strings.Join(names, ", ")))
		}
	}
	return errs
}

// prepared is a config ready to run: main's settings, the bridge's config
// and the connector sections.
type prepared struct {
	*loadedConfig
	Settings settings
	Bridge   bridge.Config
}

// prepareConfig loads path and runs every check that needs no network:
// YAML syntax, unknown keys, durations, main's settings, the mapping,
// bridge.Config.Validate and the desk/network cross-references. All
// problems come back at once as configErrors.
func prepareConfig(path string, getenv func(string) (string, bool)) (*prepared, error) {
	lc, err := loadConfig(path, getenv)
	if err != nil {
		return nil, err
	}
	return prepareLoaded(lc)
}

func prepareLoaded(lc *loadedConfig) (*prepared, error) {
	p := &prepared{loadedConfig: lc}
	s, errs := mainSettings(lc.File)
	p.Settings = s
	bc, mapErrs := toBridgeConfig(lc.File)
	errs = append(errs, mapErrs...)
	errs = append(errs, bc.Validate()...)
	errs = append(errs, crossCheck(bc, lc.File.Connectors)...)
	errs = append(errs, checkStore(lc.File.Store)...)
	errs = append(errs, checkRequired(s.Required, lc.File.Connectors)...)
	p.Bridge = bc
	if len(errs) > 0 {
		es := make(configErrors, len(errs))
		for i, e := range errs {
			es[i] = lc.locate(e)
		}
		return nil, es.redact(lc.Secrets).sorted()
	}
	return p, nil
}
