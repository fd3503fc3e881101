package domain

// Small assertion helpers. The tests use the standard library only: the
// module's go.sum does not (yet) hold the dependencies testify needs.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func msgOf(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return fmt.Sprintf(f, args[1:]...) + ": "
	}
	return fmt.Sprint(args...) + ": "
}

// noErr stops the test on an error.
func noErr(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%sunexpected error: %v", msgOf(args), err)
	}
}

// isErr stops the test when err is nil.
func isErr(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("%sexpected an error", msgOf(args))
	}
}

// equal reports want != got (reflect.DeepEqual).
func equal(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%snot equal:\n want: %#v\n  got: %#v", msgOf(args), want, got)
	}
}

// mustEqual is equal that stops the test.
func mustEqual(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%snot equal:\n want: %#v\n  got: %#v", msgOf(args), want, got)
	}
}

func isTrue(t testing.TB, cond bool, args ...any) {
	t.Helper()
	if !cond {
		t.Errorf("%sexpected true", msgOf(args))
	}
}

func contains(t testing.TB, s, sub string, args ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s%q does not contain %q", msgOf(args), s, sub)
	}
}

func errEqual(t testing.TB, err error, want string, args ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("%sexpected error %q, got nil", msgOf(args), want)
		return
	}
	if err.Error() != want {
		t.Errorf("%serror:\n want: %s\n  got: %s", msgOf(args), want, err.Error())
	}
}

func errContains(t testing.TB, err error, sub string, args ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("%sexpected error containing %q, got nil", msgOf(args), sub)
		return
	}
	contains(t, err.Error(), sub, args...)
}

func jsonEq(t testing.TB, want, got string) {
	t.Helper()
	var a, b any
	noErr(t, json.Unmarshal([]byte(want), &a))
	noErr(t, json.Unmarshal([]byte(got), &b))
	equal(t, a, b)
}
