package mastodon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	gomastodon "github.com/mattn/go-mastodon"
)

// Many servers speak the Mastodon API, each in its own way. What the
// connector needs to know it reads from the server itself, once, before it
// listens or publishes: the software and version (nodeinfo, else the
// instance document's "(compatible; X y)"), the streaming URL and the
// character limit (/api/v2/instance, else /api/v1/instance). From the
// software follow
//
//   - how text is counted: Mastodon counts a URL as 23 and a mention by its
//     @username; GoToSocial (and the others we know) count characters as
//     typed; an unknown server is counted both ways and the longer wins;
//   - which stream to try first (stream: auto): SSE on Mastodon, the
//     WebSocket elsewhere (GoToSocial has no SSE), the other when the first
//     is refused as missing, polling when both are;
//   - whether hashtag streams can be trusted: on Mastodon; GoToSocial
//     accepts them and stays silent, so elsewhere tag timelines are polled;
//   - whether the server honours Idempotency-Key (idempotent: auto):
//     Mastodon 3 and later do; any other (GoToSocial ignored it when
//     observed) is probed once when Earshot starts (probeIdempotency), and
//     the verdict is kept with the state until the server's version
//     changes.

// softwareMastodon is Mastodon's name in nodeinfo (its forks give it too).
const softwareMastodon = "mastodon"

// serverInfo is what detection learned about the server.
type serverInfo struct {
	Software  string // nodeinfo's software name, lower case; "" unknown
	Version   string
	Domain    string // for full handles
	Streaming string // ws(s):// base of the streaming API
	MaxChars  int
}

// String is "gotosocial 0.17.3", or "an unknown server".
func (s serverInfo) String() string {
	if s.Software == "" {
		return "an unknown Mastodon-API server (" + orDefault(s.Version, "no version") + ")"
	}
	return s.Software + " " + s.Version
}

// mastodon reports whether the server is Mastodon itself (or a fork that
// says it is).
func (s serverInfo) mastodon() bool { return s.Software == softwareMastodon }

// count is the server's way of counting text, and how to say it to staff.
func (s serverInfo) count() (func(string) int, string) {
	switch s.Software {
	case softwareMastodon:
		return CountChars, "links count 23"
	case "":
		return CountStrict, "links count as typed or as 23, whichever is more: this server's rules are not known"
	}
	return CountPlain, "links and mentions count as typed"
}

// knownIdempotency says whether the software honours Idempotency-Key on
// POST /api/v1/statuses, when that is known without a probe: Mastodon
// does (since long before 3.0). Anything else is probed, GoToSocial too
// (it ignored the key when observed; a later version may not).
func (s serverInfo) knownIdempotency() (honours, known bool) {
	if s.Software != softwareMastodon {
		return false, false
	}
	major, err := strconv.Atoi(strings.SplitN(s.Version, ".", 2)[0])
	return err == nil && major >= 3, err == nil
}

// streamOrder is the order stream: auto tries the transports in.
func (s serverInfo) streamOrder() []string {
	if s.mastodon() {
		return []string{streamSSE, streamWebSocket}
	}
	return []string{streamWebSocket, streamSSE}
}

// trustsTagStreams reports whether hashtag streams deliver on this server.
func (s serverInfo) trustsTagStreams() bool { return s.mastodon() }

// detect reads the server's facts (see above). It does network I/O.
func (n *Network) detect(ctx context.Context) (serverInfo, error) {
	var inst struct {
		Domain        string `json:"domain"`
		URI           string `json:"uri"` // v1
		Version       string `json:"version"`
		MaxTootChars  int    `json:"max_toot_chars"` // Pleroma's v1
		Configuration struct {
			URLs struct {
				Streaming string `json:"streaming"`
			} `json:"urls"`
			Statuses struct {
				MaxCharacters int `json:"max_characters"`
			} `json:"statuses"`
		} `json:"configuration"`
		URLs struct {
			StreamingAPI string `json:"streaming_api"` // v1
		} `json:"urls"`
	}
	err := n.getJSON(ctx, "instance", "/api/v2/instance", nil, &inst)
	var ae *gomastodon.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		err = n.getJSON(ctx, "instance", "/api/v1/instance", nil, &inst) // Mastodon before 4.0, Pleroma
	}
	if err != nil {
		return serverInfo{}, fmt.Errorf("mastodon: read instance: %w", err)
	}
	v1Domain := strings.TrimPrefix(strings.TrimPrefix(inst.URI, "https://"), "http://") // Pleroma's is a URL
	info := serverInfo{Version: inst.Version, Domain: strings.TrimRight(orDefault(inst.Domain, v1Domain), "/"),
		Streaming: strings.TrimRight(orDefault(inst.Configuration.URLs.Streaming, inst.URLs.StreamingAPI), "/"),
		MaxChars:  inst.Configuration.Statuses.MaxCharacters}
	if info.MaxChars <= 0 {
		info.MaxChars = inst.MaxTootChars
	}
	if info.MaxChars <= 0 {
		info.MaxChars = defaultMaxChars
	}
	if info.Domain == "" {
		u, _ := url.Parse(n.cfg.Server)
		info.Domain = u.Hostname()
	}
	if info.Streaming == "" {
		info.Streaming = "ws" + strings.TrimPrefix(n.cfg.Server, "http")
	}
	if name, version, err := n.nodeinfo(ctx); err == nil {
		info.Software, info.Version = name, version
	} else if rateLimitWait(err) > 0 || ctx.Err() != nil {
		return serverInfo{}, fmt.Errorf("mastodon: read nodeinfo: %w", err)
	} else {
		n.log.Debug("mastodon: no nodeinfo; reading the software from the instance's version", "err", err)
		info.Software, info.Version = softwareOf(inst.Version)
	}
	return info, nil
}

var compatibleRe = regexp.MustCompile(`\(compatible; ([A-Za-z][\w.-]*) ([^)]+)\)`)

// softwareOf reads an instance document's version: "2.7.2 (compatible;
// Pleroma 2.5.0)" names its software; a bare version names none.
func softwareOf(version string) (name, v string) {
	if m := compatibleRe.FindStringSubmatch(version); m != nil {
		return strings.ToLower(m[1]), m[2]
	}
	return "", version
}

// nodeinfo reads the server's software name and version from its nodeinfo
// document (linked from /.well-known/nodeinfo, on the same host).
func (n *Network) nodeinfo(ctx context.Context) (name, version string, err error) {
	var links struct {
		Links []struct {
			Rel  string `json:"rel"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := n.getJSON(ctx, "nodeinfo", "/.well-known/nodeinfo", nil, &links); err != nil {
		return "", "", err
	}
	base, _ := url.Parse(n.cfg.Server)
	for _, l := range links.Links {
		if !strings.HasPrefix(l.Rel, "http://nodeinfo.diaspora.software/ns/schema/2.") {
			continue
		}
		u, err := url.Parse(l.Href)
		if err != nil || u.Host != base.Host {
			continue // never follow a link off the configured server
		}
		var doc struct {
			Software struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"software"`
		}
		if err := n.getJSON(ctx, "nodeinfo", u.EscapedPath(), u.Query(), &doc); err != nil {
			return "", "", err
		}
		if doc.Software.Name == "" {
			return "", "", errors.New("nodeinfo names no software")
		}
		return strings.ToLower(doc.Software.Name), doc.Software.Version, nil
	}
	return "", "", errors.New("no nodeinfo 2.x link on this server")
}

// probeIdempotency proves whether the server honours Idempotency-Key: it
// posts one direct status to our own account twice with one fresh key,
// then deletes what it made. One status means it does. It does network
// I/O (four requests at most) and blocks until done or ctx ends.
func (n *Network) probeIdempotency(ctx context.Context, me *gomastodon.Account) (bool, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	key := "earshot-probe-" + hex.EncodeToString(b)
	toot := &gomastodon.Toot{Visibility: gomastodon.VisibilityDirectMessage,
		Status: "@" + me.Username + " Earshot checks whether this server honours Idempotency-Key; this status is deleted at once."}
	var ids []gomastodon.ID
	defer func() {
		for _, id := range ids {
			dctx, cancel := n.reqCtx(context.WithoutCancel(ctx), "delete_probe")
			if err := n.api.DeleteStatus(dctx, id); err != nil {
				n.log.Warn("mastodon: could not delete the idempotency probe; delete it by hand", "status", id, "err", err)
			}
			cancel()
		}
	}()
	for range 2 {
		pctx, cancel := n.reqCtx(withIdempotencyKey(ctx, key), "probe")
		st, err := n.api.PostStatus(pctx, toot)
		cancel()
		if err != nil {
			return false, fmt.Errorf("mastodon: idempotency probe: %w", err)
		}
		n.seen.Add(string(st.ID)) // never delivered, should a stream bring it
		if len(ids) == 0 || ids[0] != st.ID {
			ids = append(ids, st.ID)
		}
	}
	return len(ids) == 1, nil
}
