//go:build windows

package sqlite

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes f's exclusive lock (LockFileEx on a byte far past the
// end, so that the lock, mandatory on Windows, stops no read or write of
// the records), shared with every process; Windows releases it when its
// holder dies.
func lockFile(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ol)
}

const lockOffsetHigh = 0x7fffffff

func unlockFile(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
