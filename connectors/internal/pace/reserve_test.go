package pace

import (
	"context"
	"testing"
	"time"
)

// Ordinary callers leave the reserve; an urgent one still goes at once.
func TestReserveKeepsTokensForUrgentCalls(t *testing.T) {
	r := NewReserve(1, 5, 2) // one a second, five at most, two kept
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for k := range 3 {
		if err := r.Wait(ctx, false); err != nil {
			t.Fatalf("ordinary call %d: %v", k, err)
		}
	}
	if err := r.Wait(ctx, false); err == nil {
		t.Fatal("an ordinary call took a reserved token")
	}
	urgent, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	for k := range 2 {
		if err := r.Wait(urgent, true); err != nil {
			t.Fatalf("urgent call %d waited: %v", k, err)
		}
	}
}
