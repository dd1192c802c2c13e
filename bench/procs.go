package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a process the harness started (or found) and measures.
type proc struct {
	name string
	cmd  *exec.Cmd
	// pids are measured together (nginx: the master and its workers).
	pids   []int
	stderr *bytes.Buffer
	done   chan error
}

// startPinned starts cmd with its CPU affinity set to cpus (none: not
// pinned). The child inherits the affinity of the thread that forks it, so
// the fork runs on a locked thread pinned first: the Go runtime in the
// child then sizes GOMAXPROCS to the cores it may use.
func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked and so ends with the goroutine: its
		// narrowed affinity never serves other goroutines.
		runtime.LockOSThread()
		var set unix.CPUSet
		for _, c := range cpus {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pinning to CPUs %v: %w", cpus, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// pinSelf pins the harness (the load driver) to cpus, every thread: the
// threads the runtime makes later inherit it.
func pinSelf(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("pinning the harness: %w", err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pinning the harness thread %d: %w", tid, err)
		}
	}
	return nil
}

func launch(ctx context.Context, name string, cpus []int, env []string, bin string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	p := &proc{name: name, cmd: cmd, stderr: new(bytes.Buffer), done: make(chan error, 1)}
	cmd.Stderr = &limitedWriter{w: p.stderr, n: 1 << 20}
	if err := startPinned(cmd, cpus); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p.pids = []int{cmd.Process.Pid}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// stop ends the process with SIGTERM and waits for it.
func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if l.n <= 0 {
		return len(b), nil
	}
	k := min(len(b), l.n)
	l.n -= k
	_, _ = l.w.Write(b[:k])
	return len(b), nil
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string, p *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p != nil {
			select {
			case err := <-p.done:
				p.done <- err
				return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, err, tail(p.stderr.String(), 2000))
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 at %s within 30 s", nameOf(p), url)
}

func nameOf(p *proc) string {
	if p == nil {
		return "target"
	}
	return p.name
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// cpuTime is the CPU time (user + system) of every thread of pid. It sums
// /proc/PID/task/*/schedstat (nanoseconds) and falls back to
// /proc/PID/stat (clock ticks) where schedstat is missing.
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err == nil {
		var total time.Duration
		ok := true
		for _, t := range tasks {
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // the thread ended between the two reads
				}
				ok = false
				break
			}
			f := strings.Fields(string(raw))
			if len(f) == 0 {
				ok = false
				break
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				ok = false
				break
			}
			total += time.Duration(ns)
		}
		if ok {
			return total, nil
		}
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of %d: %w", pid, err)
	}
	// Fields after the command name (which may hold spaces): utime is
	// field 14, stime 15, in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// memory is a process's resident set and its peak, from /proc/PID/status.
type memory struct{ rss, hwm int64 } // bytes

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("reading the memory of %d: %w", pid, err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		kb := func() int64 {
			fs := strings.Fields(line)
			if len(fs) < 2 {
				return 0
			}
			n, _ := strconv.ParseInt(fs[1], 10, 64)
			return n << 10
		}
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			m.rss = kb()
		case strings.HasPrefix(line, "VmHWM:"):
			m.hwm = kb()
		}
	}
	return m, sc.Err()
}

// children are the pids whose parent is pid (nginx's workers).
func children(pid int) []int {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, e := range ents {
		raw, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(raw[i+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
			out = append(out, n)
		}
	}
	return out
}

// usage sums the CPU time and memory of pids.
type usage struct {
	cpu time.Duration
	mem memory
}

func measure(pids []int) (usage, error) {
	var u usage
	for _, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return u, err
		}
		m, err := readMemory(pid)
		if err != nil {
			return u, err
		}
		u.cpu += c
		u.mem.rss += m.rss
		u.mem.hwm += m.hwm
	}
	return u, nil
}

// machineBusy is the CPU time every core of the machine spent busy, from
// the first line of /proc/stat (clock ticks of 10 ms).
func machineBusy() (time.Duration, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading /proc/stat: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, fmt.Errorf("reading /proc/stat: empty")
	}
	fs := strings.Fields(sc.Text())
	if len(fs) < 8 || fs[0] != "cpu" {
		return 0, fmt.Errorf("reading /proc/stat: unexpected first line %q", sc.Text())
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range fs[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

// onlineCPUs are the cores this process may run on.
func onlineCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var out []int
	for i := range 1024 {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}
