package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runOptions are the flags of `bench run`.
type runOptions struct {
	targets   []string
	scenarios []string
	quick     bool
	pprof     bool
	out       string
	rate      int
	conns     int
	duration  time.Duration
	warmup    time.Duration
	quiet     float64       // cores of other load a run may see
	quietWait time.Duration // longest wait for a quiet machine
	// quietBudget bounds the waits of the whole run, so that a machine
	// that is never quiet does not make the run last for ever.
	quietBudget time.Duration
	redo        int    // runs redone when disturbed
	model       string // the model URL targets are asked for
	fakeAddr    string
	// baseline is a conductor binary built elsewhere (an older commit),
	// measured as target "baseline" beside the one built from this tree.
	baseline string
}

func parseRun(args []string, stderr io.Writer) (runOptions, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := runOptions{}
	targets := fs.String("targets", "direct,conductor", "comma-separated: direct, conductor, nginx, baseline (with --baseline), or the base URL of an OpenAI-compatible gateway")
	scen := fs.String("scenario", "", "comma-separated scenarios (default all; with --quick the quick ones): "+strings.Join(scenarioNames(), ", "))
	fs.BoolVar(&o.quick, "quick", false, "the CI smoke run: the quick scenarios, short phases, no quiet wait")
	fs.BoolVar(&o.pprof, "pprof", false, "save conductor's CPU and allocation profiles of each scenario's closed loop in --out")
	fs.StringVar(&o.out, "out", "bench-out", "where --pprof writes profiles")
	fs.IntVar(&o.rate, "rate", 500, "the open loop's fixed rate, requests per second")
	fs.IntVar(&o.conns, "conns", 32, "the closed loop's connections")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "each phase's length")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "warm-up before a target's phases")
	fs.Float64Var(&o.quiet, "quiet", 0.15, "other processes' load (in cores) above which the machine is not quiet")
	fs.DurationVar(&o.quietWait, "quiet-wait", 10*time.Second, "longest wait for a quiet machine before each phase")
	fs.DurationVar(&o.quietBudget, "quiet-budget", time.Minute, "longest wait for a quiet machine over the whole run")
	fs.IntVar(&o.redo, "redo", 1, "times a disturbed phase is run again (the least disturbed run is kept)")
	fs.StringVar(&o.model, "model", "openai/"+benchModel, "the model asked of URL targets")
	fs.StringVar(&o.fakeAddr, "fake-addr", "127.0.0.1:0", "the fake upstream's address (fix it to point another gateway at it)")
	fs.StringVar(&o.baseline, "baseline", "", "a conductor binary (built from another commit) measured as target baseline, for before and after in one run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.targets = splitList(*targets)
	o.scenarios = splitList(*scen)
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = 500 * time.Millisecond
		}
		if !set["rate"] {
			o.rate = 200
		}
		if !set["warmup"] {
			o.warmup = 100 * time.Millisecond
		}
		if !set["quiet-wait"] {
			o.quietWait = 0
		}
		if !set["redo"] {
			o.redo = 0
		}
	}
	for _, t := range o.targets {
		switch {
		case t == "direct", t == "conductor", t == "nginx":
		case t == "baseline":
			if o.baseline == "" {
				return o, errors.New("--targets baseline: give the binary with --baseline PATH")
			}
		case strings.HasPrefix(t, "http://"), strings.HasPrefix(t, "https://"):
		default:
			return o, fmt.Errorf("--targets: unknown target %q (direct, conductor, nginx or a URL)", t)
		}
	}
	known := scenarioNames()
	for _, s := range o.scenarios {
		if !slices.Contains(known, s) {
			return o, fmt.Errorf("--scenario: unknown scenario %q (one of %s)", s, strings.Join(known, ", "))
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios() {
		out = append(out, s.name)
	}
	return out
}

// row is one line of the results table.
type row struct {
	scenario, target, load string
	res                    loadResult
	cpuPerReq              time.Duration // 0: not measured
	mem                    memory
	upstream, wantUp       int64
	upstreamOK             bool
	judged                 bool // the upstream count is checked
	other                  float64
	addedP99               time.Duration
	hasDirect              bool
}

// env is what a run has started: the fake, nginx, the built binary.
type env struct {
	o            runOptions
	dir          string
	conductorBin string
	fake         *proc
	fakeURL      string
	nginx        *proc
	nginxURL     string
	targetCPUs   []int
	sideCPUs     []int
	adminToken   string
	client       *http.Client
	log          io.Writer
	waited       time.Duration // spent waiting for a quiet machine
	commit       string        // the tree's commit when conductor was built
}

// startEnv builds and starts what a run of o needs in a new temporary
// directory named after prefix; close stops it and removes the directory.
func startEnv(ctx context.Context, o runOptions, log io.Writer, prefix string) (e *env, close func(), err error) {
	e = &env{o: o, log: log, client: &http.Client{Transport: newTransport(8), Timeout: 60 * time.Second}}
	if e.dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, nil, err
	}
	close = func() {
		e.stop()
		os.RemoveAll(e.dir)
	}
	if err := e.start(ctx); err != nil {
		close()
		return nil, nil, err
	}
	return e, close, nil
}

func runBench(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	e, closeEnv, err := startEnv(ctx, o, stderr, "conductor-bench-")
	if err != nil {
		return err
	}
	defer closeEnv()

	var rows []row
	firsts := map[string]time.Duration{}
	failed := false
	for _, s := range scenarios() {
		if len(o.scenarios) > 0 && !slices.Contains(o.scenarios, s.name) || len(o.scenarios) == 0 && o.quick && !s.quick {
			continue
		}
		if err := e.configureFake(ctx, s.fake); err != nil {
			return err
		}
		for _, t := range o.targets {
			if slices.Contains(s.skip, t) {
				continue
			}
			rs, first, err := e.runTarget(ctx, s, t)
			if err != nil {
				fmt.Fprintf(stderr, "%s / %s: %v\n", s.name, t, err)
				failed = true
				continue
			}
			if first > 0 && t == "conductor" {
				firsts[s.name] = first
			}
			rows = append(rows, rs...)
		}
	}
	addDirect(rows)
	writeTable(stdout, e.describe(), rows, firsts)
	for _, r := range rows {
		if r.res.errors > 0 || r.judged && !r.upstreamOK {
			failed = true
		}
	}
	if failed {
		return errors.New("errors or a wrong upstream count (see the table)")
	}
	return ctx.Err()
}

func (e *env) start(ctx context.Context) error {
	cpus := onlineCPUs()
	if len(cpus) >= 2 {
		e.targetCPUs, e.sideCPUs = cpus[len(cpus)-1:], cpus[:len(cpus)-1]
	}
	if slices.Contains(e.o.targets, "conductor") {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		e.conductorBin = filepath.Join(e.dir, "conductor")
		e.commit = gitCommit() // now: the run prints its table minutes later
		fmt.Fprintf(e.log, "building conductor (%s)\n", root)
		build := exec.CommandContext(ctx, "go", "build", "-o", e.conductorBin, "./cmd/conductor")
		build.Dir, build.Stdout, build.Stderr = root, e.log, e.log
		if err := build.Run(); err != nil {
			return fmt.Errorf("building conductor: %w", err)
		}
	}
	// The harness (the load driver) and the fake share the side cores;
	// each target gets the last core to itself.
	if err := pinSelf(e.sideCPUs); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fake, addr, err := startFake(ctx, self, e.o.fakeAddr, e.sideCPUs)
	if err != nil {
		return err
	}
	e.fake, e.fakeURL = fake, "http://"+addr
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	e.adminToken = hex.EncodeToString(tok)
	if slices.Contains(e.o.targets, "nginx") {
		if err := e.startNginx(ctx, addr); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) stop() {
	e.nginx.stop()
	e.fake.stop()
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the conductor module (go run ./bench run)")
	}
	return filepath.Dir(mod), nil
}

// startFake starts `bench fake` and reads the address it listens on.
func startFake(ctx context.Context, self, addr string, cpus []int) (*proc, string, error) {
	p, err := launch(ctx, "fake upstream", cpus, nil, self, "fake", "--addr", addr)
	if err != nil {
		return nil, "", err
	}
	// The fake writes its address to a file named after its pid.
	deadline := time.Now().Add(10 * time.Second)
	file := fakeAddrFile(p.pids[0])
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			_ = os.Remove(file)
			got := strings.TrimSpace(string(b))
			return p, got, waitReady(ctx, "http://"+got+"/_bench/count", p)
		}
		select {
		case err := <-p.done:
			return nil, "", fmt.Errorf("the fake upstream exited: %v\n%s", err, p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.stop()
	return nil, "", errors.New("the fake upstream did not start within 10 s")
}

func fakeAddrFile(pid int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("conductor-bench-fake-%d.addr", pid))
}

// serveFake is `bench fake`: the fake upstream as its own process, so that
// its CPU is its own.
func serveFake(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	faults := fs.Float64("fault-rate", 0, "share of requests answered with a fault")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("fake upstream: %w", err)
	}
	f := newFake()
	f.setConfig(fakeConfig{Chunks: 8, FaultRate: *faults})
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	tmp := fakeAddrFile(os.Getpid()) + ".tmp"
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, fakeAddrFile(os.Getpid())); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (e *env) configureFake(ctx context.Context, c fakeConfig) error {
	b, _ := json.Marshal(c)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.fakeURL+"/_bench/config", strings.NewReader(string(b)))
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("configuring the fake: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("configuring the fake: status %d", resp.StatusCode)
	}
	return nil
}

func (e *env) upstreamCount(ctx context.Context) (fakeCounts, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.fakeURL+"/_bench/count", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		return fakeCounts{}, fmt.Errorf("reading the upstream's count: %w", err)
	}
	defer resp.Body.Close()
	var c fakeCounts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("reading the upstream's count: %w", err)
	}
	return c, nil
}

const nginxConf = `worker_processes 1;
%s
daemon off;
master_process on;
pid %s/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path %s/body;
	proxy_temp_path %s/proxy;
	fastcgi_temp_path %s/fastcgi;
	uwsgi_temp_path %s/uwsgi;
	scgi_temp_path %s/scgi;
	client_max_body_size 32m;
	client_body_buffer_size 256k;
	keepalive_requests 1000000;
	upstream fake {
		server %s;
		keepalive 256;
	}
	server {
		listen 127.0.0.1:%d;
		location / {
			proxy_pass http://fake;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
`

func (e *env) startNginx(ctx context.Context, fakeAddr string) error {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return errors.New("--targets nginx: nginx is not installed (apt-get install -y nginx)")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	d := filepath.Join(e.dir, "nginx")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	_ = os.Chmod(e.dir, 0o755)
	affinity := ""
	if len(e.targetCPUs) > 0 {
		mask := []byte(strings.Repeat("0", e.targetCPUs[0]+1))
		mask[0] = '1' // the mask's leftmost digit is the highest CPU
		affinity = "worker_cpu_affinity " + string(mask) + ";"
	}
	if os.Geteuid() == 0 {
		affinity += "\nuser root;"
	}
	conf := filepath.Join(d, "nginx.conf")
	text := fmt.Sprintf(nginxConf, affinity, d, d, d, d, d, d, fakeAddr, port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	p, err := launch(ctx, "nginx", e.targetCPUs, nil, bin, "-p", d, "-c", conf)
	if err != nil {
		return err
	}
	e.nginx, e.nginxURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	// Any path answers: the fake's count is always there.
	if err := waitReady(ctx, e.nginxURL+"/_bench/count", p); err != nil {
		return err
	}
	p.pids = append([]int{p.cmd.Process.Pid}, children(p.cmd.Process.Pid)...)
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// conductorConfig is the generated conductor.toml of a scenario: one
// gateway, request logging as shipped (every request a row in the log).
func conductorConfig(s scenario) string {
	return "[[ai.gateway]]\nid = \"bench\"\n" + s.config
}

func (e *env) startConductor(ctx context.Context, s scenario, bin string, extraEnv ...string) (*proc, string, error) {
	d, err := os.MkdirTemp(e.dir, s.name+"-")
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(d, "conductor.toml")
	if err := os.WriteFile(cfg, []byte(conductorConfig(s)), 0o600); err != nil {
		return nil, "", err
	}
	ens := filepath.Join(d, "ensembles")
	if err := os.MkdirAll(ens, 0o755); err != nil {
		return nil, "", err
	}
	for name, text := range s.ensembles {
		if err := os.WriteFile(filepath.Join(ens, name), []byte(text), 0o644); err != nil {
			return nil, "", err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	envs := append([]string{
		"OPENAI_API_KEY=sk-bench", "OPENAI_BASE_URL=" + e.fakeURL + "/v1",
		"ANTHROPIC_API_KEY=sk-ant-bench", "ANTHROPIC_BASE_URL=" + e.fakeURL,
		"CONDUCTOR_ADMIN_TOKEN=" + e.adminToken, "ENVIRONMENT=bench",
	}, extraEnv...)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := launch(ctx, "conductor serve", e.targetCPUs, envs, bin,
		"serve", "--addr", addr, "--config", cfg, "--data", filepath.Join(d, "data"), "--ensembles", ens)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitReady(ctx, base+"/readyz", p); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}

// runTarget measures one target on one scenario: each phase, redone when
// the machine was disturbed. It returns conductor's first request's
// latency on a fresh store.
func (e *env) runTarget(ctx context.Context, s scenario, target string) ([]row, time.Duration, error) {
	var (
		c      call
		pids   []int
		first  time.Duration
		judged = true
		cached = false
		per    = int64(max(s.upstreamPer, 1))
		serve  *proc
	)
	switch target {
	case "direct", "nginx":
		if s.direct == nil {
			return nil, 0, nil
		}
		base := e.fakeURL
		pids = e.fake.pids
		per = 1
		if target == "nginx" {
			base, pids = e.nginxURL, e.nginx.pids
		}
		c = s.direct(base)
	case "conductor", "baseline":
		if s.gateway == nil {
			return nil, 0, nil
		}
		bin := e.conductorBin
		if target == "baseline" {
			bin = e.o.baseline
		}
		p, base, err := e.startConductor(ctx, s, bin)
		if err != nil {
			return nil, 0, err
		}
		serve = p
		defer p.stop()
		pids = p.pids
		c = s.gateway(base)
		cached = s.cached
		d, _, _, err := one(ctx, e.client, c)
		if err != nil {
			return nil, 0, fmt.Errorf("the first request: %w\n%s", err, tail(p.stderr.String(), 2000))
		}
		first = d
	default: // a gateway at a URL
		if s.gateway == nil || s.upstreamPer > 1 {
			return nil, 0, nil // ensembles are conductor's own endpoint
		}
		c = s.gateway(target)
		c.body = []byte(strings.Replace(string(c.body), `"openai/`+benchModel+`"`, strconv.Quote(e.o.model), 1))
		judged = !s.cached
	}
	if cached {
		if err := e.waitCacheHit(ctx, c); err != nil {
			return nil, 0, err
		}
	}
	fmt.Fprintf(e.log, "%s / %s\n", s.name, target)
	attack(ctx, c, phase{conns: 8, duration: e.o.warmup})
	phases := s.phases
	if len(phases) == 0 {
		phases = []phase{{rate: e.o.rate, duration: e.o.duration}, {conns: e.o.conns, duration: e.o.duration}}
	}
	var rows []row
	for _, ph := range phases {
		ph.ttfb = s.stream
		if ph.duration == 0 || e.o.quick {
			ph.duration = e.o.duration
		}
		var best *row
		for try := 0; try <= e.o.redo; try++ {
			e.waitQuiet(ctx, pids)
			var prof chan error
			if e.o.pprof && serve != nil && ph.rate == 0 {
				prof = e.profile(ctx, serve, s.name, ph.duration)
			}
			r, err := e.measure(ctx, c, ph, pids, per, cached)
			if prof != nil {
				if perr := <-prof; perr != nil {
					fmt.Fprintf(e.log, "profile: %v\n", perr)
				}
			}
			if err != nil {
				return rows, first, err
			}
			r.scenario, r.target, r.judged = s.name, target, judged
			if target != "direct" && target != "conductor" && target != "nginx" && target != "baseline" {
				r.cpuPerReq = 0
			}
			if best == nil || r.other < best.other {
				best = &r
			}
			if r.other <= e.o.quiet*2 || try == e.o.redo {
				break
			}
			fmt.Fprintf(e.log, "  %s: disturbed (%.2f cores of other load), again\n", ph, r.other)
		}
		rows = append(rows, *best)
	}
	return rows, first, nil
}

// waitCacheHit sends c until the answer is a cache hit: the first answer
// is written to the cache behind the request.
func (e *env) waitCacheHit(ctx context.Context, c call) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, resp, _, err := one(ctx, e.client, c)
		if err != nil {
			return err
		}
		if strings.EqualFold(resp.Header.Get("cf-aig-cache-status"), "HIT") {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("no cache hit within 5 s of the first request")
}

// measure runs one phase and reads the target's CPU, memory and the
// upstream's count around it.
func (e *env) measure(ctx context.Context, c call, ph phase, pids []int, per int64, cached bool) (row, error) {
	ours := e.ourPids(pids)
	up0, err := e.upstreamCount(ctx)
	if err != nil {
		return row{}, err
	}
	var u0, all0 usage
	if len(pids) > 0 {
		if u0, err = measure(pids); err != nil {
			return row{}, err
		}
	}
	all0, _ = measure(ours)
	busy0, _ := machineBusy()
	t0 := time.Now()
	res := attack(ctx, c, ph)
	elapsed := time.Since(t0)
	busy1, _ := machineBusy()
	all1, _ := measure(ours)
	r := row{load: ph.String(), res: res}
	if len(pids) > 0 {
		u1, err := measure(pids)
		if err != nil {
			return row{}, err
		}
		if res.requests > 0 {
			r.cpuPerReq = (u1.cpu - u0.cpu) / time.Duration(res.requests)
		}
		r.mem = u1.mem
	}
	up1, err := e.upstreamCount(ctx)
	if err != nil {
		return row{}, err
	}
	r.upstream = up1.Requests - up0.Requests
	r.wantUp = int64(res.requests) * per
	if cached {
		r.wantUp = 0
	}
	r.upstreamOK = r.upstream == r.wantUp
	r.other = max(0, (busy1-busy0-(all1.cpu-all0.cpu)).Seconds()/elapsed.Seconds())
	return r, nil
}

func (e *env) ourPids(target []int) []int {
	out := []int{os.Getpid()}
	out = append(out, e.fake.pids...)
	if e.nginx != nil {
		out = append(out, e.nginx.pids...)
	}
	for _, p := range target {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// waitQuiet waits until other processes use less than o.quiet cores over
// a second, at most o.quietWait.
func (e *env) waitQuiet(ctx context.Context, pids []int) {
	if e.o.quietWait <= 0 || e.waited >= e.o.quietBudget {
		return
	}
	began := time.Now()
	defer func() { e.waited += time.Since(began) }()
	deadline := time.Now().Add(min(e.o.quietWait, e.o.quietBudget-e.waited))
	ours := e.ourPids(pids)
	for {
		b0, _ := machineBusy()
		u0, _ := measure(ours)
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		b1, _ := machineBusy()
		u1, _ := measure(ours)
		other := (b1 - b0 - (u1.cpu - u0.cpu)).Seconds() / time.Since(t0).Seconds()
		if other <= e.o.quiet {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(e.log, "  the machine is not quiet (%.2f cores of other load); going on\n", other)
			return
		}
	}
}

// profile fetches serve's CPU profile over the phase, then its
// allocation profile, into o.out.
func (e *env) profile(ctx context.Context, serve *proc, name string, d time.Duration) chan error {
	done := make(chan error, 1)
	base := "http://" + serve.cmd.Args[3] // serve --addr ADDR
	go func() {
		done <- func() error {
			if err := os.MkdirAll(e.o.out, 0o755); err != nil {
				return err
			}
			secs := max(1, int(d.Seconds())-1)
			if err := e.fetch(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), filepath.Join(e.o.out, name+"-cpu.pprof")); err != nil {
				return err
			}
			return e.fetch(ctx, base+"/debug/pprof/allocs", filepath.Join(e.o.out, name+"-allocs.pprof"))
		}()
	}()
	return done
}

func (e *env) fetch(ctx context.Context, url, file string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("fetching %s: status %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if _, err := io.Copy(w, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(e.log, "  wrote %s\n", file)
	return f.Close()
}
