package bridge

import (
	"context"
	"strings"
)

// Saved replies: answers a team gives often, named in the config
// (`replies:`), sent with `!say NAME` (or picked on the card). In a case
// they are an explicit reply (Reply: the claim, the network's limit, the
// undo window, the mark); in an incident's thread they are its
// acknowledgement (AcknowledgeIncident), filled in per complainant.

// SavedReplies lists the saved replies, in config order.
func (b *Bridge) SavedReplies() []SavedReply { return b.cfg.Replies }

// savedReply finds a saved reply by name, case-insensitively.
func (b *Bridge) savedReply(name string) (SavedReply, error) {
	for _, r := range b.cfg.Replies {
		if strings.EqualFold(r.Name, strings.TrimSpace(name)) {
			return r, nil
		}
	}
	if len(b.cfg.Replies) == 0 {
		return SavedReply{}, Userf("There are no saved replies (a lead adds them under replies: in the config).")
	}
	names := make([]string, len(b.cfg.Replies))
	for i, r := range b.cfg.Replies {
		names[i] = r.Name
	}
	return SavedReply{}, Userf("There is no saved reply %q. Saved replies: %s.", name, strings.Join(names, ", "))
}

// SayReply sends saved reply name on case id, filled in for its customer,
// with every rule of an explicit reply; msg is the command's desk message,
// if any (its mark shows the fate). An edit of that message in the undo
// window cancels the reply (a saved reply goes as it is).
func (b *Bridge) SayReply(_ context.Context, id CaseID, by Staff, name string, msg MessageRef) error {
	r, err := b.savedReply(name)
	if err != nil {
		return err
	}
	tx := b.read()
	c := findCase(tx, id)
	if c == nil {
		return b.noCase(tx, id)
	}
	var i *Incident
	if c.Incident != "" {
		i = getIncident(tx, c.Incident)
	}
	if strings.Contains(r.Text, "{status_url}") && (i == nil || i.StatusURL(c.Network) == "") {
		return Userf("%q links the incident's status thread ({status_url}), and %s has none on %s.", r.Name, c.ID, networkTitle(c.Network))
	}
	if strings.Contains(r.Text, "{incident}") && i == nil {
		return Userf("%q names the incident ({incident}), and %s is part of none.", r.Name, c.ID)
	}
	// Without the invocation the reply carries no command: an edit of
	// "!say NAME" then cancels it instead of publishing the new name.
	return b.Reply(context.Background(), c.ID, by, fillIn(r.Text, c, i), msg)
}

// SayIncident makes saved reply name the acknowledgement of incident id
// (`!say NAME` in its thread): filled in per complainant when it goes.
func (b *Bridge) SayIncident(ctx context.Context, id IncidentID, by Staff, name string, msg MessageRef) (IncidentView, error) {
	r, err := b.savedReply(name)
	if err != nil {
		return IncidentView{}, err
	}
	return b.AcknowledgeIncident(ctx, id, by, r.Text, msg, "")
}
