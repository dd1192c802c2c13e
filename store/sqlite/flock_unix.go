//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// lockFile takes f's exclusive lock, shared with every process (and every
// other open file description in this one). A flock is released by the
// kernel when its holder dies, so a killed process never leaves it held.
func lockFile(f *os.File) error {
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
