package replay

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func TestClaim(t *testing.T) {
	t.Parallel()
	g := New(5 * time.Minute)
	tk, v := g.Claim("a", t0, t0)
	if v != First {
		t.Fatalf("first claim: %v", v)
	}
	again, v := g.Claim("a", t0, t0.Add(time.Second))
	if v != Replay || again != tk {
		t.Fatalf("second claim: %v", v)
	}
	if _, ok := again.Answer(); ok {
		t.Error("an answer before Done")
	}
	tk.Done(Answer{Status: 200, Body: []byte("the first answer")})
	if a, ok := again.Answer(); !ok || string(a.Body) != "the first answer" {
		t.Errorf("replay's answer %+v %v", a, ok)
	}
	// Still known at the end of the window plus margin, forgotten after.
	if _, v := g.Claim("a", t0, t0.Add(5*time.Minute+margin-time.Second)); v != Replay {
		t.Errorf("inside window+margin: %v", v)
	}
	if _, v := g.Claim("a", t0, t0.Add(5*time.Minute+margin)); v != First {
		t.Errorf("after window+margin: %v", v)
	}
	// A request from the future is kept for a window after its own time.
	if _, v := g.Claim("f", t0.Add(4*time.Minute), t0); v != First {
		t.Fatal(v)
	}
	if _, v := g.Claim("f", t0.Add(4*time.Minute), t0.Add(9*time.Minute)); v != Replay {
		t.Errorf("future-signed request forgotten too early: %v", v)
	}
}

func TestForget(t *testing.T) {
	t.Parallel()
	g := New(time.Minute)
	tk, _ := g.Claim("k", t0, t0)
	tk.Forget()
	if _, v := g.Claim("k", t0, t0); v != First {
		t.Errorf("after Forget: %v", v)
	}
	tk.Forget() // an old ticket does not drop the new claim
	if _, v := g.Claim("k", t0, t0); v != Replay {
		t.Errorf("a stale Forget dropped the newer claim: %v", v)
	}
}

func TestOpenRefusesEarlierSignatures(t *testing.T) {
	t.Parallel()
	g := New(5 * time.Minute)
	if _, v := g.Claim("old", t0.Add(-time.Minute), t0); v != First {
		t.Fatalf("before Open: %v", v)
	}
	g.Open(t0.Add(500 * time.Millisecond))
	if _, v := g.Claim("older", t0.Add(-time.Second), t0.Add(time.Second)); v != BeforeOpen {
		t.Errorf("signed before Open: %v", v)
	}
	if _, v := g.Claim("same second", t0, t0.Add(time.Second)); v != First {
		t.Errorf("signed in Open's second: %v", v)
	}
}

func TestSweepBoundsMemory(t *testing.T) {
	t.Parallel()
	g := New(time.Minute)
	now := t0
	for i := range 10_000 {
		now = now.Add(100 * time.Millisecond)
		g.Claim(Key([]byte{byte(i), byte(i >> 8)}), now, now)
	}
	// 1000 s of one claim per 100 ms; only the last window+margin (and at
	// most half a window more, between sweeps) may remain.
	if n, max := g.Len(), int((time.Minute+margin+30*time.Second)/(100*time.Millisecond)); n > max {
		t.Errorf("%d keys kept, want at most %d", n, max)
	}
}

func TestConcurrentClaimsOneFirst(t *testing.T) {
	t.Parallel()
	g := New(time.Minute)
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, v := g.Claim("same", t0, t0); v == First {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d firsts, want 1", n)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	if Key([]byte("ab"), []byte("c")) == Key([]byte("a"), []byte("bc")) {
		t.Error("Key does not separate its parts")
	}
	if Key([]byte("x")) != Key([]byte("x")) {
		t.Error("Key is not stable")
	}
}

// A replay gets the first answer again (status, type and body), or 409
// while there is none; never a wait.
func TestRecorderAndReplayed(t *testing.T) {
	t.Parallel()
	g := New(time.Minute)
	tk, _ := g.Claim("k", t0, t0)
	again, _ := g.Claim("k", t0, t0)

	w := httptest.NewRecorder()
	again.Replayed(w)
	if w.Code != http.StatusConflict {
		t.Errorf("replay while the first is in flight: %d, want 409", w.Code)
	}

	first := httptest.NewRecorder()
	rec := NewRecorder(first)
	rec.Header().Set("Content-Type", "text/plain")
	rec.WriteHeader(http.StatusAccepted)
	rec.Write([]byte("challenge-123"))
	a, whole := rec.Answer()
	if !whole || a.Status != http.StatusAccepted || string(a.Body) != "challenge-123" || first.Body.String() != "challenge-123" {
		t.Fatalf("recorded %+v %v; passed on %q", a, whole, first.Body)
	}
	tk.Done(a)
	w = httptest.NewRecorder()
	again.Replayed(w)
	if w.Code != http.StatusAccepted || w.Body.String() != "challenge-123" || w.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("replay answered %d %q %q", w.Code, w.Body, w.Header().Get("Content-Type"))
	}

	big := NewRecorder(httptest.NewRecorder())
	big.Write(make([]byte, maxAnswer+1))
	if _, whole := big.Answer(); whole {
		t.Error("an answer over maxAnswer was kept whole")
	}
	if a, _ := NewRecorder(httptest.NewRecorder()).Answer(); a.Status != http.StatusOK {
		t.Errorf("nothing written: status %d, want 200", a.Status)
	}
}
