package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestLessGC: the embedded shop collects at GOGC=400 unless GOGC is set.
func TestLessGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "150")
	lessGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, lessGC changed the percentage to %d", got)
	}
	os.Unsetenv("GOGC") // t.Setenv restores it
	lessGC()
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("without GOGC, the percentage is %d, want 400", got)
	}
}
