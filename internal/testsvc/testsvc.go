// Package testsvc gives tests the real Redis and PostgreSQL servers they
// run against: the machine's (Redis at 127.0.0.1:6379, PostgreSQL at
// 127.0.0.1:5432, database test, trust auth) when they answer, else
// private ones started from the installed binaries. Nothing is mocked.
// When neither can be had a test is skipped, or fails when CI is set.
//
// Private servers are children of the test process, killed with it
// (Pdeathsig on Linux) or by Stop.
package testsvc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Unavailable skips t, or fails it when CI is set: CI must run every test.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the test must run)", msg)
	}
	t.Skip(msg)
}

// Name returns a fresh name for one test's keys or schema: letters,
// digits and underscores.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// answers reports whether something accepts connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func pgAnswers(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	defer c.Close(ctx)
	return c.Ping(ctx) == nil
}

func redisAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// freePort returns a TCP port on 127.0.0.1 nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	sharedMu    sync.Mutex
	sharedRedis string
	sharedPG    string
)

// RedisURL returns the URL of a Redis server for t: the machine's, or a
// private one started once for the test binary.
func RedisURL(t testing.TB) string {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedRedis != "" {
		return sharedRedis
	}
	if redisAnswers("127.0.0.1:6379") {
		sharedRedis = "redis://127.0.0.1:6379/0"
		return sharedRedis
	}
	r := startRedis(t, false)
	sharedRedis = r.URL
	return sharedRedis
}

// Server is a private server a test started: it can be stopped and
// started again on the same port (outage tests).
type Server struct {
	URL   string
	t     testing.TB
	mu    sync.Mutex
	cmd   *exec.Cmd
	start func() (*exec.Cmd, error)
	ready func() bool
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Start starts the server again after Stop and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd, err := s.start()
	if err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for !s.ready() {
		if time.Now().After(deadline) {
			s.t.Fatalf("server at %s did not answer within 30s", s.URL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartRedis starts a private redis-server for t, stopped when t ends.
func StartRedis(t testing.TB) *Server { return startRedis(t, true) }

func startRedis(t testing.TB, cleanup bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "no Redis answers at 127.0.0.1:6379 and redis-server is not installed")
	}
	port := freePort(t)
	dir, err := os.MkdirTemp("", "conductor-redis-")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{URL: "redis://" + addr + "/0", t: t, ready: func() bool { return redisAnswers(addr) }}
	s.start = func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		setDeathSignal(cmd)
		return cmd, cmd.Start()
	}
	s.Start()
	if cleanup {
		t.Cleanup(func() { s.Stop(); os.RemoveAll(dir) })
	}
	return s
}

// PostgresURL returns the URL of a PostgreSQL database for t: the
// machine's database test, or one in a private server started once for
// the test binary. Tests keep apart by schema (Name).
func PostgresURL(t testing.TB) string {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedPG != "" {
		return sharedPG
	}
	if answers("127.0.0.1:5432") {
		sharedPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		return sharedPG
	}
	s := startPostgres(t, false)
	sharedPG = s.URL
	return sharedPG
}

// StartPostgres starts a private PostgreSQL server for t (its database
// test, trust auth), stopped when t ends.
func StartPostgres(t testing.TB) *Server { return startPostgres(t, true) }

// pgBin finds the directory of PostgreSQL's server binaries (postgres,
// initdb), the newest installed version first.
func pgBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (postgres, initdb) found")
}

func startPostgres(t testing.TB, cleanup bool) *Server {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		Unavailable(t, "no PostgreSQL answers at 127.0.0.1:5432 and %v", err)
	}
	dir, err := os.MkdirTemp("", "conductor-pg-")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	asUser := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		if os.Geteuid() == 0 {
			if err := runAs(cmd, "postgres"); err != nil {
				Unavailable(t, "PostgreSQL will not run as root and there is no postgres user: %v", err)
			}
		}
		return cmd
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			Unavailable(t, "cannot give %s to the postgres user: %v %s", dir, err, out)
		}
	}
	if out, err := asUser(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		Unavailable(t, "initdb failed: %v\n%s", err, out)
	}
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{URL: "postgres://postgres@" + addr + "/test?sslmode=disable", t: t}
	// Ready once it takes commands, not only connections (a restarted
	// server refuses them while it recovers).
	s.ready = func() bool { return pgAnswers("postgres://postgres@" + addr + "/postgres?sslmode=disable") }
	created := false
	s.start = func() (*exec.Cmd, error) {
		cmd := asUser(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir, "-h", "127.0.0.1", "-c", "fsync=off")
		setDeathSignal(cmd)
		return cmd, cmd.Start()
	}
	s.Start()
	if !created {
		// The server accepts connections a little before it accepts
		// commands: retry createdb briefly.
		var out []byte
		for i := 0; i < 50; i++ {
			out, err = asUser(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "test").CombinedOutput()
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			s.Stop()
			Unavailable(t, "createdb failed: %v\n%s", err, out)
		}
		created = true
	}
	if cleanup {
		t.Cleanup(func() { s.Stop(); os.RemoveAll(dir) })
	}
	return s
}

// Wait polls cond until it holds or the timeout passes.
func Wait(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// DropSchema drops a test's schema (and everything in it) when t ends.
func DropSchema(t testing.TB, url, schema string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
}
