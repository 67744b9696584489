package rediscache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// trackConn is the tracking connection: CLIENT TRACKING ON BCAST on a RESP3
// connection of the cache's own, which receives nothing but invalidations
// and the answers to its heartbeat PINGs.
type trackConn struct {
	conn net.Conn
	raw  syscall.RawConn
	// pinged is set when a PING is sent and cleared by its PONG.
	pinged atomic.Bool
}

// pending reports whether the socket holds something to act on (bytes, the
// peer's close, an error) without consuming it.
func (tc *trackConn) pending() bool {
	ready := true
	if err := tc.raw.Control(func(fd uintptr) { ready = readable(fd) }); err != nil {
		return true
	}
	return ready
}

// run keeps a tracking connection up until ctx ends: dial, track, watch,
// and after a failure redial with a growing pause.
func (s *Store) run(ctx context.Context) {
	wait := redialMin
	failing := false
	for ctx.Err() == nil {
		tc, rest, err := s.connect(ctx)
		if err != nil {
			if !failing && ctx.Err() == nil {
				s.log.Warn("redis session cache: no tracking connection; reads go to redis until it is back", "error", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, redialMax)
			continue
		}
		if !s.track(ctx, tc, rest, failing) {
			return
		}
		failing = false
		wait = redialMin
	}
}

// track installs tc as the tracking connection and watches it until it
// fails; false means ctx ended first. A panic on the way drops tc (the
// cache emptied: reads go to Redis) before it goes on to safego.Loop, which
// logs it and runs run again, so no half-installed connection and no held
// lock is left behind.
func (s *Store) track(ctx context.Context, tc *trackConn, rest []byte, wasFailing bool) bool {
	defer func() {
		if v := recover(); v != nil {
			s.fail(tc, fmt.Errorf("panic: %v", v))
			_ = tc.conn.Close()
			panic(v)
		}
	}()
	if !s.install(ctx, tc, rest) {
		return false
	}
	if wasFailing {
		s.log.Info("redis session cache: tracking again")
	}
	s.watch(tc)
	return true
}

// install makes tc the tracking connection, unless ctx has ended (then it
// closes tc and returns false).
func (s *Store) install(ctx context.Context, tc *trackConn, rest []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		_ = tc.conn.Close()
		return false
	}
	s.buf = append(s.buf[:0], rest...)
	s.flush() // nothing is cached without tracking; this is only belt and braces
	s.tc.Store(tc)
	if hook := s.installHook.Load(); hook != nil {
		(*hook)()
	}
	close(s.up)
	s.up = make(chan struct{})
	s.drain(tc) // what came with the setup replies
	return true
}

// connect dials Redis and turns tracking on. rest is what was read past the
// setup replies (an early invalidation).
func (s *Store) connect(ctx context.Context) (*trackConn, []byte, error) {
	d := net.Dialer{Timeout: s.dialTimeout}
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return nil, nil, err
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		_ = conn.Close()
		return nil, nil, ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	// Close must not wait for a Redis that accepted but does not answer.
	unwatch := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer unwatch()
	_ = conn.SetDeadline(time.Now().Add(s.dialTimeout + Heartbeat))
	hello := []string{"HELLO", "3"}
	if s.user != "" {
		hello = append(hello, "AUTH", s.user, s.pass)
	}
	req := command(nil, hello...)
	req = command(req, "CLIENT", "SETNAME", "gatehouse-session-cache")
	req = command(req, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", s.redisPrefix+s.prefix)
	rest, err := setup(conn, req, 3)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &trackConn{conn: conn, raw: raw}, rest, nil
}

// setup writes req and reads n replies, failing on an error reply. It
// returns the bytes read past them.
func setup(conn net.Conn, req []byte, n int) ([]byte, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for n > 0 {
		v, used, err := parse(buf)
		switch {
		case err != nil:
			return nil, err
		case used == 0:
			m, err := conn.Read(chunk)
			if err != nil {
				return nil, err
			}
			buf = append(buf, chunk[:m]...)
			continue
		case v.kind == '-':
			return nil, fmt.Errorf("redis refused tracking: %s", v.str)
		case v.kind == '>': // a push before the replies: nothing is cached yet
		default:
			n--
		}
		buf = buf[used:]
	}
	return buf, nil
}

// watch applies tc's invalidations as they arrive and keeps it alive with
// PINGs, until it fails or is dropped.
func (s *Store) watch(tc *trackConn) {
	ping := command(nil, "PING")
	for s.tc.Load() == tc {
		_ = tc.conn.SetReadDeadline(time.Now().Add(Heartbeat))
		err := tc.raw.Read(func(fd uintptr) bool { return readable(fd) })
		if s.tc.Load() != tc {
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if tc.pinged.Load() {
				s.fail(tc, errors.New("no answer to PING"))
				return
			}
			tc.pinged.Store(true)
			_ = tc.conn.SetWriteDeadline(time.Now().Add(Heartbeat))
			if _, err := tc.conn.Write(ping); err != nil {
				s.fail(tc, err)
				return
			}
			continue
		}
		if err != nil {
			s.fail(tc, err)
			return
		}
		s.drainLocked(tc)
	}
}

// fail drops tc for err.
func (s *Store) fail(tc *trackConn, err error) {
	s.mu.Lock()
	s.drop(tc, err)
	s.mu.Unlock()
}

// drainLocked is drain under s.mu, released even if drain panics: a panic
// on a request's goroutine must not leave every later read waiting for the
// lock.
func (s *Store) drainLocked(tc *trackConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drain(tc)
}

// drain reads what tc's socket holds, without waiting, and applies it. The
// caller holds s.mu.
func (s *Store) drain(tc *trackConn) {
	if s.tc.Load() != tc {
		return
	}
	s.draining.Store(true)
	defer s.draining.Store(false)
	var chunk [4096]byte
	var rerr error
	for {
		var n int
		if err := tc.raw.Control(func(fd uintptr) { n, rerr = readNow(fd, chunk[:]) }); err != nil {
			rerr = err
		}
		if rerr == nil && n == 0 {
			rerr = errors.New("closed by redis")
		}
		if rerr != nil {
			break
		}
		s.buf = append(s.buf, chunk[:n]...)
		if n < len(chunk) {
			break
		}
	}
	used := 0
	for {
		v, n, err := parse(s.buf[used:])
		if err != nil {
			s.drop(tc, err)
			return
		}
		if n == 0 {
			break
		}
		used += n
		if err := s.apply(tc, v); err != nil {
			s.drop(tc, err)
			return
		}
	}
	s.buf = append(s.buf[:0], s.buf[used:]...)
	if rerr != nil && !errors.Is(rerr, errAgain) {
		s.drop(tc, rerr)
	}
}

// apply acts on one value read from tc.
func (s *Store) apply(tc *trackConn, v value) error {
	switch {
	case v.kind == '>' && len(v.elems) == 2 && string(v.elems[0].str) == "invalidate":
		keys := v.elems[1]
		if keys.null { // FLUSHDB, FLUSHALL
			s.flush()
			return nil
		}
		s.emu.Lock()
		for _, k := range keys.elems {
			if key, ok := strings.CutPrefix(string(k.str), s.redisPrefix); ok {
				delete(s.entries, key)
			}
		}
		s.emu.Unlock()
	case v.kind == '+' && string(v.str) == "PONG":
		tc.pinged.Store(false)
	case v.kind == '-':
		return fmt.Errorf("redis: %s", v.str)
	}
	return nil
}

// drop ends tc and empties the cache: without tracking nothing cached may
// be served. err (nil on Close) is logged. The caller holds s.mu.
func (s *Store) drop(tc *trackConn, err error) {
	if !s.tc.CompareAndSwap(tc, nil) {
		return
	}
	s.flush()
	s.buf = s.buf[:0]
	_ = tc.conn.Close()
	if err != nil && !s.closed.Load() {
		s.log.Warn("redis session cache: tracking connection lost; cache emptied, reads go to redis until it is back", "error", err)
	}
}
