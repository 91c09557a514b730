package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/earshot-dev/earshot/bridge"
	"github.com/earshot-dev/earshot/connectors/internal/statefile"
)

// Customers' direct messages do not travel on Jetstream: they are read by
// polling the chat log (chat.bsky.convo.getLog through the PDS proxy) from
// a cursor kept in Deps.DataDir. The first start only notes where the log
// is; history is not delivered.

type chatLog struct {
	Cursor string `json:"cursor"`
	Logs   []struct {
		Type    string `json:"$type"`
		Rev     string `json:"rev"`
		ConvoID string `json:"convoId"`
		Message struct {
			ID     string `json:"id"`
			Text   string `json:"text"`
			Sender struct {
				DID string `json:"did"`
			} `json:"sender"`
			SentAt string `json:"sentAt"`
		} `json:"message"`
	} `json:"logs"`
}

func (n *Network) chatCursorPath() string {
	if n.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(n.deps.DataDir, "bluesky-chat-cursor.json")
}

func (n *Network) loadChatCursor() (string, bool) {
	p := n.chatCursorPath()
	if p == "" {
		return "", false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	var st struct {
		Cursor string `json:"cursor"`
	}
	if json.Unmarshal(b, &st) != nil {
		return "", false
	}
	return st.Cursor, true
}

func (n *Network) saveChatCursor(c string) {
	p := n.chatCursorPath()
	if p == "" {
		return
	}
	if err := statefile.WriteJSON(p, map[string]string{"cursor": c}); err != nil {
		n.log.Warn("bluesky: save chat cursor", "err", err)
	}
}

// chatLoop polls the chat log every ChatPoll until ctx ends. When the app
// password has no DM access it says so once and stops.
func (n *Network) chatLoop(ctx context.Context, in bridge.Inbox, me string) {
	cursor, known := n.loadChatCursor()
	t := time.NewTicker(n.cfg.ChatPoll)
	defer t.Stop()
	for {
		next, err := n.pollChat(ctx, in, me, cursor, !known)
		switch {
		case err == nil:
			if next != cursor || !known {
				n.saveChatCursor(next)
			}
			cursor, known = next, true
		case ctx.Err() != nil:
			return
		default:
			var xe *xrpcError
			if errors.As(err, &xe) && (xe.Status == http.StatusUnauthorized || xe.Status == http.StatusForbidden || xe.Name == "InvalidToken") {
				n.log.Warn("bluesky: cannot read direct messages; give the app password DM access to receive them", "err", err)
				return
			}
			n.log.Info("bluesky: chat poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollChat reads the chat log after cursor, delivering customers' messages
// (unless baseline) and returning the new cursor.
func (n *Network) pollChat(ctx context.Context, in bridge.Inbox, me, cursor string, baseline bool) (string, error) {
	hdr := http.Header{"Atproto-Proxy": {n.cfg.ChatProxy}}
	for range 100 { // bounded pages per poll
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var lg chatLog
		if err := n.xrpc.call(ctx, "getLog", http.MethodGet, "chat.bsky.convo.getLog", q, nil, &lg, hdr); err != nil {
			return cursor, err
		}
		for _, l := range lg.Logs {
			if baseline || l.Type != "chat.bsky.convo.defs#logCreateMessage" || l.Message.Sender.DID == me || l.Message.ID == "" {
				continue
			}
			id := "chat:" + l.Message.ID
			if !n.seen.Add(id) {
				continue
			}
			p := bridge.Post{Network: Name, ID: id, Text: l.Message.Text, Conversation: "chat:" + l.ConvoID,
				URL: "https://bsky.app/messages/" + l.ConvoID, Direct: true, Ref: map[string]string{"convo": l.ConvoID}}
			if t, err := time.Parse(time.RFC3339Nano, l.Message.SentAt); err == nil {
				p.CreatedAt = t
			}
			p.Author = n.author(ctx, l.Message.Sender.DID)
			if err := in.Post(ctx, p); err != nil {
				n.seen.Forget(id)
				return cursor, err // the next poll starts before this message
			}
			cursor = l.Rev
		}
		if lg.Cursor == "" || lg.Cursor == cursor && len(lg.Logs) == 0 {
			return cursor, nil
		}
		cursor = lg.Cursor
		if len(lg.Logs) == 0 {
			return cursor, nil
		}
	}
	return cursor, nil
}
