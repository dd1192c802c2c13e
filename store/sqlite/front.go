package sqlite

import (
	"container/list"
	"fmt"
	"os"

	conductor "github.com/conductor-go/conductor"
)

// DefaultHotCacheBytes bounds the in-process front of hot cache entries
// when Open is given no WithHotCacheBytes.
const DefaultHotCacheBytes int64 = 8 << 20

// The front keeps the most recently read cache entries in memory, so that
// a hit on a hot entry costs no SQLite read (a WAL read transaction takes
// two shared-memory lock calls, plus the driver: ≈ 25 % of a whole hit).
//
// Other processes sharing the file may change the cache at any time, so
// the front is only as good as the cache generation beside the file,
// PATH-cachegen: a counter every change of the cache's content (put,
// eviction, purge, prune) increments after its commit, in whatever process
// it runs. A read loads the generation (one memory load of a shared
// mapping where the platform has one) and drops the whole front when it
// moved. An entry read from SQLite enters the front only under the
// generation loaded before that read, so a change committed in between
// (whose increment comes after its commit) keeps it out.
//
// When the increment is this process's own and no other came between, the
// front keeps its entries and applies the change itself (the key put, the
// scope purged, the entries expired), so a process alone on its file keeps
// its hot entries across misses.
type front struct {
	max, bytes int64
	gen        uint64     // the generation the entries are valid at
	cg         *cacheGen  // nil once closed
	ll         *list.List // of *frontEntry, most recent first
	m          map[string]*list.Element
}

type frontEntry struct {
	e                conductor.CacheEntry
	created, expires int64
	size             int64
}

// openCacheGen opens (creating) the cache generation file beside path.
func openCacheGen(path string) (*cacheGen, error) {
	name := path + "-cachegen"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", name, err)
	}
	g, err := mapCacheGen(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite store: map %s: %w", name, err)
	}
	return g, nil
}

func newFront(max int64, cg *cacheGen) *front {
	return &front{max: max, cg: cg, gen: cg.load(), ll: list.New(), m: make(map[string]*list.Element)}
}

// syncGen drops every entry when the generation moved since the front
// last looked; it returns the current generation. Called with s.frontMu held.
func (f *front) syncGen() uint64 {
	g := f.cg.load()
	if g != f.gen {
		f.clear()
		f.gen = g
	}
	return g
}

func (f *front) clear() {
	f.ll.Init()
	clear(f.m)
	f.bytes = 0
}

func (f *front) get(key string) (*frontEntry, bool) {
	el, ok := f.m[key]
	if !ok {
		return nil, false
	}
	f.ll.MoveToFront(el)
	return el.Value.(*frontEntry), true
}

// add keeps fe when the generation is still gen (the one loaded before
// fe was read from SQLite), evicting the least recently read entries past
// the bound.
func (f *front) add(gen uint64, fe *frontEntry) {
	if f.cg == nil || gen != f.gen || fe.size > f.max {
		return
	}
	f.remove(fe.e.Key)
	f.m[fe.e.Key] = f.ll.PushFront(fe)
	f.bytes += fe.size
	for f.bytes > f.max {
		f.removeElement(f.ll.Back())
	}
}

func (f *front) remove(key string) {
	if el, ok := f.m[key]; ok {
		f.removeElement(el)
	}
}

func (f *front) removeElement(el *list.Element) {
	fe := f.ll.Remove(el).(*frontEntry)
	delete(f.m, fe.e.Key)
	f.bytes -= fe.size
}

// removeIf drops the entries match selects.
func (f *front) removeIf(match func(*frontEntry) bool) {
	for el := f.ll.Front(); el != nil; {
		next := el.Next()
		if match(el.Value.(*frontEntry)) {
			f.removeElement(el)
		}
		el = next
	}
}

// changed increments the generation after this process committed a change
// to the cache, and applies the change (apply, nil to drop everything) to
// the front when no other process's change came between.
func (s *Store) changed(apply func(*front)) {
	s.frontMu.Lock()
	defer s.frontMu.Unlock()
	f := s.front
	if f.cg == nil {
		return
	}
	g, err := f.cg.bump()
	if err != nil {
		// The others cannot be told; the SQLite change stands. Dropping
		// this process's front keeps it right here.
		s.log.Warn("sqlite store: cache generation not incremented; other processes may serve entries this one changed until theirs moves", "err", err)
		f.clear()
		return
	}
	if g != f.gen+1 || apply == nil {
		f.clear()
	} else {
		apply(f)
	}
	f.gen = g
}

// closeFront stops the front; later reads go to SQLite (and fail there).
func (s *Store) closeFront() error {
	s.frontMu.Lock()
	defer s.frontMu.Unlock()
	f := s.front
	if f == nil || f.cg == nil {
		return nil
	}
	f.clear()
	err := f.cg.close()
	f.cg = nil
	return err
}
