package main

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzReadInput reads arbitrary --input values (through stdin, @-, so no
// file is opened): JSON is the input, anything else an error with the
// line and column of the fault — never a panic.
func FuzzReadInput(f *testing.F) {
	for _, s := range []string{`{"question":"Why?"}`, `"text"`, `text`, `[1,2`, "{\n\"a\":\n}", `1e999`, ``, "\xff"} {
		f.Add(s)
	}
	pos := regexp.MustCompile(`^<stdin>:(\d+:\d+: |\s)`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := readInput(s, strings.NewReader(""))
		if err != nil && v != nil {
			t.Fatalf("both a value and an error for %q", s)
		}
		if _, err := readInput("@-", strings.NewReader(s)); err != nil && !pos.MatchString(err.Error()) {
			t.Fatalf("stdin %q: an error without its place: %v", s, err)
		}
	})
}
