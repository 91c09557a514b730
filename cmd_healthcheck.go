package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// defaultHealthAddr is where healthcheck asks without --addr or --config:
// the default listen (":8080") seen from inside the container.
const defaultHealthAddr = "127.0.0.1:8080"

// cmdHealthcheck is `earshot healthcheck`: an HTTP GET of /healthz (or
// --path) on the local listener; exit 0 on 200, else 1. For a distroless
// image's HEALTHCHECK and compose, which have no shell or curl.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("healthcheck", "healthcheck [--addr HOST:PORT | --config FILE] [--path /healthz] [--timeout DUR]", stderr)
	addr := fs.String("addr", "", "the `host:port` earshot listens on (default: listen from --config, else "+defaultHealthAddr+")")
	configPath := fs.String("config", "", "read listen from this config `file`")
	path := fs.String("path", "/healthz", "the `path` to ask (/readyz for readiness)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	target := *addr
	if target == "" && *configPath != "" {
		lc, err := loadConfig(*configPath, os.LookupEnv)
		if err != nil {
			printConfigError(stderr, err, nil)
			return exitFail
		}
		target = lc.File.Listen
	}
	if target == "" {
		target = defaultHealthAddr
	}
	target = localAddr(target)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+*path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "earshot healthcheck: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "earshot healthcheck: %v\n", err)
		return exitFail
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "earshot healthcheck: GET %s: %s\n", *path, resp.Status)
		return exitFail
	}
	fmt.Fprintf(stdout, "ok: GET http://%s%s: %s\n", target, *path, resp.Status)
	return exitOK
}

// localAddr turns a listen address (":8080", "0.0.0.0:8080", "[::]:8080")
// into one to dial on this machine.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
