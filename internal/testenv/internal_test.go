package testenv

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

type stop struct{}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = true; panic(stop{}) }
func (r *recorder) Fatal(args ...any) { r.failed = true; panic(stop{}) }

func callSkipOrFatal(r *recorder) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stop); !ok {
				panic(v)
			}
		}
	}()
	SkipOrFatal(r, "no broker")
}

func TestSkipOrFatal(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		wantFailed bool
	}{
		{"", false},
		{"false", false},
		{"0", false},
		{"true", true},
		{"1", true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		callSkipOrFatal(r)
		if r.failed != tc.wantFailed || r.skipped == tc.wantFailed {
			t.Errorf("CI=%q: failed=%v skipped=%v, want failed=%v", tc.ci, r.failed, r.skipped, tc.wantFailed)
		}
	}
}

func TestDBSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "test",
		"auth":                   "auth",
		"TestX/sub_case-1":       "TestX_sub_case-1",
		"a.b c$d":                "a_b_c_d",
		strings.Repeat("x", 100): strings.Repeat("x", 54),
	} {
		if got := dbSafe(in); got != want {
			t.Errorf("dbSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
