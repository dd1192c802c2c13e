//go:build !linux

package testsvc

import (
	"errors"
	"os/exec"
)

func setDeathSignal(*exec.Cmd) {}

func runAs(*exec.Cmd, string) error {
	return errors.New("running as another user is only done on Linux")
}
