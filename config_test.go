package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors"
)

// env is a fake environment for parseConfig.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// files is a fake file system for *_file keys, rooted at "/cfg".
func files(kv ...string) func(string) ([]byte, error) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(p string) ([]byte, error) {
		v, ok := m[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(v), nil
	}
}

const minimalYAML = `
queues:
  - name: care
    desk: slack
    channel: C1
slack:
  bot_token: xoxb-literal-token
`

func mustParse(t *testing.T, yml string, getenv func(string) (string, bool), read func(string) ([]byte, error)) *loadedConfig {
	t.Helper()
	lc, err := parseConfig("/cfg/earshot.yaml", []byte(yml), getenv, read)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	return lc
}

// parseErr parses yml expecting failure and returns the error text.
func parseErr(t *testing.T, yml string, getenv func(string) (string, bool), read func(string) ([]byte, error)) string {
	t.Helper()
	lc, err := parseConfig("/cfg/earshot.yaml", []byte(yml), getenv, read)
	if err == nil {
		p, perr := prepareLoaded(lc)
		if perr == nil {
			t.Fatalf("config accepted, want an error: %+v", p.Bridge)
		}
		err = perr
	}
	var es configErrors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) is not configErrors", err, err)
	}
	return err.Error()
}

func TestExampleConfigLoadsAndValidates(t *testing.T) {
	raw, err := os.ReadFile("deploy/earshot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lc, err := parseConfig("deploy/earshot.example.yaml", raw,
		env("SLACK_BOT_TOKEN", "xoxb-from-env-1234", "SLACK_APP_TOKEN", "xapp-from-env-1", "MASTODON_ACCESS_TOKEN", "masto-secret-5678", "BLUESKY_APP_PASSWORD", "bsky-app-pw-1", "X_CLIENT_ID", "x-client-id",
			"DISCORD_BOT_TOKEN", "discord-bot-token-mnop"),
		files(filepath.Join("deploy", "secrets/slack-signing-secret"), "signing-secret-abcd\n",
			filepath.Join("deploy", "secrets/discord-public-key"), strings.Repeat("ab", 32)+"\n",
			filepath.Join("deploy", "secrets/webhook-secret"), "webhook-secret-efgh\n",
			filepath.Join("deploy", "secrets/x-refresh-token"), "x-refresh-token-ijkl\n"))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	p, err := prepareLoaded(lc)
	if err != nil {
		t.Fatalf("example config does not validate:\n%v", err)
	}
	if got := len(p.Bridge.Queues); got != 3 {
		t.Errorf("queues = %d, want 3", got)
	}
	for _, s := range []string{"xoxb-from-env-1234", "masto-secret-5678", "signing-secret-abcd", "bsky-app-pw-1", "xapp-from-env-1", "x-refresh-token-ijkl", "webhook-secret-efgh", "discord-bot-token-mnop"} {
		if !contains(lc.Secrets, s) {
			t.Errorf("secret %q not recorded for redaction (have %d secrets)", s, len(lc.Secrets))
		}
	}
	if len(lc.File.Connectors.Sections()) != 6 {
		t.Errorf("connector sections not decoded: %+v", lc.File.Connectors)
	}
	// Every built connector accepts its example section.
	if _, err := connectors.Build(lc.File.Connectors, bridge.Deps{DataDir: t.TempDir()}); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.Contains(line, connectors.ErrNotBuilt.Error()) {
				t.Errorf("example section refused: %s", line)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestEnvExpansion(t *testing.T) {
	yml := `
listen: "${HOST}:${PORT}"
desk_workers: ${WORKERS}
command_prefix: "$$"
case_id_prefix: "a$b"
queues:
  - name: care
    desk: slack
    channel: ${CHANNEL}
slack:
  bot_token: ${TOKEN}
`
	lc := mustParse(t, yml, env("HOST", "127.0.0.1", "PORT", "9090", "WORKERS", "7", "CHANNEL", "C9", "TOKEN", "xoxb-secret-from-env"), files())
	f := lc.File
	if f.Listen != "127.0.0.1:9090" {
		t.Errorf("listen = %q", f.Listen)
	}
	if f.DeskWorkers != 7 {
		t.Errorf("desk_workers = %d (a plain ${VAR} must re-resolve as an int)", f.DeskWorkers)
	}
	if f.CommandPrefix != "$" {
		t.Errorf("$$ gave %q, want $", f.CommandPrefix)
	}
	if f.CaseIDPrefix != "a$b" {
		t.Errorf("a lone $ gave %q", f.CaseIDPrefix)
	}
	if f.Queues[0].Channel != "C9" {
		t.Errorf("channel = %q", f.Queues[0].Channel)
	}
	if !contains(lc.Secrets, "xoxb-secret-from-env") {
		t.Errorf("bot_token value from env not recorded as a secret")
	}
}

func TestEnvExpansionErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yml, want string }{
		"missing":      {"queues:\n  - name: care\n    channel: ${NOPE}\n", `/cfg/earshot.yaml:3: queues[0].channel: environment variable NOPE is not set`},
		"unterminated": {"listen: \"${PORT\"\n", `/cfg/earshot.yaml:1: listen: unterminated ${`},
		"bad name":     {"listen: \"${1X}\"\n", `invalid environment variable name "1X"`},
	} {
		t.Run(name, func(t *testing.T) {
			got := parseErr(t, tc.yml, env(), files())
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
}

func TestFileKeys(t *testing.T) {
	yml := minimalYAML + `
mastodon:
  server: https://m.example
  access_token_file: secrets/masto
`
	lc := mustParse(t, yml, env(), files("/cfg/secrets/masto", "masto-token-${NOT_EXPANDED}\n"))
	if got := lc.File.Connectors.Mastodon.AccessToken; got != "masto-token-${NOT_EXPANDED}" {
		t.Errorf("access_token = %q (file contents are literal, newline trimmed)", got)
	}
	if !contains(lc.Secrets, "masto-token-${NOT_EXPANDED}") {
		t.Errorf("file secret not recorded")
	}
}

// Inside a section whose Go type is not known (a yaml.Node), *_file keys
// are still resolved, at any depth.
func TestFileKeysInUntypedSection(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("extra:\n  nested:\n    password_file: /abs/pw\n  list: [{key_file: k}]\n"), &doc); err != nil {
		t.Fatal(err)
	}
	w := &treeWalker{file: "/cfg/e.yaml", dir: "/cfg", getenv: env(), lines: map[string]int{},
		readFile: files("/abs/pw", "hunter2hunter2\r\n", "/cfg/k", "keykeykey")}
	type withExtra struct {
		Extra yaml.Node `yaml:"extra"`
	}
	w.walk(doc.Content[0], reflect.TypeOf(withExtra{}), "", 0)
	if len(w.errs) > 0 {
		t.Fatal(w.errs)
	}
	var got struct {
		Extra struct {
			Nested struct{ Password string }
			List   []struct{ Key string }
		}
	}
	if err := doc.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Extra.Nested.Password != "hunter2hunter2" || len(got.Extra.List) != 1 || got.Extra.List[0].Key != "keykeykey" {
		t.Errorf("got %+v", got)
	}
	if !contains(w.secrets, "hunter2hunter2") || !contains(w.secrets, "keykeykey") {
		t.Errorf("secrets = %d values", len(w.secrets))
	}
}

func TestFileKeyErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		yml, want string
	}{
		"both":         {minimalYAML + "mastodon:\n  access_token: a\n  access_token_file: x\n", `:10: mastodon.access_token_file: give access_token or access_token_file, not both`},
		"missing file": {minimalYAML + "mastodon:\n  access_token_file: nothere\n", `mastodon.access_token_file: open /cfg/nothere: file does not exist`},
		"empty file":   {minimalYAML + "mastodon:\n  access_token_file: empty\n", `mastodon.access_token_file: /cfg/empty is empty`},
		"not a path":   {minimalYAML + "mastodon:\n  access_token_file: [a]\n", `mastodon.access_token_file: want a file path`},
		"typed field":  {"listen_file: l\n" + minimalYAML, ""},
	} {
		t.Run(name, func(t *testing.T) {
			read := files("/cfg/empty", "\n", "/cfg/l", ":9999\n")
			if tc.want == "" {
				lc := mustParse(t, tc.yml, env(), read)
				if lc.File.Listen != ":9999" {
					t.Errorf("listen_file gave listen %q", lc.File.Listen)
				}
				return
			}
			got := parseErr(t, tc.yml, env(), read)
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
			if strings.Count(got, "\n") != 0 {
				t.Errorf("one problem reported more than once:\n%s", got)
			}
		})
	}
	got := parseErr(t, minimalYAML+"mastodon:\n  access_token_file: ${NOPE}\n", env(), files())
	if strings.Count(got, "\n") != 0 || !strings.Contains(got, "NOPE is not set") {
		t.Errorf("unset variable in a *_file path:\n%s", got)
	}
}

func TestUnknownKeysAndTypes(t *testing.T) {
	yml := `listen: ":1"
lisen: ":2"
outbox:
  undo_window: 5s
  retries: 3
queues:
  - name: care
    desk: slack
    channel: C1
  - name: b
    desk: slack
    channel: C2
    sla:
      first_response: 5x
      resolution: 10
desk_workers: many
`
	got := parseErr(t, yml, env(), files())
	for _, want := range []string{
		`/cfg/earshot.yaml:2: lisen: unknown key "lisen" (did you mean "listen"?)`,
		`/cfg/earshot.yaml:5: outbox.retries: unknown key "retries"`,
		`/cfg/earshot.yaml:14: queues[1].sla.first_response: invalid duration "5x"`,
		`/cfg/earshot.yaml:15: queues[1].sla.resolution: invalid duration "10"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant a line containing:\n%s", got, want)
		}
	}

	// Type errors found by the decoder keep their line.
	got = parseErr(t, "desk_workers: many\n"+minimalYAML, env(), files())
	if !strings.Contains(got, "/cfg/earshot.yaml:1: desk_workers: cannot unmarshal !!str `many` into int") {
		t.Errorf("type error: %s", got)
	}
	got = parseErr(t, "queues: {a: 1}\n", env(), files())
	if !strings.Contains(got, "/cfg/earshot.yaml:1: queues: want a list, found a mapping") {
		t.Errorf("shape error: %s", got)
	}
}

func TestYAMLSyntaxErrorHasLine(t *testing.T) {
	got := parseErr(t, "listen: :1\nqueues:\n  - name: [\n", env(), files())
	if !strings.HasPrefix(got, "/cfg/earshot.yaml:") || !strings.Contains(got, ":4:") && !strings.Contains(got, ":3:") {
		t.Errorf("syntax error without a line: %s", got)
	}
	got = parseErr(t, "# only a comment\n", env(), files())
	if !strings.Contains(got, "empty") {
		t.Errorf("empty file: %s", got)
	}
}

func TestValidateErrorsCarryPathAndLine(t *testing.T) {
	yml := `queues:
  - name: care
    desk: slack
    channel: C1
  - name: care
    desk: discord
routes:
  - queue: nowhere
watch:
  - network: mastodon
staff:
  - desk: slack
    user: U1
    role: boss
log:
  format: xml
slack: {}
`
	got := parseErr(t, yml, env(), files())
	for _, want := range []string{
		`/cfg/earshot.yaml:5: queues[1].name: "care" is used twice`,
		`/cfg/earshot.yaml:5: queues[1].channel: required`,
		`/cfg/earshot.yaml:8: routes[0].queue: no queue named "nowhere"`,
		`/cfg/earshot.yaml:10: watch[0]: watches nothing`,
		`/cfg/earshot.yaml:14: staff[0].role: unknown role "boss"`,
		`/cfg/earshot.yaml:16: log.format: "xml" is not json or text`,
		`/cfg/earshot.yaml:6: queues[1].desk: no desk "discord" is configured (add a discord: section)`,
		`/cfg/earshot.yaml:10: watch[0].network: no network "mastodon" is configured`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant a line containing:\n%s", got, want)
		}
	}
	if strings.Count(got, "staff[0].role") != 1 {
		t.Errorf("role error reported more than once:\n%s", got)
	}
}

func TestUndoWindowZeroAndUnset(t *testing.T) {
	lc := mustParse(t, "outbox:\n  undo_window: 0\n"+minimalYAML, env(), files())
	c, errs := toBridgeConfig(lc.File)
	if len(errs) > 0 || !c.UndoWindowSet || c.UndoWindow != 0 {
		t.Errorf("undo_window 0: set=%v window=%v errs=%v", c.UndoWindowSet, c.UndoWindow, errs)
	}
	lc = mustParse(t, minimalYAML, env(), files())
	c, _ = toBridgeConfig(lc.File)
	if c.UndoWindowSet {
		t.Errorf("absent undo_window must leave the bridge default")
	}
}

func TestToBridgeConfig(t *testing.T) {
	yml := `
outbox:
  undo_window: 3s
  retry: {attempts: 4, backoff: 2s, max_wait: 30s}
retention: {resolved: 720h}
note_prefixes: ["note:", "#"]
command_prefix: "?"
case_id_prefix: RC
desk_workers: 2
queues:
  - name: care
    desk: slack
    channel: C1
    team: false
    sla: {first_response: 15m, resolution: 24h}
    reopen_window: 48h
    first_replier_claims: true
  - {name: billing, desk: slack, channel: C2, team: true}
watch:
  - network: mastodon
    mentions: true
    replies_to_us: true
    direct: true
    keywords: [late]
    hashtags: [rail]
    exclude: [ad]
routes:
  - {name: money, networks: [mastodon], keywords: [refund], languages: [en], min_followers: 10, queue: billing, priority: 2, tags: [vip]}
staff:
  - {desk: slack, user: U1, role: lead}
  - {desk: slack, group: S1, role: Agent}
slack: {}
mastodon: {}
`
	lc := mustParse(t, yml, env(), files())
	got, errs := toBridgeConfig(lc.File)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := bridge.Config{
		Queues: []bridge.QueueConfig{
			{Name: "care", Desk: "slack", Channel: "C1", SLA: bridge.SLAConfig{FirstResponse: 15 * time.Minute, Resolution: 24 * time.Hour}, ReopenWindow: 48 * time.Hour, FirstReplierClaims: true},
			{Name: "billing", Desk: "slack", Channel: "C2", Team: true},
		},
		Watch: []bridge.WatchRule{{Network: "mastodon", Mentions: true, RepliesToUs: true, Direct: true, Keywords: []string{"late"}, Hashtags: []string{"rail"}, Exclude: []string{"ad"}}},
		Routes: []bridge.RouteRule{{Name: "money", Networks: []string{"mastodon"}, Keywords: []string{"refund"}, Languages: []string{"en"},
			MinFollowers: 10, Queue: "billing", Priority: 2, Tags: []string{"vip"}}},
		Staff: []bridge.StaffRule{
			{Desk: "slack", User: "U1", Role: bridge.RoleLead},
			{Desk: "slack", Group: "S1", Role: bridge.RoleAgent},
		},
		NotePrefixes:  []string{"note:", "#"},
		CommandPrefix: "?",
		UndoWindow:    3 * time.Second,
		UndoWindowSet: true,
		Retention:     720 * time.Hour,
		Retry:         bridge.RetryConfig{Attempts: 4, Backoff: 2 * time.Second, MaxWait: 30 * time.Second},
		DeskWorkers:   2,
		CaseIDPrefix:  "RC",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toBridgeConfig:\n got %+v\nwant %+v", got, want)
	}
	if _, err := prepareLoaded(lc); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestMainSettingsDefaults(t *testing.T) {
	s, errs := mainSettings(fileConfig{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := settings{Listen: ":8080", DataDir: "./earshot-data", LogFormat: "json", LogLevel: "info",
		HealthGrace: 2 * time.Minute, ShutdownTimeout: 25 * time.Second}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("defaults = %+v, want %+v", s, want)
	}
	if _, errs := mainSettings(fileConfig{Log: logConfig{Level: "loud"}}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "log.level") {
		t.Errorf("bad level: %v", errs)
	}
}

func TestExpandEnv(t *testing.T) {
	get := env("A", "1", "B_2", "two", "EMPTY", "")
	for in, want := range map[string]string{
		"":             "",
		"plain":        "plain",
		"${A}":         "1",
		"x${A}y${B_2}": "x1ytwo",
		"$$":           "$",
		"$${A}":        "${A}",
		"$":            "$",
		"a$":           "a$",
		"$A":           "$A",
		"${EMPTY}":     "",
	} {
		got, err := expandEnv(in, get)
		if err != nil || got != want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzExpandEnv: no input makes expansion panic, and text without '$' is unchanged.
func FuzzExpandEnv(f *testing.F) {
	for _, s := range []string{"${A}", "$$", "${", "${}", "a$b${A}$$", "${A", "$"} {
		f.Add(s)
	}
	get := env("A", "x")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := expandEnv(s, get)
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Fatalf("expandEnv(%q) = %q, %v", s, got, err)
		}
	})
}

// FuzzParseConfig: arbitrary files give a config or located errors, never a panic.
func FuzzParseConfig(f *testing.F) {
	raw, err := os.ReadFile("deploy/earshot.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(raw))
	f.Add(minimalYAML)
	f.Add("queues: [{name: a, sla: {first_response: 0}}]\nslack: {token_file: x}\n<<: {listen: a}\n")
	f.Add("a: &x {b: *x}\n")
	f.Add("queues:\n  - &q {name: a}\n  - *q\n")
	f.Fuzz(func(t *testing.T, s string) {
		lc, err := parseConfig("/cfg/f.yaml", []byte(s), env("SLACK_BOT_TOKEN", "t", "SLACK_APP_TOKEN", "a", "MASTODON_ACCESS_TOKEN", "m", "BLUESKY_APP_PASSWORD", "b", "X_CLIENT_ID", "c", "DISCORD_BOT_TOKEN", "d"), files("/cfg/x", "secret"))
		if err != nil {
			var es configErrors
			if !errors.As(err, &es) {
				t.Fatalf("error %v is %T, not configErrors", err, err)
			}
			return
		}
		_, _ = prepareLoaded(lc)
	})
}

// A secret put in the wrong place is not echoed by the error about it.
func TestConfigErrorsHideSecrets(t *testing.T) {
	got := parseErr(t, "desk_workers: ${TOKEN}\n"+minimalYAML+"mastodon:\n  access_token: masto-plain-secret\n  x: [\n", env("TOKEN", "xoxb-env-secret-1"), files())
	if strings.Contains(got, "xoxb-env-secret-1") {
		t.Errorf("secret in syntax error: %s", got)
	}
	got = parseErr(t, "desk_workers: ${TOKEN}\n"+minimalYAML, env("TOKEN", "xoxb-env-secret-1"), files())
	if strings.Contains(got, "xoxb-env-secret-1") || !strings.Contains(got, "[REDACTED]") {
		t.Errorf("env value in type error: %s", got)
	}
	got = parseErr(t, "desk_workers: "+strings.Repeat("x", 3)+"\nqueues: [{name: q, desk: slack, channel: c}]\nslack: {}\nmastodon:\n  server: https://m.example\n  access_token_file: t\n", env(), files("/cfg/t", "filesecret-77"))
	if strings.Contains(got, "filesecret") {
		t.Errorf("file secret in error: %s", got)
	}
}

// The example shows every key of every connector section (commented out
// where the default is what most want), so operators find them all.
func TestExampleShowsEveryConnectorKey(t *testing.T) {
	raw, err := os.ReadFile("deploy/earshot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			if !strings.Contains(text, " "+key+":") && !strings.Contains(text, " "+key+"_file:") && !strings.Contains(text, "\n"+key+":") {
				t.Errorf("deploy/earshot.example.yaml does not show %s%s", path, key)
			}
			walk(path+key+".", f.Type)
		}
	}
	walk("", reflect.TypeOf(connectors.Config{}))
}

// exampleKeys reads deploy/earshot.example.yaml with its commented-out keys
// ("  # api_url: https://...") counted as shown, and returns every key path
// it shows ("queues[].sla.first_response"; "foo_file" counts as "foo").
func exampleKeys(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("deploy/earshot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	uncomment := regexp.MustCompile(`(?m)^(\s*)# ([a-z][a-z0-9_]*:)`)
	var doc yaml.Node
	if err := yaml.Unmarshal(uncomment.ReplaceAll(raw, []byte("$1$2")), &doc); err != nil {
		t.Fatalf("the example with its commented-out keys restored does not parse: %v", err)
	}
	shown := map[string]bool{}
	var collect func(n *yaml.Node, path string)
	collect = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				collect(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := strings.TrimSuffix(n.Content[i].Value, "_file")
				shown[joinPath(path, key)] = true
				collect(n.Content[i+1], joinPath(path, key))
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				collect(c, path+"[]")
			}
		}
	}
	collect(&doc, "")
	return shown
}

// configKeys lists every key path of the config file's Go types, main's
// own keys and every connector section's ("webhook.sources[].secret"),
// each with the Go type it decodes into.
func configKeys() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(path string, t reflect.Type)
	walk = func(path string, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Slice:
			walk(path+"[]", t.Elem())
			return
		case t.Kind() != reflect.Struct, t == reflect.TypeOf(time.Time{}), t == nodeType,
			reflect.PointerTo(t).Implements(unmarshalerT):
			return
		}
		for key, ft := range yamlFields(t) {
			out[joinPath(path, key)] = ft
			walk(joinPath(path, key), ft)
		}
	}
	walk("", reflect.TypeOf(fileConfig{}))
	return out
}

// The example documents every key at its place in the tree (set, or
// commented out where the default is what most want), main's own keys
// included: a key shown in another section does not count.
func TestExampleDocumentsEveryKeyInPlace(t *testing.T) {
	shown := exampleKeys(t)
	keys := configKeys()
	if len(keys) < 100 || !shown["queues[].sla.first_response"] {
		t.Fatalf("the walk found %d keys and %d shown: the test itself is broken", len(keys), len(shown))
	}
	for path := range keys {
		if !shown[path] {
			t.Errorf("deploy/earshot.example.yaml does not show %s", path)
		}
	}
	for path := range shown {
		if _, ok := keys[path]; !ok {
			t.Errorf("deploy/earshot.example.yaml shows %s, which is not a config key", path)
		}
	}
}

// Every secret of every connector (a key isSecretKey names) can come from
// a file (foo_file) or from the environment (${VAR}), lands in its field,
// and is recorded so logs and errors hide it.
func TestEverySecretTakesAFileOrTheEnvironment(t *testing.T) {
	var secrets []string
	for path, typ := range configKeys() {
		last := path[strings.LastIndexAny(path, ".]")+1:]
		if isSecretKey(last) {
			if typ.Kind() != reflect.String {
				t.Errorf("%s is a secret but decodes into %s: a *_file value is a string", path, typ)
				continue
			}
			secrets = append(secrets, path)
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("found %d secret keys: the test itself is broken", len(secrets))
	}
	for _, path := range secrets {
		t.Run(path, func(t *testing.T) {
			value := "s3cret-value-of-" + strings.NewReplacer(".", "-", "[]", "").Replace(path)
			for _, form := range []struct {
				name, key, value string
				getenv           func(string) (string, bool)
				read             func(string) ([]byte, error)
			}{
				{"file", "_file", "secrets/it", env(), files("/cfg/secrets/it", value+"\n")},
				{"env", "", "${IT}", env("IT", value), files()},
			} {
				yml := nestedYAML(path, form.key, form.value)
				lc, err := parseConfig("/cfg/earshot.yaml", []byte(yml), form.getenv, form.read)
				if err != nil {
					t.Errorf("%s form:\n%s\n%v", form.name, yml, err)
					continue
				}
				if got := fieldAt(reflect.ValueOf(lc.File), path); got != value {
					t.Errorf("%s form: %s = %q, want %q\n%s", form.name, path, got, value, yml)
				}
				if !contains(lc.Secrets, value) {
					t.Errorf("%s form: the value of %s is not recorded as a secret", form.name, path)
				}
			}
		})
	}
}

// nestedYAML writes the one key at path ("webhook.sources[].secret") with
// suffix and value, lists holding one item.
func nestedYAML(path, suffix, value string) string {
	var b strings.Builder
	parts := strings.Split(path, ".")
	indent := ""
	for i, p := range parts {
		name, list := strings.CutSuffix(p, "[]")
		if i == len(parts)-1 {
			b.WriteString(indent + name + suffix + ": " + value + "\n")
			break
		}
		b.WriteString(indent + name + ":\n")
		indent += "  "
		if list {
			b.WriteString(indent + "-\n")
			indent += "  "
		}
	}
	return b.String()
}

// fieldAt reads the string at path in v (a fileConfig), first list items.
func fieldAt(v reflect.Value, path string) string {
	for _, p := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(p, "[]")
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return "<nil>"
			}
			v = v.Elem()
		}
		v = fieldByYAML(v, name)
		if !v.IsValid() {
			return "<no field>"
		}
		if list {
			if v.Len() == 0 {
				return "<empty list>"
			}
			v = v.Index(0)
		}
	}
	return v.String()
}

// fieldByYAML finds the field of struct v with yaml key name, looking
// into inline fields.
func fieldByYAML(v reflect.Value, name string) reflect.Value {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if got := fieldByYAML(v.Field(i), name); got.IsValid() {
				return got
			}
			continue
		}
		if key == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}
