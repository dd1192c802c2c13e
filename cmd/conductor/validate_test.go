package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodEnsemble = "name: ok\nflow:\n  - member: a\n    config: {provider: mock}\n"

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(goodEnsemble), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("name: bad\nflow:\n  - member: a\n    config: {provider: mock, tempreature: 1}\n  - member: a\n    config: {provider: mock}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("name: rules\nflow:\n  - member: a\n    config: {provider: anthropic, model: claude-opus-4-7, temperature: 0.2, prompt: hi}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  []string
		code  int
	}{
		{"good file", []string{good}, "", []string{good + ": ok"}, 0},
		{"quiet good file", []string{"-q", good}, "", nil, 0},
		{"bad file", []string{good, bad}, "", []string{
			good + ": ok",
			bad + `:4:30: unknown key "tempreature" in config (did you mean "temperature"?)`,
			bad + `:5:13: duplicate member name "a" (first at 3:13)`,
		}, 2},
		{"a value the model refuses", []string{rules}, "", []string{
			rules + `:4:72: temperature: 0.2 is not accepted by anthropic model claude-opus-4-7 (allowed: 1 only, or unset; models released after Claude Opus 4.6 fix sampling)`,
		}, 2},
		{"missing file", []string{missing}, "", []string{missing + ": cannot read the ensemble file: no such file or directory"}, 2},
		{"stdin", []string{"-"}, goodEnsemble, []string{"<stdin>: ok"}, 0},
		{"bad stdin", []string{"-"}, "flow: []\n", []string{
			`<stdin>:1:1: missing required key "name" (the ensemble's name)`,
			`<stdin>:1:7: flow: expected at least one member`,
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newValidateCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetIn(strings.NewReader(tc.stdin))
			cmd.SetArgs(tc.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit code %d, want %d (err %v)", got, tc.code, err)
			}
			if err != nil && (errorText(err) != "" || !errors.Is(err, errInvalid)) {
				t.Errorf("validate's error must be quiet and invalid: %q", errorText(err))
			}
			var got []string
			if s := strings.TrimRight(out.String(), "\n"); s != "" {
				got = strings.Split(s, "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// Every page example in the ensemble package's testdata validates.
func TestValidatePageExamples(t *testing.T) {
	files, _ := filepath.Glob("../../ensemble/testdata/page/*.yaml")
	more, _ := filepath.Glob("../../examples/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	var out bytes.Buffer
	if bad := validateFiles(&out, strings.NewReader(""), files, true); bad != 0 {
		t.Errorf("%d invalid:\n%s", bad, out.String())
	}
}

func TestValidateNeedsAFile(t *testing.T) {
	cmd := newValidateCmd()
	cmd.SetArgs(nil)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil {
		t.Error("validate without files succeeded")
	}
}
