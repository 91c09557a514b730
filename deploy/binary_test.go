package deploy

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// shellWords splits a simple shell command line: whitespace-separated words,
// double quotes grouping (no escapes or expansions needed here).
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// dockerBuildCommand returns the environment and arguments of the
// Dockerfile's `go build`, with ${VERSION} set to version and -o pointing to
// out.
func dockerBuildCommand(t *testing.T, version, out string) (env, args []string) {
	t.Helper()
	_, stages, err := parseDockerfile(string(readFile(t, "Dockerfile")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		for _, in := range s.find("RUN") {
			i := strings.Index(in.Args, "go build")
			if i < 0 {
				continue
			}
			// Drop RUN flags (--mount=...) before the command.
			words := shellWords(in.Args)
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				words = words[1:]
			}
			for len(words) > 0 && strings.Contains(words[0], "=") {
				env = append(env, words[0])
				words = words[1:]
			}
			if len(words) < 2 || words[0] != "go" || words[1] != "build" {
				t.Fatalf("cannot read the go build command of %q", in.Args)
			}
			for _, w := range words[2:] {
				if w == "&&" || w == ";" {
					break
				}
				args = append(args, strings.ReplaceAll(strings.ReplaceAll(w, "${VERSION}", version), "$VERSION", version))
			}
			for j := range args {
				if args[j] == "-o" && j+1 < len(args) {
					args[j+1] = out
				}
			}
			return env, args
		}
	}
	t.Fatal("no go build in the Dockerfile")
	return nil, nil
}

// dockerVersion is the version the tests stamp into the binary.
const dockerVersion = "v9.8.7-dockertest"

var dockerBuild struct {
	once sync.Once
	bin  string
	err  error
}

// binDir holds binaries built by the tests; TestMain removes it.
var binDir string

// buildLikeDocker builds the earshot binary once per test run with exactly
// the Dockerfile's go build command (environment and flags), version
// dockerVersion. The first build with these flags compiles everything
// afresh (a minute or two on a small machine); later runs hit the cache.
func buildLikeDocker(t *testing.T) string {
	t.Helper()
	env, args := dockerBuildCommand(t, dockerVersion, filepath.Join(binDir, "earshot"))
	root := repoRoot(t)
	dockerBuild.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			dockerBuild.err = fmt.Errorf("go build %s (env %v): %v\n%s", strings.Join(args, " "), env, err, out)
			return
		}
		dockerBuild.bin = filepath.Join(binDir, "earshot")
	})
	if dockerBuild.err != nil {
		t.Fatal(dockerBuild.err)
	}
	return dockerBuild.bin
}

// The Dockerfile's build command, run for real, gives a static binary that
// reports the stamped version.
func TestDockerBuildCommand(t *testing.T) {
	t.Parallel()
	version := dockerVersion
	bin := buildLikeDocker(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "earshot "+version+" ") {
		t.Errorf("earshot version = %q (%v), want the stamped %s", out, err, version)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v): distroless/static has no libc", p.Type)
		}
	}
	// -trimpath: no path of this machine's checkout in the binary.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), repoRoot(t)+"/") {
		t.Errorf("the binary contains the checkout path %s: built without -trimpath", repoRoot(t))
	}
}

// The ConfigMap's config, with the Secret's files where the Deployment
// mounts them, passes `earshot check --offline`.
func TestConfigMapPassesEarshotCheck(t *testing.T) {
	t.Parallel()
	all := manifests(t)
	cm := byKind(t, all, "ConfigMap")
	text, _ := dig(map[string]any(cm), "data", "earshot.yaml").(string)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // plays /etc/earshot
	if err := os.WriteFile(filepath.Join(dir, "earshot.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range fileKeys(cfg) {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("xoxb-placeholder-for-check\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildLikeDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check", "--offline", "--config", filepath.Join(dir, "earshot.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("earshot check --offline on the ConfigMap's config: %v\n%s", err, out)
	}
	if regexp.MustCompile(`xoxb-placeholder`).Match(out) {
		t.Errorf("earshot check printed a secret:\n%s", out)
	}
}
