package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/ensemble"
)

// newValidateCmd is "conductor validate FILE...": it loads each ensemble
// with every check a run makes, and prints "FILE: ok" or one
// "file:line:col: message" line per problem, on stdout so the report can
// be piped (grep, an editor's quickfix list). The exit status is 2 when
// any file has a problem.
func newValidateCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check ensemble files and report every problem as file:line:col: message",
		Long: `Validate loads each ensemble file as "conductor run" would, without calling
any model: YAML syntax, known keys, value types, providers, routing modes,
member names, and every ${...} expression. It prints "FILE: ok" for a good
file and one "file:line:col: message" line per problem, on stdout.
"-" reads an ensemble from standard input.

Exit status: 0 when every file is valid, 2 otherwise.`,
		Example: "  conductor validate examples/*.yaml\n  cat flow.yaml | conductor validate -",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := validateFiles(cmd.OutOrStdout(), cmd.InOrStdin(), args, quiet)
			if bad > 0 {
				return &exitError{code: exitInvalid, quiet: true,
					err: fmt.Errorf("%d of %d files invalid: %w", bad, len(args), errInvalid)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, `print only problems, not "FILE: ok" lines`)
	return cmd
}

// validateFiles reports on each file and returns how many are invalid.
func validateFiles(out io.Writer, stdin io.Reader, files []string, quiet bool) int {
	bad := 0
	for _, f := range files {
		var err error
		if f == "-" {
			var data []byte
			if data, err = io.ReadAll(stdin); err == nil {
				_, err = ensemble.Parse("<stdin>", data)
			}
			f = "<stdin>"
		} else {
			_, err = ensemble.Load(f)
		}
		var list ensemble.List
		switch {
		case err == nil:
			if !quiet {
				fmt.Fprintf(out, "%s: ok\n", f)
			}
			continue
		case errors.As(err, &list):
			for _, p := range list {
				fmt.Fprintln(out, p.String())
			}
		default:
			var fe *ensemble.FileError
			if errors.As(err, &fe) {
				fmt.Fprintln(out, err) // it names the file
			} else {
				fmt.Fprintf(out, "%s: %v\n", f, err)
			}
		}
		bad++
	}
	return bad
}
