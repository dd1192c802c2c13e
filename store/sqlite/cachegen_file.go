//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
)

// cacheGen is the cache generation: a uint64 at the start of
// PATH-cachegen, read with one positioned read and incremented under the
// file's lock (this platform has no shared mapping here).
type cacheGen struct {
	f *os.File
}

func mapCacheGen(f *os.File) (*cacheGen, error) { return &cacheGen{f: f}, nil }

// load returns the generation; an unreadable file reads as a generation no
// front holds, so the front is dropped rather than trusted.
func (g *cacheGen) load() uint64 {
	v, err := g.read()
	if err != nil {
		return ^uint64(0)
	}
	return v
}

func (g *cacheGen) read() (uint64, error) {
	var b [8]byte
	if _, err := g.f.ReadAt(b[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (g *cacheGen) bump() (uint64, error) {
	if err := lockFile(g.f); err != nil {
		return 0, err
	}
	defer unlockFile(g.f)
	v, err := g.read()
	if err != nil {
		return 0, err
	}
	v++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if _, err := g.f.WriteAt(b[:], 0); err != nil {
		return 0, err
	}
	return v, nil
}

func (g *cacheGen) close() error { return g.f.Close() }
