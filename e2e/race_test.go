//go:build race

package e2e

// raceEnabled builds the conductor binary with -race when the tests run
// with it, so the CLI's own code path is checked too.
const raceEnabled = true
