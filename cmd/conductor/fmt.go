package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/ensemble"
)

// newFmtCmd is "conductor fmt FILE...": it rewrites ensemble files into
// standard YAML, or with --check lists the files that need it.
func newFmtCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt FILE...",
		Short: "Rewrite ensemble files into standard YAML (--check: list the files that need it)",
		Long: `Fmt rewrites each ensemble file into standard YAML, the YAML editors,
yaml-language-server, js-yaml and ajv read: an unquoted ${...} value that
strict YAML would cut short (the product page's
  provider: ${input.id % 2 === 0 ? 'openai' : 'anthropic'}
where ": " is a mapping indicator) becomes a double-quoted string.
Comments, key order and everything else stay as written, and the file means
exactly what it meant ("conductor run" reads both forms the same).

With --check nothing is written: each file that would change is named on
stdout, for CI. "-" formats standard input to standard output.

Exit status: 0 when every file is (now) standard YAML; 1 with --check when
some file would change; 2 for a file that is not YAML or cannot be read.`,
		Example: "  conductor fmt examples/*.yaml\n  conductor fmt --check examples/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return formatFiles(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args, check)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; name the files that would change and exit 1 if any")
	return cmd
}

func formatFiles(stdin io.Reader, stdout, stderr io.Writer, files []string, check bool) error {
	changed, bad := 0, 0
	for _, f := range files {
		name := f
		var data []byte
		var err error
		if f == "-" {
			name = "<stdin>"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fmt.Fprintf(stderr, "%s: cannot read the ensemble file: %v\n", name, err)
			bad++
			continue
		}
		out, err := ensemble.Format(name, data)
		if err != nil {
			var list ensemble.List
			if errors.As(err, &list) {
				for _, p := range list {
					fmt.Fprintln(stderr, p.String())
				}
			} else {
				fmt.Fprintln(stderr, err)
			}
			bad++
			continue
		}
		switch {
		case f == "-":
			if check && !bytes.Equal(out, data) {
				fmt.Fprintln(stdout, name)
				changed++
			} else if !check {
				if _, err := stdout.Write(out); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
		case bytes.Equal(out, data):
		case check:
			fmt.Fprintln(stdout, f)
			changed++
		default:
			if err := writeAtomic(f, out); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", f, err)
				bad++
			}
		}
	}
	switch {
	case bad > 0:
		return &exitError{code: exitInvalid, quiet: true, err: fmt.Errorf("%d of %d files could not be formatted: %w", bad, len(files), errInvalid)}
	case changed > 0:
		return &exitError{code: exitFailure, quiet: true, err: fmt.Errorf("%d of %d files are not formatted", changed, len(files))}
	}
	return nil
}

// writeAtomic replaces path with data, keeping its permissions: a crash
// midway leaves the old file, never half of the new one.
func writeAtomic(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	defer os.Remove(tmp.Name()) // once renamed, there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
