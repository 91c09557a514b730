package fakekit

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
)

// Freezable makes every connection srv accepts a FreezeConn, found from a
// request by ConnOf. Call it before srv.Start; it sets srv.Listener and
// srv.Config.ConnContext.
func Freezable(srv *httptest.Server) {
	srv.Listener = freezeListener{srv.Listener}
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
}

// ConnOf returns the connection a request came on (its r.Context()), or nil
// when its server is not Freezable.
func ConnOf(ctx context.Context) *FreezeConn {
	c, _ := ctx.Value(connKey{}).(*FreezeConn)
	return c
}

type connKey struct{}

// FreezeConn is a server-side connection that can be frozen: reads and
// writes block (nothing in, nothing out, not even WebSocket pongs) until it
// is closed, as a half-open TCP connection looks from the other side.
type FreezeConn struct {
	net.Conn
	once   sync.Once
	frozen chan struct{}
	closed chan struct{}
	cOnce  sync.Once
}

func newFreezeConn(c net.Conn) *FreezeConn {
	return &FreezeConn{Conn: c, frozen: make(chan struct{}), closed: make(chan struct{})}
}

// Freeze makes every later read and write block until Close. It does not
// block; later calls do nothing.
func (c *FreezeConn) Freeze() { c.once.Do(func() { close(c.frozen) }) }

func (c *FreezeConn) wait() error {
	select {
	case <-c.frozen:
		<-c.closed
		return net.ErrClosed
	default:
		return nil
	}
}

// Read reads from the connection, or blocks until Close once frozen.
func (c *FreezeConn) Read(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write writes to the connection, or blocks until Close once frozen.
func (c *FreezeConn) Write(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Close closes the connection and ends blocked reads and writes.
func (c *FreezeConn) Close() error {
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
