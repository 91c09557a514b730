package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"golang.org/x/time/rate"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/pace"
)

// call.go makes every REST request: counted through bridge.Deps.Requests,
// paced by the global limiter, bounded by RequestTimeout per attempt,
// retried after a 429 (waiting its retry_after, for as long as ctx lives)
// and after a 5xx (three attempts in all), and with errors cleaned of
// anything secret (webhook and interaction tokens live in URLs).

// Discord error codes the desk acts on.
const (
	codeUnknownMessage     = 10008
	codeUnknownWebhook     = 10015
	codeMissingPermissions = 50013
	codeCannotDM           = 50007
	codeArchivedThread     = 50083
)

// maxAttemptsOn5xx is how many attempts one call makes against server errors.
const maxAttemptsOn5xx = 3

// rateLimited is a 429 the desk gave up waiting out (its context ended).
type rateLimited struct {
	retryAfter time.Duration
	cause      error // the context's error
}

func (e *rateLimited) Error() string {
	return fmt.Sprintf("rate limited, retry after %v; gave up waiting: %v", e.retryAfter, e.cause)
}

func (e *rateLimited) Unwrap() error { return e.cause }

// call runs fn, one discordgo request, as described above. op is a fixed
// short name for metrics ("message.create"): never an id or text.
// Interaction answers ("interaction.*") skip the global limiter, as Discord
// does not count them.
func (d *Desk) call(ctx context.Context, op string, fn func(opts ...discordgo.RequestOption) error) error {
	return callWith(ctx, op, d.globalFor(op), d.cfg.RequestTimeout, d.obs, fn)
}

// waited counts time spent waiting for Discord's rate limits (our pacing
// under them, or a 429's retry_after).
func (d *Desk) waited(dur time.Duration) {
	if dur >= time.Millisecond {
		bridge.ObserveWait(d.obs, Name, dur)
	}
}

func (d *Desk) globalFor(op string) *rate.Limiter {
	if strings.HasPrefix(op, "interaction.") {
		return nil
	}
	return d.global
}

// callWith is call with its dependencies spelled out.
func callWith(ctx context.Context, op string, global *rate.Limiter, timeout time.Duration, obs bridge.RequestObserver,
	fn func(opts ...discordgo.RequestOption) error) error {
	serverErrors := 0
	for {
		if global != nil {
			start := time.Now()
			err := global.Wait(ctx)
			if d := time.Since(start); d >= time.Millisecond {
				bridge.ObserveWait(obs, Name, d)
			}
			if err != nil {
				return err
			}
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := fn(discordgo.WithContext(actx))
		cancel()
		var rl *discordgo.RateLimitError
		switch {
		case err == nil:
			obs.ObserveRequest(Name, op, bridge.OutcomeOK, time.Since(start))
			return nil
		case errors.As(err, &rl):
			obs.ObserveRequest(Name, op, bridge.OutcomeRateLimited, time.Since(start))
			wait := max(rl.RetryAfter, 10*time.Millisecond)
			slept := time.Now()
			err := pace.Sleep(ctx, wait)
			bridge.ObserveWait(obs, Name, time.Since(slept))
			if err != nil {
				return &rateLimited{retryAfter: wait, cause: err}
			}
			continue
		}
		obs.ObserveRequest(Name, op, bridge.OutcomeError, time.Since(start))
		if restStatus(err) >= 500 && serverErrors+1 < maxAttemptsOn5xx {
			serverErrors++
			if pace.Sleep(ctx, time.Duration(serverErrors)*100*time.Millisecond) != nil {
				return clean(err)
			}
			continue
		}
		return clean(err)
	}
}

// restStatus is the HTTP status of a Discord error answer, or 0.
func restStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// restCode is Discord's error code ({"code":10003,...}), or 0.
func restCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// clean makes err safe to log and return: a transport error names its URL,
// and webhook and interaction URLs carry tokens, so those parts go.
func clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) {
		return &restError{status: restStatus(err), body: re.ResponseBody, err: re}
	}
	return err
}

// restError is a Discord error answer without the request (whose URL and
// headers hold secrets) in its text.
type restError struct {
	status int
	body   []byte
	err    *discordgo.RESTError
}

func (e *restError) Error() string {
	body := string(e.body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.status, http.StatusText(e.status), body)
}

func (e *restError) Unwrap() error { return e.err }

// redactURL drops the token segments of webhook and interaction URLs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	parts := strings.Split(u.Path, "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "webhooks" || parts[i] == "interactions" {
			parts[i+2] = "[token]"
		}
	}
	u.Path = strings.Join(parts, "/")
	u.RawPath = ""
	u.RawQuery = ""
	return u.String()
}
