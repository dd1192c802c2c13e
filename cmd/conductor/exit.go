package main

import (
	"errors"
	"fmt"
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
