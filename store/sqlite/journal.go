package sqlite

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	conductor "github.com/conductor-go/conductor"
)

// The counters (rate windows, budgets, reservations, Once marks) are kept
// in memory and changed through a journal beside the SQLite file,
// PATH-counters. A SQLite write transaction costs 80–400 µs of CPU in the
// pure-Go SQLite; a request with limits and budgets needs three counter
// steps, so the journal replaces each with one appended record:
//
//   - A step takes the journal's file lock (flock), reads the records other
//     processes appended since its last step and applies them, decides on
//     the state that results, appends its own record (one pwrite) and
//     applies it, then unlocks. Every process applies every record in the
//     file's order, so all of them hold the same state, and a decision is
//     taken on the latest one: exact across processes, as the SQLite
//     transactions were.
//   - A record is in the operating system's page cache when the step
//     returns: it survives kill -9 of the process, as a SQLite commit in
//     WAL mode with synchronous=NORMAL does. Like such a commit it is not
//     synced to disk; after a power loss the journal keeps a prefix of its
//     records (each carries a CRC, and replay stops at the first that does
//     not check).
//   - A checkpoint writes the whole state into the SQLite tables (rate_fixed,
//     rate_events, budgets, reservations, once_keys, reservation_seqs) in
//     one synced transaction that also bumps the generation in meta, then
//     empties the journal and writes the new generation in its header.
//     Other processes see the new generation and reload the tables. It runs
//     when the journal passes journalLimit, at Prune and at Close.
//
// A record is [payload length u32][CRC-32C of payload u32][payload].

const (
	journalMagic  = "CNDJRNL1"
	headerSize    = 32 // magic, database id, generation, reserved
	frameHeader   = 8
	maxRecordSize = 16 << 20

	// journalLimit is the journal size past which a checkpoint runs in the
	// background: about 100,000 requests' records, a few tenths of a
	// second to replay at Open.
	journalLimit = 32 << 20
)

const (
	recCount   byte = 1 // settlements, then admitted takes
	recReserve byte = 2
	recOnce    byte = 3
	recPrune   byte = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is one process's handle on the counter journal.
type journal struct {
	f     *os.File
	path  string
	dbID  uint64 // the SQLite file's id (meta db_id): a journal of another file is not replayed
	gen   uint64 // the generation this process's state is at; 0: reload
	off   int64  // bytes of the journal applied
	limit int64
	rbuf  []byte
	wbuf  []byte
}

type header struct {
	dbID, gen uint64
}

func (j *journal) readHeader() (header, bool, error) {
	var b [headerSize]byte
	n, err := j.f.ReadAt(b[:], 0)
	if n < headerSize {
		if err == nil || errors.Is(err, io.EOF) {
			return header{}, false, nil
		}
		return header{}, false, err
	}
	if string(b[:8]) != journalMagic {
		return header{}, false, nil
	}
	return header{dbID: binary.LittleEndian.Uint64(b[8:]), gen: binary.LittleEndian.Uint64(b[16:])}, true, nil
}

// reset empties the journal and starts generation gen.
func (j *journal) reset(gen uint64) error {
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	var b [headerSize]byte
	copy(b[:], journalMagic)
	binary.LittleEndian.PutUint64(b[8:], j.dbID)
	binary.LittleEndian.PutUint64(b[16:], gen)
	if _, err := j.f.WriteAt(b[:], 0); err != nil {
		return err
	}
	return j.f.Sync()
}

// withCounters runs fn holding the journal's lock, on the latest state.
func (s *Store) withCounters(ctx context.Context, what string, fn func() error) error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.j == nil {
		return fmt.Errorf("sqlite store: %s: store closed", what)
	}
	if err := lockFile(s.j.f); err != nil {
		return fmt.Errorf("sqlite store: %s: lock %s: %w", what, s.j.path, err)
	}
	defer unlockFile(s.j.f)
	if err := s.syncLocked(ctx); err != nil {
		return fmt.Errorf("sqlite store: %s: %w", what, err)
	}
	return fn()
}

// syncLocked brings the state up to the journal's end: the records other
// processes appended, or the tables when another process checkpointed.
func (s *Store) syncLocked(ctx context.Context) error {
	h, ok, err := s.j.readHeader()
	if err != nil {
		return fmt.Errorf("read %s: %w", s.j.path, err)
	}
	if !ok || h.dbID != s.j.dbID || h.gen != s.j.gen {
		return s.recoverLocked(ctx)
	}
	return s.replayLocked()
}

// recoverLocked loads the state from the tables and replays the journal
// on top of them, first making the journal agree with the tables: a
// journal whose records the last checkpoint already holds (a checkpoint
// that stopped before emptying it) is emptied, and one that belongs to
// another file is set aside with a warning.
func (s *Store) recoverLocked(ctx context.Context) error {
	var dbID, gen int64
	if err := s.rd.QueryRowContext(ctx, `SELECT
	(SELECT v FROM meta WHERE k = 'db_id'), (SELECT v FROM meta WHERE k = 'counters_gen')`).Scan(&dbID, &gen); err != nil {
		return fmt.Errorf("read counter generation: %w", err)
	}
	s.j.dbID = uint64(dbID)
	h, ok, err := s.j.readHeader()
	if err != nil {
		return fmt.Errorf("read %s: %w", s.j.path, err)
	}
	switch {
	case ok && h.dbID == uint64(dbID) && h.gen == uint64(gen):
	case ok && h.dbID == uint64(dbID) && h.gen+1 == uint64(gen):
		// Already checkpointed.
		if err := s.j.reset(uint64(gen)); err != nil {
			return fmt.Errorf("reset %s: %w", s.j.path, err)
		}
	default:
		if ok {
			s.log.Warn("sqlite store: counter journal does not belong to this database file; starting it again",
				"journal", s.j.path, "journal_generation", h.gen, "database_generation", gen)
		}
		if err := s.j.reset(uint64(gen)); err != nil {
			return fmt.Errorf("reset %s: %w", s.j.path, err)
		}
	}
	c, err := s.loadCounters(ctx)
	if err != nil {
		return err
	}
	s.c = c
	s.j.gen = uint64(gen)
	s.j.off = headerSize
	return s.replayLocked()
}

// replayLocked applies the records past s.j.off. A record cut short or
// failing its CRC can only be left by a process that died writing it (a
// writer holds the lock while it writes): the journal is cut there.
func (s *Store) replayLocked() error {
	j := s.j
	if cap(j.rbuf) < 4096 {
		j.rbuf = make([]byte, 4096)
	}
	buf := j.rbuf[:0]
	pos := j.off // file offset of buf[0]
	eof := false
	for {
		// Parse the whole frames in buf.
		for len(buf) >= frameHeader {
			size := int64(binary.LittleEndian.Uint32(buf))
			if size > maxRecordSize {
				return s.cutLocked(pos, "record too large")
			}
			if int64(len(buf)) < frameHeader+size {
				break
			}
			payload := buf[frameHeader : frameHeader+size]
			if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
				return s.cutLocked(pos, "CRC mismatch")
			}
			if err := s.c.apply(payload); err != nil {
				return s.cutLocked(pos, err.Error())
			}
			pos += frameHeader + size
			j.off = pos
			buf = buf[frameHeader+size:]
		}
		if eof {
			if len(buf) > 0 {
				return s.cutLocked(pos, "record cut short")
			}
			return nil
		}
		// Read more after what is left.
		if len(buf) > 0 {
			copy(j.rbuf, buf)
		}
		have := len(buf)
		if have == cap(j.rbuf) {
			j.rbuf = append(j.rbuf[:cap(j.rbuf)], make([]byte, cap(j.rbuf))...)
		}
		buf = j.rbuf[:cap(j.rbuf)]
		n, err := j.f.ReadAt(buf[have:], pos+int64(have))
		buf = buf[:have+n]
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("read %s: %w", j.path, err)
			}
			eof = true
		}
	}
}

func (s *Store) cutLocked(at int64, why string) error {
	s.log.Warn("sqlite store: counter journal ends in a broken record (a process died writing it); cutting it there",
		"journal", s.j.path, "offset", at, "reason", why)
	if err := s.j.f.Truncate(at); err != nil {
		return fmt.Errorf("cut %s: %w", s.j.path, err)
	}
	s.j.off = at
	return nil
}

// appendLocked writes the record being built in s.j.wbuf (after its frame
// header) and applies it. The state changes only once the record is in the
// file.
func (s *Store) appendLocked() error {
	j := s.j
	rec := j.wbuf
	payload := rec[frameHeader:]
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(payload, crcTable))
	if _, err := j.f.WriteAt(rec, j.off); err != nil {
		// Nothing half-written may stay for a later record to follow.
		_ = j.f.Truncate(j.off)
		return fmt.Errorf("write %s: %w", j.path, err)
	}
	j.off += int64(len(rec))
	if err := s.c.apply(payload); err != nil {
		// Our own record: a bug, not a torn write.
		j.gen = 0 // reload before the next step
		return err
	}
	if j.off > j.limit {
		select {
		case s.ckpt <- struct{}{}:
		default:
		}
	}
	return nil
}

// record starts a new record of type typ in s.j.wbuf.
func (s *Store) record(typ byte) *enc {
	s.j.wbuf = append(s.j.wbuf[:0], 0, 0, 0, 0, 0, 0, 0, 0, typ)
	return (*enc)(&s.j.wbuf)
}

type enc []byte

func (e *enc) int(v int64)    { *e = binary.AppendVarint(*e, v) }
func (e *enc) uint(v uint64)  { *e = binary.AppendUvarint(*e, v) }
func (e *enc) byte(v byte)    { *e = append(*e, v) }
func (e *enc) str(v string)   { e.uint(uint64(len(v))); *e = append(*e, v...) }
func (e *enc) take(t takeRec) { e.str(t.key); e.byte(t.kind); e.int(t.window); e.int(t.n) }

// takeRec is an admitted take as a record holds it.
type takeRec struct {
	key    string
	kind   byte // 0 fixed, 1 sliding
	window int64
	n      int64
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

// count is a length that must fit in what is left of the record.
func (d *dec) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errors.New("malformed counter record")
	}
	d.b = nil
}

// apply decodes a record and applies it. A malformed record changes
// nothing: it is decoded whole before it is applied.
func (c *counters) apply(payload []byte) error {
	d := &dec{b: payload}
	switch typ := d.byte(); typ {
	case recCount:
		now := d.int()
		type settle struct {
			id     string
			actual int64
		}
		ss := make([]settle, d.count())
		for i := range ss {
			ss[i] = settle{d.str(), d.int()}
		}
		ts := make([]takeRec, d.count())
		for i := range ts {
			ts[i] = takeRec{key: d.str(), kind: d.byte(), window: d.int(), n: d.int()}
			if ts[i].window <= 0 {
				d.fail()
			}
		}
		if d.err != nil {
			return d.err
		}
		for _, st := range ss {
			c.applySettle(st.id, st.actual)
		}
		for _, t := range ts {
			c.applyTake(t.key, t.kind == 1, t.window, t.n, now)
		}
	case recReserve:
		prefix, seq := d.uint(), d.uint()
		amount, expires := d.int(), d.int()
		bs := make([]conductor.Budget, d.count())
		for i := range bs {
			bs[i] = conductor.Budget{Key: d.str(), Limit: d.int(), Resets: fromNanos(d.int())}
		}
		if d.err != nil {
			return d.err
		}
		c.applyReserve(formatID(prefix, seq), prefix, seq, amount, expires, bs)
	case recOnce:
		key, expires := d.str(), d.int()
		if d.err != nil {
			return d.err
		}
		c.once[key] = expires
	case recPrune:
		now := d.int()
		if d.err != nil {
			return d.err
		}
		c.prune(now)
	default:
		return fmt.Errorf("unknown counter record type %d", typ)
	}
	return nil
}

// checkpointLocked writes the state into the tables and empties the
// journal. The transaction is synced (synchronous=FULL) before the journal
// is emptied: after a power loss the tables hold at least what the journal
// held.
func (s *Store) checkpointLocked(ctx context.Context) error {
	next := s.j.gen + 1
	if _, err := s.wr.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		return fmt.Errorf("sqlite store: checkpoint counters: %w", err)
	}
	err := s.writeTx(ctx, "checkpoint counters", func(tx wtx) error { return s.saveCounters(tx, next) })
	if _, perr := s.wr.ExecContext(context.Background(), `PRAGMA synchronous = NORMAL`); perr != nil && err == nil {
		err = fmt.Errorf("sqlite store: checkpoint counters: %w", perr)
	}
	if err != nil {
		return err
	}
	// The tables are at the next generation: whatever happens now, the
	// journal's records must not be applied on top of them again.
	s.j.gen = 0
	if err := s.j.reset(next); err != nil {
		return fmt.Errorf("sqlite store: checkpoint counters: reset %s: %w", s.j.path, err)
	}
	s.j.gen, s.j.off = next, headerSize
	return nil
}

// checkpoint runs a checkpoint when the journal holds more than min bytes
// of records.
func (s *Store) checkpoint(ctx context.Context, min int64) error {
	return s.withCounters(ctx, "checkpoint counters", func() error {
		if s.j.off-headerSize <= min {
			return nil
		}
		return s.checkpointLocked(ctx)
	})
}

func (s *Store) checkpointLoop() {
	defer s.bg.Done()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-s.ckpt:
			if err := s.checkpoint(context.Background(), s.j.limit); err != nil {
				s.log.Warn("sqlite store: counter checkpoint failed; the journal keeps growing", "err", err)
			}
		}
	}
}

func (s *Store) saveCounters(tx wtx, gen uint64) error {
	for _, table := range []string{"rate_fixed", "rate_events", "budgets", "reservations", "once_keys", "reservation_seqs"} {
		if _, err := tx.exec(`DELETE FROM ` + table); err != nil {
			return fmt.Errorf("sqlite store: checkpoint counters: clear %s: %w", table, err)
		}
	}
	insert := func(q string, rows func(exec func(args ...any) error) error) error {
		st, err := tx.tx.PrepareContext(tx.ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		return rows(func(args ...any) error {
			_, err := st.ExecContext(tx.ctx, args...)
			return err
		})
	}
	c := s.c
	err := errors.Join(
		insert(`INSERT INTO rate_fixed (key, start, count, expires_at) VALUES (?, ?, ?, ?)`, func(exec func(...any) error) error {
			for k, wins := range c.fixed {
				for _, w := range wins {
					if err := exec(k, w.start, w.count, w.end); err != nil {
						return err
					}
				}
			}
			return nil
		}),
		insert(`INSERT INTO rate_events (key, at, n, expires_at) VALUES (?, ?, ?, ?)`, func(exec func(...any) error) error {
			for k, evs := range c.events {
				for _, e := range evs {
					if err := exec(k, e.at, e.n, e.expires); err != nil {
						return err
					}
				}
			}
			return nil
		}),
		insert(`INSERT INTO budgets (key, spent, lim, resets) VALUES (?, ?, ?, ?)`, func(exec func(...any) error) error {
			for k, b := range c.budgets {
				if err := exec(k, b.spent, b.lim, b.resets); err != nil {
					return err
				}
			}
			return nil
		}),
		insert(`INSERT INTO reservations (id, keys, amount, created_at, expires_at) VALUES (?, ?, ?, 0, ?)`, func(exec func(...any) error) error {
			for id, r := range c.res {
				keys, err := json.Marshal(r.keys)
				if err != nil {
					return err
				}
				if err := exec(id, string(keys), r.amount, r.expires); err != nil {
					return err
				}
			}
			return nil
		}),
		insert(`INSERT INTO once_keys (key, expires_at) VALUES (?, ?)`, func(exec func(...any) error) error {
			for k, e := range c.once {
				if err := exec(k, e); err != nil {
					return err
				}
			}
			return nil
		}),
		insert(`INSERT INTO reservation_seqs (prefix, seq) VALUES (?, ?)`, func(exec func(...any) error) error {
			for p, q := range c.seqs {
				if err := exec(int64(p), int64(q)); err != nil {
					return err
				}
			}
			return nil
		}),
	)
	if err != nil {
		return fmt.Errorf("sqlite store: checkpoint counters: %w", err)
	}
	if _, err := tx.exec(`UPDATE meta SET v = ? WHERE k = 'counters_gen'`, int64(gen)); err != nil {
		return fmt.Errorf("sqlite store: checkpoint counters: %w", err)
	}
	return nil
}

// loadCounters reads the state the last checkpoint wrote.
func (s *Store) loadCounters(ctx context.Context) (*counters, error) {
	c := newCounters()
	load := func(q string, scan func(rows interface{ Scan(...any) error }) error) error {
		rows, err := s.rd.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := errors.Join(
		load(`SELECT key, start, count, expires_at FROM rate_fixed ORDER BY key, start`, func(r interface{ Scan(...any) error }) error {
			var (
				k string
				w fixedWin
			)
			if err := r.Scan(&k, &w.start, &w.count, &w.end); err != nil {
				return err
			}
			c.fixed[k] = append(c.fixed[k], w)
			return nil
		}),
		load(`SELECT key, at, n, expires_at FROM rate_events ORDER BY key, at`, func(r interface{ Scan(...any) error }) error {
			var (
				k string
				e event
			)
			if err := r.Scan(&k, &e.at, &e.n, &e.expires); err != nil {
				return err
			}
			c.events[k] = append(c.events[k], e)
			return nil
		}),
		load(`SELECT key, spent, lim, resets FROM budgets`, func(r interface{ Scan(...any) error }) error {
			var (
				k string
				b budgetState
			)
			if err := r.Scan(&k, &b.spent, &b.lim, &b.resets); err != nil {
				return err
			}
			c.budgets[k] = &b
			return nil
		}),
		// Settled reservations (kept by older versions) need no memory: an
		// id's sequence number says it was issued.
		load(`SELECT id, keys, amount, expires_at FROM reservations WHERE actual IS NULL`, func(r interface{ Scan(...any) error }) error {
			var (
				id, keys string
				v        resv
			)
			if err := r.Scan(&id, &keys, &v.amount, &v.expires); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(keys), &v.keys); err != nil {
				return fmt.Errorf("reservation %s: budget keys: %w", id, err)
			}
			c.res[id] = &v
			return nil
		}),
		load(`SELECT key, expires_at FROM once_keys`, func(r interface{ Scan(...any) error }) error {
			var (
				k string
				e int64
			)
			if err := r.Scan(&k, &e); err != nil {
				return err
			}
			c.once[k] = e
			return nil
		}),
		load(`SELECT prefix, seq FROM reservation_seqs`, func(r interface{ Scan(...any) error }) error {
			var p, q int64
			if err := r.Scan(&p, &q); err != nil {
				return err
			}
			c.seqs[uint64(p)] = uint64(q)
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("load counters: %w", err)
	}
	return c, nil
}

// openJournal opens (creating) the journal beside the file and loads the
// state.
func (s *Store) openJournal(ctx context.Context) error {
	path := s.path + "-counters"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	s.j = &journal{f: f, path: path, limit: s.journalLimit}
	err = s.withCounters(ctx, "open counters", func() error { return nil })
	if err != nil {
		f.Close()
		s.j = nil
		return err
	}
	return nil
}
