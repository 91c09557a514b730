package blueskyfake

import (
	"context"
	"net"
	"sync"
)

// freezeConn is a server-side connection that can be frozen: reads and
// writes block (nothing in, nothing out, not even WebSocket pongs) until it
// is closed, as a half-open TCP connection looks from the other side.
type freezeConn struct {
	net.Conn
	once   sync.Once
	frozen chan struct{}
	closed chan struct{}
	cOnce  sync.Once
}

func newFreezeConn(c net.Conn) *freezeConn {
	return &freezeConn{Conn: c, frozen: make(chan struct{}), closed: make(chan struct{})}
}

func (c *freezeConn) freeze() { c.once.Do(func() { close(c.frozen) }) }

func (c *freezeConn) wait() error {
	select {
	case <-c.frozen:
		<-c.closed
		return net.ErrClosed
	default:
		return nil
	}
}

func (c *freezeConn) Read(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *freezeConn) Write(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *freezeConn) Close() error {
	c.cOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type freezeListener struct{ net.Listener }

func (l freezeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newFreezeConn(c), nil
}

type connKey struct{}

// connOf finds the request's connection (stored by ConnContext).
func connOf(ctx context.Context) *freezeConn {
	c, _ := ctx.Value(connKey{}).(*freezeConn)
	return c
}
