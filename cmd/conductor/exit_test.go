package main

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	plain := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		code int
		text string
	}{
		{"nil", nil, 0, ""},
		{"plain error", plain, 1, "boom"},
		{"invalid input", fmt.Errorf("config: %w", errInvalid), 2, "config: invalid input"},
		{"exit error", &exitError{code: 3, err: plain}, 3, "boom"},
		{"quiet exit error", &exitError{code: 2, err: plain, quiet: true}, 2, ""},
		{"wrapped exit error", fmt.Errorf("run: %w", &exitError{code: 2, err: plain, quiet: true}), 2, ""},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("%s: exitCode = %d, want %d", tc.name, got, tc.code)
		}
		if got := errorText(tc.err); got != tc.text {
			t.Errorf("%s: errorText = %q, want %q", tc.name, got, tc.text)
		}
	}
}
