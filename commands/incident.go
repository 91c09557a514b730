package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/bridge"
)

// Incident commands: `!incident <verb> ...` (and `/incident ...` on both
// desks), the buttons of incident cards, suggestions and case cards, and
// `!say NAME`. In an incident's thread the case verbs speak for the
// incident: `!claim` and `!release` take and give back its ownership,
// `!reply text` is its acknowledgement, `!resolve text` resolves it with
// that closing message.

// Incidents is what the incident commands need from the bridge;
// *bridge.Bridge implements it. A Cases without it has no incident
// commands (they say so).
type Incidents interface {
	Incident(id string) (bridge.IncidentView, bool)
	IncidentForThread(t bridge.ThreadRef) (bridge.IncidentView, bool)
	Incidents(queue string) []bridge.IncidentSummary
	DeclareIncident(ctx context.Context, queue string, by bridge.Staff, title string, terms []string) (bridge.IncidentView, error)
	DeclareFromCase(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.IncidentView, error)
	DeclareSuggested(ctx context.Context, id bridge.IncidentID, by bridge.Staff) (bridge.IncidentView, error)
	DismissIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff) (bridge.IncidentView, error)
	LinkCase(ctx context.Context, id bridge.CaseID, inc bridge.IncidentID, by bridge.Staff) (bridge.CaseView, error)
	UnlinkCase(ctx context.Context, id bridge.CaseID, by bridge.Staff) (bridge.CaseView, error)
	OwnIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff) (bridge.IncidentView, error)
	ReleaseIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff, force bool) (bridge.IncidentView, error)
	AcknowledgeIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff, text string, msg bridge.MessageRef, command string) (bridge.IncidentView, error)
	UpdateIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff, text string) (bridge.IncidentView, error)
	StartStatusThread(ctx context.Context, id bridge.IncidentID, by bridge.Staff, text string) (bridge.IncidentView, error)
	ResolveIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff, closing string, msg bridge.MessageRef, command string) (bridge.IncidentView, error)
	SetLateJoiners(ctx context.Context, id bridge.IncidentID, by bridge.Staff, on bool) (bridge.IncidentView, error)
	SetIncidentTerms(ctx context.Context, id bridge.IncidentID, by bridge.Staff, title string, add, remove []string) (bridge.IncidentView, error)
	RetryIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff) (int, error)
	SayReply(ctx context.Context, id bridge.CaseID, by bridge.Staff, name string, msg bridge.MessageRef) error
	SayIncident(ctx context.Context, id bridge.IncidentID, by bridge.Staff, name string, msg bridge.MessageRef) (bridge.IncidentView, error)
}

// incidentVerbs are the verbs of `!incident`, in help order.
var incidentVerbs = []struct{ verb, usage, help string }{
	{"open", `open "title" term term…`, "declare an incident in this channel's queue; complaints with its terms join it"},
	{"from", "from [case]", "declare one from a case (its Start incident button)"},
	{"declare", "declare INC-n", "declare a suggested incident (its Declare button)"},
	{"dismiss", "dismiss INC-n", "say a suggestion is not an incident"},
	{"link", "link INC-n [case]", "link a case to an incident"},
	{"split", "split [case]", "take a case out of its incident: it gets its own card again"},
	{"claim", "claim [INC-n]", "own the incident: only its owner speaks for it"},
	{"release", "release [INC-n] [force]", "give the ownership back (a lead may force)"},
	{"ack", "ack text", "the acknowledgement (or write it in the incident's thread): it goes to every complainant"},
	{"update", "update text", "the status; with a public status thread, posted there too"},
	{"status", "status text", "start the public status thread: one post per network"},
	{"resolve", "resolve [closing message]", "resolve the incident and its cases; the closing message goes to everyone"},
	{"late", "late on|off", "whether complaints linked later get the acknowledgement"},
	{"terms", "terms +add -remove [\"title\"]", "change the terms complaints are linked by (and the title)"},
	{"retry", "retry [INC-n]", "send the failed ones again"},
	{"list", "list", "the open incidents and suggestions of this channel's queue"},
	{"show", "show [INC-n]", "where an incident stands"},
}

// incidents returns the bridge's incident side, or a refusal.
func (c *Call) incidents() (Incidents, error) {
	inc, ok := c.Cases.(Incidents)
	if !ok {
		return nil, bridge.Userf("Incidents are not available in this Earshot.")
	}
	return inc, nil
}

// threadIncident is the incident whose thread the command was run in.
func (c *Call) threadIncident(inc Incidents) (bridge.IncidentView, bool) {
	if c.Inv.Thread.IsZero() {
		return bridge.IncidentView{}, false
	}
	return inc.IncidentForThread(c.Inv.Thread)
}

// incidentArg finds the incident a command names: a leading INC-n (then
// consumed), else the thread's; else, when the channel's queue has exactly
// one open incident, that one.
func (c *Call) incidentArg(inc Incidents) (bridge.IncidentView, error) {
	if len(c.args) > 0 {
		if id, ok := bridge.ParseIncidentID(c.args[0]); ok {
			v, found := inc.Incident(string(id))
			if !found {
				return v, bridge.Userf("There is no incident %s.", id)
			}
			c.consume()
			return v, nil
		}
	}
	if v, ok := c.threadIncident(inc); ok {
		return v, nil
	}
	if q, ok := c.Cases.QueueForChannel(c.Inv.Desk, c.Inv.Channel); ok {
		var open []bridge.IncidentSummary
		for _, s := range inc.Incidents(q.Name) {
			if s.Status == bridge.IncidentOpen {
				open = append(open, s)
			}
		}
		if len(open) == 1 {
			v, _ := inc.Incident(string(open[0].ID))
			return v, nil
		}
	}
	return bridge.IncidentView{}, bridge.Userf("Which incident? Run this in its thread, or give its id: `%sincident %s INC-3 …`.", c.Prefix(), c.Cmd.Name)
}

// caseArg finds the case a command names: a leading case id (consumed),
// else the thread's.
func (c *Call) caseArg() (bridge.CaseView, error) {
	if len(c.args) > 0 {
		if id, ok := ParseCaseID(c.args[0], c.reg.opts.CaseIDPrefix); ok {
			v, found := c.Cases.Case(id)
			if !found {
				if c.Cases.Forgotten(id) {
					return v, &bridge.UserError{Msg: bridge.ForgottenText(id)}
				}
				return v, bridge.Userf("There is no case %s.", id)
			}
			c.consume()
			return v, nil
		}
	}
	if v, ok := c.Cases.CaseForThread(c.Inv.Thread); ok && !c.Inv.Thread.IsZero() {
		return v, nil
	}
	return bridge.CaseView{}, bridge.Userf("Which case? Run this in the case's thread, or give its id (%s-42).", c.reg.opts.CaseIDPrefix)
}

// runIncident runs `!incident <verb> ...`.
func runIncident(c *Call) (string, error) {
	inc, err := c.incidents()
	if err != nil {
		return "", err
	}
	verb := "help"
	if len(c.args) > 0 {
		verb = strings.ToLower(c.args[0])
		c.consume()
	}
	by := c.Staff()
	switch verb {
	case "open", "declare", "new", "start":
		if len(c.args) > 0 {
			if id, ok := bridge.ParseIncidentID(c.args[0]); ok && len(c.args) == 1 {
				v, err := inc.DeclareSuggested(c.Ctx, id, by)
				return declared(v, err)
			}
		}
		if verb == "declare" && len(c.args) == 0 {
			if v, ok := c.threadIncident(inc); ok {
				v, err := inc.DeclareSuggested(c.Ctx, v.ID, by)
				return declared(v, err)
			}
		}
		q, ok := c.Cases.QueueForChannel(c.Inv.Desk, c.Inv.Channel)
		if !ok {
			if v, found := c.Cases.CaseForThread(c.Inv.Thread); found && !c.Inv.Thread.IsZero() {
				q.Name, ok = v.Queue, true
			}
		}
		if !ok {
			return "", bridge.Userf("Run this in a queue's channel: the incident belongs to that queue.")
		}
		if len(c.args) == 0 {
			return "", bridge.Userf("Usage: `%sincident open \"Fibre cut near Braga\" broadband braga`.", c.Prefix())
		}
		v, err := inc.DeclareIncident(c.Ctx, q.Name, by, c.args[0], c.args[1:])
		return declared(v, err)
	case "from":
		cv, err := c.caseArg()
		if err != nil {
			return "", err
		}
		v, err := inc.DeclareFromCase(c.Ctx, cv.ID, by)
		return declared(v, err)
	case "dismiss":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		if v, err = inc.DismissIncident(c.Ctx, v.ID, by); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s dismissed: not an incident.", v.ID), nil
	case "link":
		if len(c.args) == 0 {
			return "", bridge.Userf("Usage: `%sincident link INC-3 [case]`.", c.Prefix())
		}
		id, ok := bridge.ParseIncidentID(c.args[0])
		if !ok {
			return "", bridge.Userf("%q is not an incident id (INC-3).", c.args[0])
		}
		c.consume()
		cv, err := c.caseArg()
		if err != nil {
			return "", err
		}
		if cv, err = inc.LinkCase(c.Ctx, cv.ID, id, by); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is part of %s now: its owner answers it with everyone else's.", cv.ID, id), nil
	case "split", "unlink":
		cv, err := c.caseArg()
		if err != nil {
			return "", err
		}
		if cv, err = inc.UnlinkCase(c.Ctx, cv.ID, by); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s has its own card again.", cv.ID), nil
	case "claim", "own", "take":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		if v, err = inc.OwnIncident(c.Ctx, v.ID, by); err != nil {
			return "", err
		}
		return fmt.Sprintf("You own %s: write its acknowledgement in its thread.", v.ID), nil
	case "release":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		force := len(c.args) > 0 && isForce(c.args[0])
		if v, err = inc.ReleaseIncident(c.Ctx, v.ID, by, force); err != nil {
			return "", err
		}
		return fmt.Sprintf("Released %s; nobody owns it now.", v.ID), nil
	case "ack", "acknowledge", "reply":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		text := c.Text(0)
		if strings.TrimSpace(text) == "" {
			return "", bridge.Userf("Usage: `%sincident ack text`.", c.Prefix())
		}
		if _, err := inc.AcknowledgeIncident(c.Ctx, v.ID, by, text, c.Inv.Message, c.typed("incident "+verb)); err != nil {
			return "", err
		}
		return fmt.Sprintf("The acknowledgement goes to %d complainants after the undo window (edit or delete your message to change it).", v.Cases), nil
	case "update":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		if v, err = inc.UpdateIncident(c.Ctx, v.ID, by, c.Text(0)); err != nil {
			return "", err
		}
		if v.Public {
			return fmt.Sprintf("%s updated; the update goes to its public status thread.", v.ID), nil
		}
		return fmt.Sprintf("%s updated.", v.ID), nil
	case "status", "public":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		if _, err = inc.StartStatusThread(c.Ctx, v.ID, by, c.Text(0)); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s's public status thread starts: one post on each network.", v.ID), nil
	case "resolve", "close":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		return resolveIncident(c, inc, v, c.Text(0), c.typed("incident "+verb))
	case "late":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		on := len(c.args) == 0 || !strings.EqualFold(c.args[0], "off")
		if v, err = inc.SetLateJoiners(c.Ctx, v.ID, by, on); err != nil {
			return "", err
		}
		if on {
			return fmt.Sprintf("%s: complaints linked from now on get the acknowledgement.", v.ID), nil
		}
		return fmt.Sprintf("%s: complaints linked from now on get no acknowledgement.", v.ID), nil
	case "terms", "title":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		var add, remove []string
		title := ""
		for _, a := range c.args {
			switch {
			case verb == "title":
				title = c.Text(0)
			case strings.HasPrefix(a, "-"):
				remove = append(remove, a[1:])
			case strings.HasPrefix(a, "+"):
				add = append(add, a[1:])
			case strings.ContainsAny(a, " \t"):
				title = a
			default:
				add = append(add, a)
			}
		}
		if v, err = inc.SetIncidentTerms(c.Ctx, v.ID, by, title, add, remove); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %s; terms %s.", v.ID, cleanText(v.Title, 100), strings.Join(v.Terms, ", ")), nil
	case "retry":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		n, err := inc.RetryIncident(c.Ctx, v.ID, by)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Sending %d again; the card shows how it goes.", n), nil
	case "list":
		queue := ""
		if q, ok := c.Cases.QueueForChannel(c.Inv.Desk, c.Inv.Channel); ok {
			queue = q.Name
		}
		return formatIncidents(inc.Incidents(queue)), nil
	case "show":
		v, err := c.incidentArg(inc)
		if err != nil {
			return "", err
		}
		return formatIncident(v), nil
	case "help":
		return incidentUsage(c.Prefix()), nil
	}
	return "", bridge.Userf("There is no `%sincident %s`. %s", c.Prefix(), verb, incidentUsage(c.Prefix()))
}

// typed is the text command a free-text argument was typed with ("!incident
// ack"), so an edit of the message must still be that command; "" when it
// did not come as a text message.
func (c *Call) typed(verb string) string {
	if c.Inv.Source != bridge.SourceText || c.Inv.Message.ID == "" {
		return ""
	}
	return c.Prefix() + verb
}

func declared(v bridge.IncidentView, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s declared: %s. %d complaints linked; you own it: write the acknowledgement in its thread.", v.ID, cleanText(v.Title, 100), v.Cases), nil
}

func resolveIncident(c *Call, inc Incidents, v bridge.IncidentView, closing, command string) (string, error) {
	v, err := inc.ResolveIncident(c.Ctx, v.ID, c.Staff(), closing, c.Inv.Message, command)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(closing) == "" {
		return fmt.Sprintf("%s resolved with its %d cases; no closing message was sent.", v.ID, v.Cases), nil
	}
	return fmt.Sprintf("%s resolved with its %d cases; the closing message goes to each after the undo window.", v.ID, v.Cases), nil
}

// incidentUsage lists the verbs.
func incidentUsage(prefix string) string {
	var b strings.Builder
	b.WriteString("Incident commands:")
	for _, v := range incidentVerbs {
		fmt.Fprintf(&b, "\n• `%sincident %s` — %s", prefix, v.usage, v.help)
	}
	return b.String()
}

// formatIncidents lists incidents, one a line.
func formatIncidents(list []bridge.IncidentSummary) string {
	if len(list) == 0 {
		return "No open incidents or suggestions here."
	}
	lines := make([]string, 0, len(list))
	for _, s := range list {
		lines = append(lines, fmt.Sprintf("• %s · %s · %d cases — %s", s.ID, s.Status, s.Cases, cleanText(s.Title, maxQuoteText)))
	}
	return fitLines(fmt.Sprintf("%d %s", len(list), plural(len(list), "incident", "incidents")), lines)
}

// formatIncident is where one incident stands.
func formatIncident(v bridge.IncidentView) string {
	parts := []string{fmt.Sprintf("%s · %s · %s", v.ID, cleanText(v.Title, 100), v.StatusLine())}
	parts = append(parts, fmt.Sprintf("%d cases (%s); terms %s", v.Cases, v.NetworkLine(), strings.Join(v.Terms, ", ")))
	if v.StatusText != "" {
		parts = append(parts, "Status: "+cleanText(v.StatusText, 300))
	}
	if line := v.Progress.Line(); line != "" {
		parts = append(parts, line)
	}
	return strings.Join(parts, "\n")
}

// runSay sends a saved reply: `!say NAME` in a case's thread (or with its
// id first), or in an incident's thread as its acknowledgement.
func runSay(c *Call) (string, error) {
	inc, err := c.incidents()
	if err != nil {
		return "", err
	}
	if v, ok := c.threadIncident(inc); ok && len(c.args) == 1 {
		if _, err := inc.SayIncident(c.Ctx, v.ID, c.Staff(), c.args[0], c.Inv.Message); err != nil {
			return "", err
		}
		return fmt.Sprintf("%q goes to %d complainants of %s after the undo window.", c.args[0], v.Cases, v.ID), nil
	}
	cv, err := c.caseArg()
	if err != nil {
		return "", err
	}
	if len(c.args) != 1 {
		return "", bridge.Userf("Usage: `%ssay NAME` (a saved reply; `%sreply text` sends your own words).", c.Prefix(), c.Prefix())
	}
	if err := inc.SayReply(c.Ctx, cv.ID, c.Staff(), c.args[0], c.Inv.Message); err != nil {
		return "", err
	}
	return fmt.Sprintf("Your saved reply %q to %s is on its way.", c.args[0], cv.ID), nil
}

// inIncidentThread runs the case verbs typed or pressed in an incident's
// thread for the incident: claim, release, reply, resolve; ok is false
// when call is not one of those in an incident's thread.
func (r *Registry) inIncidentThread(c *Call) (bridge.Response, bool) {
	switch c.Cmd.Name {
	case "claim", "release", "reply", "resolve":
	default:
		return bridge.Response{}, false
	}
	inc, ok := c.Cases.(Incidents)
	if !ok {
		return bridge.Response{}, false
	}
	v, ok := c.threadIncident(inc)
	if !ok {
		return bridge.Response{}, false
	}
	var text string
	var err error
	switch c.Cmd.Name {
	case "claim":
		if _, err = inc.OwnIncident(c.Ctx, v.ID, c.Staff()); err == nil {
			text = fmt.Sprintf("You own %s: write its acknowledgement in this thread.", v.ID)
		}
	case "release":
		force := len(c.args) > 0 && isForce(c.args[0])
		if _, err = inc.ReleaseIncident(c.Ctx, v.ID, c.Staff(), force); err == nil {
			text = fmt.Sprintf("Released %s.", v.ID)
		}
	case "reply":
		if strings.TrimSpace(c.Text(0)) == "" {
			return c.refuse("Usage: " + r.usage(c.Cmd)), true
		}
		if _, err = inc.AcknowledgeIncident(c.Ctx, v.ID, c.Staff(), c.Text(0), c.Inv.Message, c.typed(c.Inv.Name)); err == nil {
			text = fmt.Sprintf("The acknowledgement goes to %d complainants after the undo window.", v.Cases)
		}
	case "resolve":
		text, err = resolveIncident(c, inc, v, c.Text(0), c.typed(c.Inv.Name))
	}
	if err != nil {
		if bridge.IsUserError(err) {
			return c.refuse(userMessage(err)), true
		}
		r.opts.Logger.Error("commands: incident command failed", "command", c.Cmd.Name, "incident", string(v.ID), "err", err)
		return bridge.Response{Text: "Sorry, that did not work because of a problem on our side; nothing was changed.", Private: true, Command: c.Cmd.Name, Failed: true}, true
	}
	return bridge.Response{Text: text, Private: true, OK: true, Command: c.Cmd.Name}, true
}
