package seen

import (
	"strconv"
	"testing"
)

func TestSetForgetsTheOldestFirst(t *testing.T) {
	s := New(3)
	for i := range 4 {
		if !s.Add(strconv.Itoa(i)) {
			t.Fatalf("%d was new", i)
		}
	}
	if s.Add("3") || s.Add("2") {
		t.Error("a recent id came in twice")
	}
	if !s.Add("0") {
		t.Error("the oldest id was not forgotten")
	}
	s.Forget("3")
	if !s.Add("3") {
		t.Error("a forgotten id stayed")
	}
}
