package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/ensemble"
)

// newSchemaCmd is "conductor schema": it prints the JSON Schema of the
// ensemble format, for editors and CI.
func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema (draft 2020-12) of ensemble files",
		Long: `Schema prints the JSON Schema of the ensemble format on stdout. Point an editor
at it for completion and checks as you type, e.g. with yaml-language-server:

  # yaml-language-server: $schema=./ensemble.schema.json

"conductor validate" checks more than the schema can (expressions, member
order, thresholds order); the schema is for editing.`,
		Example: "  conductor schema > ensemble.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := ensemble.Schema()
			if err != nil {
				return err
			}
			if _, err := cmd.OutOrStdout().Write(b); err != nil {
				return fmt.Errorf("write schema: %w", err)
			}
			return nil
		},
	}
}
