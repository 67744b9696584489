package auth

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/plugins"
)

// Login flood protection. Every GET /auth/login stores a login state for
// loginTTL, so a client looping on it could fill the login-state store (and
// the memory store's bound with it, crowding out real logins). Each client
// address gets a token bucket: loginRate logins a minute with bursts of
// loginBurst — far above what a person does (a few tabs, a retry), far below
// what fills a store. Beyond it: 429 {"error":"too many login attempts"}
// with Retry-After. These are constants, not settings: a deployment has no
// honest reason to let one address start more logins than this.
//
// The address is the one resolved through server.trusted_proxies
// (plugins.ClientIP). IPv6 clients are counted per /64: one host commonly
// holds a whole /64 and could otherwise take a fresh address per request.
const (
	loginRate  = rate.Limit(10.0 / 60) // 10 a minute
	loginBurst = 20
	// loginIdle is how long a bucket takes to fill again from empty; an
	// entry unused this long is full, and dropping it changes nothing.
	loginIdle = time.Duration(float64(loginBurst) / float64(loginRate) * float64(time.Second))
	// loginLimiterMax bounds the table. When it is full of live entries
	// (a flood from many addresses) an arbitrary entry is evicted: memory
	// stays bounded, at worst one address gets a fresh bucket early.
	loginLimiterMax = 10000
	// loginSweepEvery spaces the scans for idle entries, so that a full
	// table does not cost a scan per request.
	loginSweepEvery = time.Second
)

const msgTooManyLogins = "too many login attempts"

type loginBucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// loginLimiter holds one token bucket per client address. Safe for concurrent use.
type loginLimiter struct {
	mu        sync.Mutex
	m         map[string]*loginBucket
	lastSweep time.Time
}

// allow takes a token for key at now; when there is none it returns false
// and how long until there is.
func (l *loginLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if l.m == nil {
			l.m = make(map[string]*loginBucket)
		}
		if len(l.m) >= loginLimiterMax {
			l.makeRoom(now)
		}
		b = &loginBucket{lim: rate.NewLimiter(loginRate, loginBurst)}
		l.m[key] = b
	}
	b.lastSeen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused attempt spends nothing
		return false, d
	}
	return true, 0
}

// makeRoom drops idle entries (at most once per loginSweepEvery) and, if the
// table is still full, one arbitrary entry.
func (l *loginLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= loginSweepEvery {
		l.lastSweep = now
		for k, b := range l.m {
			if now.Sub(b.lastSeen) >= loginIdle {
				delete(l.m, k)
			}
		}
	}
	if len(l.m) < loginLimiterMax {
		return
	}
	for k := range l.m { // map iteration starts at a random entry
		delete(l.m, k)
		return
	}
}

// len returns the number of tracked addresses.
func (l *loginLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// limitLogin answers 429 with Retry-After when the client has started too
// many logins.
func (a *Auth) limitLogin(c *fiber.Ctx) error {
	ok, wait := a.logins.allow(plugins.ClientNetwork(plugins.ClientIP(c)), a.now())
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return fiber.NewError(fiber.StatusTooManyRequests, msgTooManyLogins)
}
