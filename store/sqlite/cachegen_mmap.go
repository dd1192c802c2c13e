//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// cacheGen is the cache generation: a uint64 at the start of a shared
// mapping of PATH-cachegen. Every process maps the same page of the page
// cache, so a load sees another process's increment at once and costs no
// system call.
type cacheGen struct {
	f *os.File
	m []byte
}

const cacheGenSize = 4096

func mapCacheGen(f *os.File) (*cacheGen, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < cacheGenSize {
		// Growing to the same size in two processes at once is harmless:
		// ftruncate to the current size changes nothing.
		if err := f.Truncate(cacheGenSize); err != nil {
			return nil, err
		}
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, cacheGenSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &cacheGen{f: f, m: m}, nil
}

func (g *cacheGen) word() *uint64 { return (*uint64)(unsafe.Pointer(&g.m[0])) }

func (g *cacheGen) load() uint64 { return atomic.LoadUint64(g.word()) }

func (g *cacheGen) bump() (uint64, error) { return atomic.AddUint64(g.word(), 1), nil }

func (g *cacheGen) close() error {
	err := syscall.Munmap(g.m)
	g.m = nil
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}
