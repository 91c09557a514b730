package fakekit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFeed(t *testing.T) {
	f := &Feed[int]{Buffer: 2}
	a, b := f.Subscribe(), f.Subscribe()
	for i := range 3 {
		f.Emit(i) // the third finds both buffers full: dropped, not blocking
	}
	if got := []int{<-a, <-a, <-b, <-b}; got[0] != 0 || got[1] != 1 || got[2] != 0 || got[3] != 1 {
		t.Errorf("received %v", got)
	}
	f.Close()
	f.Close()
	f.Emit(9)
	if _, open := <-a; open {
		t.Error("a subscriber's channel is open after Close")
	}
	if _, open := <-f.Subscribe(); open {
		t.Error("a subscription after Close is open")
	}
	var zero Feed[string]
	if c := zero.Subscribe(); cap(c) != 256 {
		t.Errorf("default buffer %d, want 256", cap(c))
	}
}

func TestFailures(t *testing.T) {
	type failure struct{ status int }
	var fs Failures[failure]
	if _, ok := fs.Take(); ok {
		t.Error("an empty queue gave a failure")
	}
	fs.Add(failure{429}, 2)
	fs.Add(failure{500}, 1)
	fs.Add(failure{502}, 0)
	var got []int
	for f, ok := fs.Take(); ok; f, ok = fs.Take() {
		got = append(got, f.status)
	}
	if len(got) != 3 || got[0] != 429 || got[1] != 429 || got[2] != 500 {
		t.Errorf("took %v, want [429 429 500]", got)
	}
}

func TestLatency(t *testing.T) {
	var l Latency
	if !l.Wait(context.Background(), nil) {
		t.Error("no latency: Wait said the client went away")
	}
	l.Set(time.Hour)
	stop := make(chan struct{})
	close(stop)
	if !l.Wait(context.Background(), stop) {
		t.Error("a closing fake's Wait said the client went away")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.Wait(ctx, nil) {
		t.Error("a gone client's Wait said answer")
	}
	l.Set(time.Millisecond)
	if !l.Wait(context.Background(), nil) {
		t.Error("a short latency: Wait said the client went away")
	}
}

// A frozen connection answers nothing until the server closes it.
func TestFreezable(t *testing.T) {
	frozen := make(chan *FreezeConn, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := ConnOf(r.Context())
		if r.URL.Path == "/freeze" {
			c.Freeze()
			frozen <- c
		}
		_, _ = io.WriteString(w, "ok")
	}))
	Freezable(srv)
	srv.Start()
	defer srv.Close()

	if ConnOf(context.Background()) != nil {
		t.Error("ConnOf found a connection in a plain context")
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /freeze HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c := <-frozen
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := bufio.NewReader(conn).ReadByte(); !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Errorf("a frozen connection answered: %v", err)
	}
	_ = c.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestHolds(t *testing.T) {
	var h Holds
	if !h.Wait(context.Background(), nil, "x") || h.Holding("x") {
		t.Fatal("nothing held, yet Wait held or Holding says so")
	}
	answered, release := h.Hold("x")
	done := make(chan bool, 1)
	go func() { done <- h.Wait(context.Background(), nil, "x") }()
	<-answered
	select {
	case <-done:
		t.Fatal("a held answer went before release")
	default:
	}
	release()
	if !<-done {
		t.Fatal("a released answer was dropped")
	}
	release() // twice is fine
	_, release2 := h.Hold("y")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if h.Wait(ctx, nil, "y") {
		t.Error("a held answer whose client went away was to be sent")
	}
	release2()
}

func TestBudget(t *testing.T) {
	var b Budget
	if ok, _, reset := b.Spend("a", 1); !ok || !reset.IsZero() {
		t.Fatal("the zero Budget refuses")
	}
	at := time.Unix(1000, 0)
	b.Set(5, time.Minute)
	b.now = func() time.Time { return at }
	for k := range 5 {
		if ok, left, _ := b.Spend("a", 1); !ok || left != 4-k {
			t.Fatalf("spend %d: ok %v left %d", k, ok, left)
		}
	}
	ok, left, reset := b.Spend("a", 1)
	if ok || left != 0 || !reset.Equal(at.Add(time.Minute)) || b.Refused() != 1 {
		t.Fatalf("over the limit: ok %v left %d reset %v", ok, left, reset)
	}
	if ok, _, _ := b.Spend("b", 3); !ok {
		t.Error("another account shares the budget")
	}
	if ok, _, _ := b.Spend("b", 3); ok {
		t.Error("a cost over what is left was allowed")
	}
	at = at.Add(time.Minute)
	if ok, left, _ := b.Spend("a", 1); !ok || left != 4 {
		t.Errorf("a new window: ok %v left %d", ok, left)
	}
}
