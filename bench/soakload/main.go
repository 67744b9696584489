// Command soakload is bench/soak.sh's load driver and observer.
//
// It runs, against one gatehouse, N virtual users that each loop: log in
// through gatehouse and the development OP as a browser does (package
// bench/internal/browser), send authenticated GETs with the CSRF header to a
// session route for a random while (long enough for the 30 s access tokens
// to be refreshed), and log out (POST /auth/logout, then the logoutUrl); and
// beside them a steady stream of public GETs. Every response from gatehouse
// is counted by status (a transport error as "ERR").
//
// Restart windows: SIGUSR1 opens one (the script is about to stop Redis or
// the upstream), SIGUSR2 closes it -grace later (the process is back; pools
// reconnect). A 5xx or transport error is "inside" when a window was open
// when its request started or ended, or one opened in between; otherwise
// "outside", and every one is written to -errlog with its time.
//
// Each -every (one minute) it prints a table row: gatehouse's RSS (VmRSS of
// -pid), its Go heap in use and heap objects, its goroutines (all three from
// its /metrics, which answers loopback by default), its open file descriptors, the requests so far and
// the unexpected non-2xx by status so far (the redirects of the login and
// logout flows are expected and left out). At the end it prints the totals
// and one PASS/FAIL line per criterion, and exits 1 when any failed:
//
//   - RSS, -settle after the load stopped, is within -rss-slack (a
//     fraction) of minute 1's;
//   - goroutines and open fds then are within -goroutine-slack and -fd-slack
//     (absolute) of minute 1's (the peaks in between are printed: a
//     restart's reconnection burst or CPU contention raises the concurrency,
//     hence the connections and goroutines, and that is not a leak);
//   - no 5xx and no transport error outside the restart windows.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/bench/internal/browser"
	"github.com/gatehouse-dev/gatehouse/internal/devop"
)

// options are the command's flags.
type options struct {
	gateway, pprof          string
	pid                     int
	duration, every, grace  time.Duration
	settle                  time.Duration
	users                   int
	userRPS, publicRPS      float64
	publicWorkers           int
	sessionMin, sessionMax  time.Duration
	csrf, user, password    string
	errlog                  string
	rssSlack                float64
	goroutineSlack, fdSlack int
}

func main() {
	var o options
	flag.StringVar(&o.gateway, "gateway", "http://127.0.0.1:8080", "gatehouse's base URL (its public_url)")
	flag.StringVar(&o.pprof, "pprof", "", "gatehouse's net/http/pprof base URL (bench/soakgw): the heap columns are then live, after a forced GC")
	flag.IntVar(&o.pid, "pid", 0, "gatehouse's process id, for RSS and open fds (required)")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to run the load")
	flag.DurationVar(&o.every, "every", time.Minute, "interval between table rows")
	flag.DurationVar(&o.grace, "grace", 5*time.Second, "a restart window closes this long after SIGUSR2")
	flag.DurationVar(&o.settle, "settle", 40*time.Second, "idle time after the load before the final sample")
	flag.IntVar(&o.users, "users", 20, "virtual users logging in, browsing and logging out")
	flag.Float64Var(&o.userRPS, "user-rps", 5, "authenticated GETs per second per logged-in user")
	flag.Float64Var(&o.publicRPS, "public-rps", 100, "public GETs per second, in all")
	flag.IntVar(&o.publicWorkers, "public-workers", 8, "goroutines sending the public GETs")
	flag.DurationVar(&o.sessionMin, "session-min", 25*time.Second, "shortest time a user stays logged in")
	flag.DurationVar(&o.sessionMax, "session-max", 65*time.Second, "longest time a user stays logged in")
	flag.StringVar(&o.csrf, "csrf-header", "X-CSRF", "gatehouse's session.csrf_header")
	flag.StringVar(&o.user, "user", devop.DefaultUser().Username, "the OP user's name")
	flag.StringVar(&o.password, "password", devop.DefaultUser().Password, "the OP user's password")
	flag.StringVar(&o.errlog, "errlog", "", "file for one line per failed or unexpected response (default: none)")
	flag.Float64Var(&o.rssSlack, "rss-slack", 0.15, "allowed RSS growth after minute 1, as a fraction of minute 1's")
	flag.IntVar(&o.goroutineSlack, "goroutine-slack", 25, "allowed goroutine growth after minute 1")
	flag.IntVar(&o.fdSlack, "fd-slack", 20, "allowed open-fd growth after minute 1")
	flag.Parse()
	if o.pid <= 0 || o.users < 0 || o.userRPS <= 0 || o.publicRPS < 0 || o.sessionMax < o.sessionMin ||
		o.every <= 0 || o.duration <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	d, err := newDriver(o)
	if err != nil {
		log.Fatalf("soakload: %v", err)
	}
	if !d.run() {
		os.Exit(1)
	}
}

// driver holds the load's shared state.
type driver struct {
	o       options
	gwHost  string
	start   time.Time
	tr      *http.Transport   // shared keep-alive transport
	rt      http.RoundTripper // counting, over tr
	plain   *http.Client      // uncounted: /metrics
	win     windows
	counts  counts
	logins  atomic.Int64
	logouts atomic.Int64
	relogin atomic.Int64 // sessions that got a 401 mid-way
	// loadTime is how long the load ran, set when it stopped.
	loadTime time.Duration

	errMu  sync.Mutex
	errOut *bufio.Writer
	errN   int
}

func newDriver(o options) (*driver, error) {
	u, err := url.Parse(o.gateway)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-gateway %q: want a base URL", o.gateway)
	}
	tr := &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 128,
		// Below gatehouse's 60 s idle_timeout: the client drops an idle
		// connection first, so that a POST never races the server's close.
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}
	d := &driver{
		o: o, gwHost: u.Host, start: time.Now(),
		plain:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		counts: counts{gw: map[string]int64{}, odd: map[string]int64{}, op: map[string]int64{}},
	}
	d.tr, d.rt = tr, &countingTransport{d: d, next: tr}
	if o.errlog != "" {
		f, err := os.Create(o.errlog)
		if err != nil {
			return nil, err
		}
		d.errOut = bufio.NewWriter(f)
	}
	return d, nil
}

// maxErrLines bounds -errlog.
const maxErrLines = 20000

// logf writes one line to -errlog, stamped with the time since the start.
func (d *driver) logf(format string, args ...any) {
	if d.errOut == nil {
		return
	}
	d.errMu.Lock()
	defer d.errMu.Unlock()
	if d.errN >= maxErrLines {
		return
	}
	d.errN++
	fmt.Fprintf(d.errOut, "%s "+format+"\n", append([]any{clock(time.Since(d.start))}, args...)...)
}

// clock formats an elapsed time as mm:ss.s.
func clock(t time.Duration) string {
	t = t.Round(100 * time.Millisecond)
	return fmt.Sprintf("%02d:%04.1f", int(t/time.Minute), (t % time.Minute).Seconds())
}

// windows tracks the restart windows the script announces.
type windows struct {
	open atomic.Int32 // windows open now
	gen  atomic.Int64 // windows opened so far

	mu   sync.Mutex
	list [][2]time.Duration // start, end (end 0 while open)
}

// snapshot is what a request remembers of the windows when it starts.
type snapshot struct {
	open bool
	gen  int64
}

func (w *windows) snapshot() snapshot { return snapshot{w.open.Load() > 0, w.gen.Load()} }

// inside reports whether a request that started at s and ends now overlapped
// a window.
func (w *windows) inside(s snapshot) bool {
	return s.open || w.open.Load() > 0 || w.gen.Load() != s.gen
}

// counts are the responses seen, by status.
type counts struct {
	mu  sync.Mutex
	gw  map[string]int64 // every gatehouse response, by status ("ERR": transport error)
	odd map[string]int64 // the unexpected non-2xx among them
	op  map[string]int64 // the OP's responses
	// 5xx and transport errors from gatehouse, outside and inside windows.
	failOutside, failInside int64
	total                   int64
}

// countingTransport counts every response; see driver.observe.
type countingTransport struct {
	d    *driver
	next http.RoundTripper
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	snap := t.d.win.snapshot()
	resp, err := t.next.RoundTrip(req)
	t.d.observe(req, resp, err, snap)
	return resp, err
}

// expectedRedirect reports the gatehouse paths whose answer is a redirect in
// the login and logout flows.
func expectedRedirect(path string) bool {
	switch path {
	case "/auth/login", "/auth/callback", "/auth/logout/continue":
		return true
	}
	return false
}

// observe counts one response (or transport error) and logs the unexpected.
func (d *driver) observe(req *http.Request, resp *http.Response, err error, snap snapshot) {
	status, code := "ERR", 0
	if err == nil {
		code = resp.StatusCode
		status = strconv.Itoa(code)
	}
	c := &d.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.URL.Host != d.gwHost {
		c.op[status]++
		if err != nil || code >= 500 {
			d.logf("OP %s %s: %s", req.Method, req.URL.Path, errText(status, err))
		}
		return
	}
	c.total++
	c.gw[status]++
	if code/100 == 2 || (code/100 == 3 && expectedRedirect(req.URL.Path)) {
		return
	}
	c.odd[status]++
	where := ""
	if err != nil || code >= 500 {
		if d.win.inside(snap) {
			c.failInside++
			where = "inside a restart window"
		} else {
			c.failOutside++
			where = "OUTSIDE the restart windows"
		}
	}
	d.logf("%s %s: %s %s", req.Method, req.URL.Path, errText(status, err), where)
}

func errText(status string, err error) string {
	if err != nil {
		return "ERR " + err.Error()
	}
	return status
}

// sample is one table row.
type sample struct {
	at         time.Duration
	rssKiB     int64
	heapMiB    float64 // go_memstats_heap_inuse_bytes
	objects    float64 // go_memstats_heap_objects
	goroutines int
	fds        int
	requests   int64
	odd        string
}

// run starts the load, prints a row each -every, stops after -duration and
// prints the summary; it reports whether every criterion passed.
func (d *driver) run() bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM)

	fmt.Printf("soakload: %d users × %.0f GET/s on %s/session/…, %.0f GET/s on %s/public/…, for %s\n",
		d.o.users, d.o.userRPS, d.o.gateway, d.o.publicRPS, d.o.gateway, d.o.duration)
	heap, objs := "heap_MiB", "objs_k"
	if d.o.pprof != "" {
		heap, objs = "live_MiB", "live_k" // after a forced GC
	}
	fmt.Printf("%5s %8s %9s %8s %10s %5s %9s %7s  %s\n", "min", "rss_MiB", heap, objs, "goroutines",
		"fds", "requests", "logins", "non-2xx so far (login/logout redirects excluded)")
	rows := []sample{d.sample()}
	d.printRow(rows[0])

	var wg sync.WaitGroup
	for i := range d.o.users {
		wg.Go(func() { d.user(ctx, i) })
	}
	lim := rate.NewLimiter(rate.Limit(d.o.publicRPS), 1)
	for i := range d.o.publicWorkers {
		wg.Go(func() { d.public(ctx, lim, i) })
	}

	end := time.NewTimer(d.o.duration)
	tick := time.NewTicker(d.o.every)
	defer tick.Stop()
	stopped := false
loop:
	for {
		select {
		case <-tick.C:
			s := d.sample()
			rows = append(rows, s)
			d.printRow(s)
		case <-end.C:
			break loop
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR1:
				d.openWindow()
			case syscall.SIGUSR2:
				d.closeWindow()
			default:
				stopped = true
				break loop
			}
		}
	}
	if last := rows[len(rows)-1]; time.Since(d.start)-last.at > time.Second {
		s := d.sample() // the end, off the minute marks
		rows = append(rows, s)
		d.printRow(s)
	}
	cancel()
	wg.Wait()
	d.loadTime = time.Since(d.start)
	if d.errOut != nil {
		d.errMu.Lock()
		_ = d.errOut.Flush()
		d.errMu.Unlock()
	}
	if stopped {
		fmt.Println("soakload: interrupted before -duration")
	}
	// Idle: the load's connections closed, gatehouse's worker goroutines and
	// upstream connections left to expire; what remains is what it keeps.
	d.tr.CloseIdleConnections()
	fmt.Printf("load stopped; after %s idle:\n", d.o.settle)
	time.Sleep(d.o.settle)
	idle := d.sample()
	d.printRowLabel("idle", idle)
	return d.summary(rows, idle)
}

func (d *driver) openWindow() {
	d.win.gen.Add(1)
	d.win.open.Add(1)
	at := time.Since(d.start)
	d.win.mu.Lock()
	d.win.list = append(d.win.list, [2]time.Duration{at, 0})
	d.win.mu.Unlock()
	d.logf("restart window opens")
}

// closeWindow closes the oldest open window -grace from now.
func (d *driver) closeWindow() {
	time.AfterFunc(d.o.grace, func() {
		at := time.Since(d.start)
		d.win.mu.Lock()
		for i := range d.win.list {
			if d.win.list[i][1] == 0 {
				d.win.list[i][1] = at
				break
			}
		}
		d.win.mu.Unlock()
		d.win.open.Add(-1)
		d.logf("restart window closes")
	})
}

// user is one virtual user's loop: log in, browse, log out.
func (d *driver) user(ctx context.Context, id int) {
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	// Spread the first logins over the first seconds.
	if !sleep(ctx, time.Duration(rnd.Int64N(int64(3*time.Second)))) {
		return
	}
	for ctx.Err() == nil {
		b := browser.New(d.o.gateway, d.rt, 10*time.Second)
		if _, err := b.Login(d.o.user, d.o.password); err != nil {
			d.logf("user %d: login failed: %v", id, err)
			sleep(ctx, time.Second)
			continue
		}
		d.logins.Add(1)
		life := d.o.sessionMin + time.Duration(rnd.Int64N(int64(d.o.sessionMax-d.o.sessionMin)+1))
		if !d.browse(ctx, b, rnd, life) {
			d.relogin.Add(1)
			continue // the session is gone: log in again
		}
		if ctx.Err() != nil {
			return
		}
		if err := b.Logout(d.o.csrf); err != nil {
			d.logf("user %d: logout failed: %v", id, err)
			continue
		}
		d.logouts.Add(1)
	}
}

// browse sends authenticated GETs at -user-rps for life; it reports false
// when the session ended under it (a 401).
func (d *driver) browse(ctx context.Context, b *browser.Browser, rnd *rand.Rand, life time.Duration) bool {
	tick := time.NewTicker(time.Duration(float64(time.Second) / d.o.userRPS))
	defer tick.Stop()
	done := time.After(life)
	for {
		select {
		case <-ctx.Done():
			return true
		case <-done:
			return true
		case <-tick.C:
		}
		req, err := http.NewRequest("GET", fmt.Sprintf("%s/session/users/%d", d.o.gateway, 1+rnd.IntN(50)), nil)
		if err != nil {
			panic(err) // the URL is ours
		}
		req.Header.Set(d.o.csrf, "1")
		resp, err := b.Client.Do(req)
		if err != nil {
			continue // counted
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return false
		}
	}
}

// public sends public GETs as lim allows, until ctx ends.
func (d *driver) public(ctx context.Context, lim *rate.Limiter, id int) {
	c := &http.Client{Transport: d.rt, Timeout: 10 * time.Second}
	rnd := rand.New(rand.NewPCG(uint64(1000+id), uint64(time.Now().UnixNano())))
	for lim.Wait(ctx) == nil {
		resp, err := c.Get(fmt.Sprintf("%s/public/items/%d", d.o.gateway, rnd.IntN(100)))
		if err != nil {
			continue // counted
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// sleep waits for t or ctx's end; it reports whether t passed.
func sleep(ctx context.Context, t time.Duration) bool {
	tm := time.NewTimer(t)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// sample measures gatehouse now.
func (d *driver) sample() sample {
	s := sample{at: time.Since(d.start), rssKiB: -1, heapMiB: -1, objects: -1, goroutines: -1, fds: -1}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.o.pid)); err == nil {
		for line := range strings.Lines(string(st)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				s.rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.o.pid)); err == nil {
		s.fds = len(fds)
	}
	m := d.metrics("go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_heap_objects")
	s.goroutines = int(m[0])
	if d.o.pprof != "" {
		m[1], m[2] = d.liveHeap()
	}
	if m[1] >= 0 {
		s.heapMiB = m[1] / (1 << 20)
	}
	s.objects = m[2]
	c := &d.counts
	c.mu.Lock()
	s.requests = c.total
	s.odd = formatCounts(c.odd)
	c.mu.Unlock()
	return s
}

// metrics scrapes the named gauges from gatehouse's /metrics; a value it
// could not read is -1.
func (d *driver) metrics(names ...string) []float64 {
	vals := make([]float64, len(names))
	for i := range vals {
		vals[i] = -1
	}
	resp, err := d.plain.Get(d.o.gateway + "/metrics")
	if err != nil {
		return vals
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if i := slices.Index(names, name); i >= 0 {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				vals[i] = f
			}
		}
	}
	return vals
}

// printRow prints s labelled with its minute (its -every, fractional off
// the marks).
// liveHeap reads the heap's bytes and objects after a forced GC from
// gatehouse's pprof (the runtime.MemStats lines of heap?gc=1&debug=1), or -1.
func (d *driver) liveHeap() (bytes, objects float64) {
	bytes, objects = -1, -1
	resp, err := d.plain.Get(d.o.pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			bytes, _ = strconv.ParseFloat(v, 64)
		} else if v, ok := strings.CutPrefix(sc.Text(), "# HeapObjects = "); ok {
			objects, _ = strconv.ParseFloat(v, 64)
		}
	}
	return
}

func (d *driver) printRow(s sample) {
	label := strconv.Itoa(int(s.at.Round(time.Second) / d.o.every))
	if s.at.Round(time.Second)%d.o.every != 0 {
		label = fmt.Sprintf("%.1f", s.at.Seconds()/d.o.every.Seconds())
	}
	d.printRowLabel(label, s)
}

func (d *driver) printRowLabel(label string, s sample) {
	fmt.Printf("%5s %8.1f %9.1f %8.0f %10d %5d %9d %7d  %s\n", label, float64(s.rssKiB)/1024, s.heapMiB,
		s.objects/1000, s.goroutines, s.fds, s.requests, d.logins.Load(), s.odd)
}

// formatCounts writes "401:3 502:12", in status order, or "-".
func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // "ERR" sorts after the numbers
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// summary prints the totals and the verdicts; it reports whether all passed.
func (d *driver) summary(rows []sample, idle sample) bool {
	c := &d.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Println()
	fmt.Printf("gatehouse responses: %d in %s (%.0f/s); by status: %s\n", c.total,
		d.loadTime.Round(time.Second), float64(c.total)/d.loadTime.Seconds(), formatCounts(c.gw))
	fmt.Printf("OP responses by status: %s\n", formatCounts(c.op))
	fmt.Printf("logins %d, logouts %d, sessions ended by a 401 mid-way %d\n",
		d.logins.Load(), d.logouts.Load(), d.relogin.Load())
	d.win.mu.Lock()
	var ws []string
	for _, w := range d.win.list {
		end := "open"
		if w[1] != 0 {
			end = clock(w[1])
		}
		ws = append(ws, clock(w[0])+"–"+end)
	}
	d.win.mu.Unlock()
	if len(ws) == 0 {
		ws = []string{"none"}
	}
	fmt.Printf("restart windows (mm:ss, each closing %s after the process was back): %s\n", d.o.grace,
		strings.Join(ws, ", "))
	fmt.Printf("5xx and transport errors: %d outside the restart windows, %d inside\n", c.failOutside, c.failInside)
	fmt.Println()

	ok := true
	verdict := func(pass bool, format string, args ...any) {
		word := "PASS"
		if !pass {
			word, ok = "FAIL", false
		}
		fmt.Printf("%s "+format+"\n", append([]any{word}, args...)...)
	}
	// rows[0] is the start, rows[1] minute 1. Growth is judged on the idle
	// sample after the load: a leak (goroutines, connections, live memory
	// that never go) stays there, while what the load's momentary
	// concurrency holds (worker goroutines, keep-alive connections, pooled
	// Redis connections after a restart's burst, CPU contention from other
	// work on the machine) shows only in the minute rows, whose peaks are
	// printed, not judged.
	if len(rows) < 2 {
		fmt.Println("n/a  growth: the run is too short to have a minute 1")
	} else {
		base := rows[1]
		growth := func(name, unit string, get func(sample) float64, limit float64) {
			peak, at := get(base), base.at
			for _, s := range rows[2:] {
				if get(s) > peak {
					peak, at = get(s), s.at
				}
			}
			verdict(get(base) > 0 && get(idle) <= limit,
				"%s: %.4g%s idle after the load, %.4g%s at minute 1, limit %.4g%s (peak from minute 1: %.4g%s at %s)",
				name, get(idle), unit, get(base), unit, limit, unit, peak, unit, clock(at.Round(time.Second)))
		}
		mib := func(s sample) float64 { return float64(s.rssKiB) / 1024 }
		growth(fmt.Sprintf("RSS (+%.0f%%)", 100*d.o.rssSlack), " MiB", mib, mib(base)*(1+d.o.rssSlack))
		gor := func(s sample) float64 { return float64(s.goroutines) }
		growth(fmt.Sprintf("goroutines (+%d)", d.o.goroutineSlack), "", gor, gor(base)+float64(d.o.goroutineSlack))
		fds := func(s sample) float64 { return float64(s.fds) }
		growth(fmt.Sprintf("open fds (+%d)", d.o.fdSlack), "", fds, fds(base)+float64(d.o.fdSlack))
		if d.o.pprof != "" {
			live := func(s sample) float64 { return s.heapMiB }
			growth("live heap (+25%, at least +1 MiB)", " MiB", live, max(live(base)*1.25, live(base)+1))
		}
	}
	verdict(c.failOutside == 0, "5xx outside the restart windows: %d (5xx and transport errors; inside: %d)",
		c.failOutside, c.failInside)
	return ok
}
