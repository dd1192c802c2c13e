package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/conductor-go/conductor/config"
)

// Exit statuses of the conductor command.
const (
	exitOK      = 0
	exitFailure = 1 // a run or the server failed
	exitInvalid = 2 // invalid ensemble, configuration or usage: fix the input
)

// errInvalid is wrapped by errors for input the user must fix.
var errInvalid = errors.New("invalid input")

// exitError carries the exit status a command's failure should end the
// process with. When quiet, the command has already printed what went
// wrong (validate prints every problem), so main prints nothing more.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode maps an error returned by a command to the process's exit
// status: 0 for nil, the status an *exitError carries, 2 for errors
// wrapping errInvalid, 1 otherwise.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errInvalid):
		return exitInvalid
	}
	return exitFailure
}

// errorText is what main prints for err on stderr, or "" when the command
// has already reported it.
func errorText(err error) string {
	var ee *exitError
	if err == nil || (errors.As(err, &ee) && ee.quiet) {
		return ""
	}
	return fmt.Sprint(err)
}

// configProblem reports an error loading the config file. Positioned
// problems are printed as they are, "file:line:col: message" one per line
// (the form editors jump to, without a prefix in front of the file name);
// anything else is wrapped as invalid input. Either way the exit status is 2.
func configProblem(stderr io.Writer, err error) error {
	var one *config.Error
	if !errors.As(err, &one) {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	fmt.Fprintln(stderr, err)
	return &exitError{code: exitInvalid, quiet: true, err: err}
}
