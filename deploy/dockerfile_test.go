package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction: its keyword (upper case), its
// arguments as written (continuations joined), and its arguments decoded
// when written in the JSON (exec) form.
type instruction struct {
	Line int
	Cmd  string
	Args string
	JSON []string // nil unless the exec form
}

// stage is one FROM ... and the instructions up to the next FROM.
type stage struct {
	From  string // image reference
	Name  string // AS name, "" if none
	Instr []instruction
}

// parseDockerfile splits a Dockerfile into stages. It handles comments,
// parser directives, line continuations with `\` and the JSON form; it does
// not expand variables or heredocs (this repository's Dockerfile has none).
func parseDockerfile(src string) (args []instruction, stages []stage, err error) {
	lines := strings.Split(src, "\n")
	var cur strings.Builder
	start := 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, rest, _ := strings.Cut(text, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(rest)}
		if strings.HasPrefix(in.Args, "[") {
			if err := json.Unmarshal([]byte(in.Args), &in.JSON); err != nil {
				return fmt.Errorf("line %d: %s: bad JSON form: %v", start, in.Cmd, err)
			}
		}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			s := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd != "ARG" {
				return fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
			}
			args = append(args, in)
			return nil
		}
		s := &stages[len(stages)-1]
		s.Instr = append(s.Instr, in)
		return nil
	}
	for i, raw := range lines {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments (and parser directives) never continue an instruction
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = i + 1
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, nil, err
		}
	}
	if cur.Len() > 0 {
		return nil, nil, fmt.Errorf("Dockerfile ends inside a continued line")
	}
	return args, stages, nil
}

func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Instr {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	_, stages, err := parseDockerfile(string(readFile(t, "Dockerfile")))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	final := stages[len(stages)-1]
	builders := stages[:len(stages)-1]

	t.Run("static build", func(t *testing.T) {
		var build *instruction
		for _, s := range builders {
			for _, in := range s.find("RUN") {
				if strings.Contains(in.Args, "go build") {
					build = &in
				}
			}
		}
		if build == nil {
			t.Fatal("no RUN ... go build in a build stage")
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
			if !strings.Contains(build.Args, want) {
				t.Errorf("go build (line %d) lacks %s", build.Line, want)
			}
		}
		ldflags := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(build.Args)
		if ldflags == nil || !regexp.MustCompile(`-X\s+main\.version=\$\{?VERSION\}?`).MatchString(ldflags[1]) {
			t.Errorf("go build (line %d) does not stamp the version: want -ldflags \"... -X main.version=${VERSION}\"", build.Line)
		}
		var hasVersionArg bool
		for _, s := range builders {
			for _, in := range s.find("ARG") {
				if strings.HasPrefix(in.Args, "VERSION") {
					hasVersionArg = true
				}
			}
		}
		if !hasVersionArg {
			t.Error("no ARG VERSION in the build stage (docker build --build-arg VERSION=...)")
		}
	})

	t.Run("final stage", func(t *testing.T) {
		// distroless/static carries /etc/ssl/certs/ca-certificates.crt and
		// tzdata; :nonroot runs as uid 65532.
		if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(final.From) {
			t.Errorf("final stage FROM %q, want gcr.io/distroless/static-debianNN:nonroot (CA certificates, no shell, non-root)", final.From)
		}
		var copiesBinary bool
		for _, in := range final.find("COPY") {
			if strings.Contains(in.Args, "--from=") && strings.HasSuffix(in.Args, " /earshot") {
				copiesBinary = true
			}
		}
		if !copiesBinary {
			t.Error("final stage does not COPY --from=<build> ... /earshot")
		}
		if runs := final.find("RUN"); len(runs) > 0 {
			t.Errorf("final stage has RUN at line %d: distroless has no shell", runs[0].Line)
		}
		users := final.find("USER")
		if len(users) > 0 {
			if u := users[len(users)-1].Args; strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
				t.Errorf("final stage runs as USER %s", u)
			}
		}
	})

	t.Run("data volume", func(t *testing.T) {
		vols := final.find("VOLUME")
		if len(vols) != 1 || !slices.Equal(vols[0].JSON, []string{"/var/lib/earshot"}) {
			t.Fatalf("want VOLUME [\"/var/lib/earshot\"], got %+v", vols)
		}
		var owned bool
		for _, in := range final.find("COPY") {
			if strings.Contains(in.Args, "--chown=65532:65532") && strings.HasSuffix(in.Args, " /var/lib/earshot") {
				owned = true
			}
		}
		if !owned {
			t.Error("the data directory is not created owned by 65532 (COPY --chown=65532:65532 ... /var/lib/earshot): nonroot could not write an empty volume")
		}
	})

	t.Run("port and command", func(t *testing.T) {
		exp := final.find("EXPOSE")
		if len(exp) != 1 || exp[0].Args != "8080" {
			t.Errorf("want EXPOSE 8080, got %+v", exp)
		}
		ep := final.find("ENTRYPOINT")
		if len(ep) != 1 || !slices.Equal(ep[0].JSON, []string{"/earshot"}) {
			t.Errorf(`want ENTRYPOINT ["/earshot"] (exec form), got %+v`, ep)
		}
		cmd := final.find("CMD")
		if len(cmd) != 1 || !slices.Equal(cmd[0].JSON, []string{"run", "--config", "/etc/earshot/earshot.yaml"}) {
			t.Errorf(`want CMD ["run","--config","/etc/earshot/earshot.yaml"], got %+v`, cmd)
		}
	})

	t.Run("healthcheck", func(t *testing.T) {
		// distroless has no shell or curl: the binary checks itself.
		hc := final.find("HEALTHCHECK")
		if len(hc) != 1 || !strings.Contains(hc[0].Args, `CMD ["/earshot", "healthcheck"`) {
			t.Errorf(`want HEALTHCHECK ... CMD ["/earshot", "healthcheck"] (exec form), got %+v`, hc)
		}
	})
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG A=1\nFROM x AS b\nRUN a \\\n  # comment inside\n  b\nFROM y\nCMD [\"p\", \"q\"]\n"
	args, st, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 1 || len(st) != 2 || st[0].Name != "b" || st[1].From != "y" {
		t.Fatalf("got args %+v stages %+v", args, st)
	}
	if got := strings.Join(strings.Fields(st[0].Instr[0].Args), " "); got != "a b" {
		t.Errorf("continued RUN = %q", got)
	}
	if !slices.Equal(st[1].Instr[0].JSON, []string{"p", "q"}) {
		t.Errorf("CMD JSON = %q", st[1].Instr[0].JSON)
	}
	for _, bad := range []string{"RUN x\n", "FROM a\nCMD [\"x\"\n", "FROM a\nRUN x \\"} {
		if _, _, err := parseDockerfile(bad); err == nil {
			t.Errorf("parseDockerfile(%q): want an error", bad)
		}
	}
}
