package rediscache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// open returns a tracking Store on srv, closed when the test ends, once it
// tracks; reads counts the round trips its client makes.
func open(t testing.TB, srv *redistest.Server, opts Options) (s *Store, reads *atomic.Int64) {
	t.Helper()
	st, err := redisstore.New(context.Background(), srv.URL(0), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reads = redistest.CountTrips(st.Client())
	s, err = New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
	defer cancel()
	if err := s.WaitTracking(ctx); err != nil {
		t.Fatalf("tracking connection: %v", err)
	}
	return s, reads
}

// TestContract: the store contract holds with every key cached.
func TestContract(t *testing.T) {
	srv := redistest.New(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := open(t, srv, Options{})
		return s
	})
}

// TestServedLocally: a value read once is read again without Redis, and
// keys outside the prefix are never cached.
func TestServedLocally(t *testing.T) {
	srv := redistest.New(t)
	s, reads := open(t, srv, Options{Prefix: "sess:"})
	ctx := t.Context()
	for _, k := range []string{"sess:a", "idx:a"} {
		if err := s.Set(ctx, k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	before := reads.Load()
	for range 3 {
		if v, err := s.Get(ctx, "sess:a"); err != nil || string(v) != "v" {
			t.Fatalf("Get(sess:a) = %q, %v", v, err)
		}
		if same, err := s.Matches(ctx, "sess:a", []byte("v")); err != nil || !same {
			t.Fatalf("Matches(sess:a, v) = %v, %v, want true", same, err)
		}
	}
	if n := reads.Load() - before; n != 0 {
		t.Errorf("6 reads of a cached key made %d round trips, want 0", n)
	}
	if _, err := s.Get(ctx, "idx:a"); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load() - before; n != 1 {
		t.Errorf("a read outside the prefix made %d round trips, want 1", n)
	}
}

// TestOtherWriterSeenAtOnce: whatever another client does to a key this
// store has cached shows in this store's very next read, with no wait in
// between: Redis wrote the invalidation to our tracking socket before it
// answered the writer.
func TestOtherWriterSeenAtOnce(t *testing.T) {
	srv := redistest.New(t)
	tests := []struct {
		name  string
		write func(ctx context.Context, a *Store, raw *redis.Client) error
		want  string // "" for ErrNotFound
	}{
		{"set", func(ctx context.Context, a *Store, _ *redis.Client) error {
			return a.Set(ctx, "sess:k", []byte("new"), time.Hour)
		}, "new"},
		{"compare and swap", func(ctx context.Context, a *Store, _ *redis.Client) error {
			_, err := a.CompareAndSwap(ctx, "sess:k", []byte("old"), []byte("swapped"), time.Hour)
			return err
		}, "swapped"},
		{"delete", func(ctx context.Context, a *Store, _ *redis.Client) error {
			return a.Delete(ctx, "sess:k")
		}, ""},
		{"take", func(ctx context.Context, a *Store, _ *redis.Client) error {
			_, err := a.Take(ctx, "sess:k")
			return err
		}, ""},
		// FLUSHALL's invalidation is written straight to the tracking
		// connections, after the flushing client's reply (not queued before
		// it as BCAST key invalidations are): a later write's invalidation,
		// queued behind it, orders it for the test.
		{"flushall", func(ctx context.Context, a *Store, raw *redis.Client) error {
			if err := raw.FlushAll(ctx).Err(); err != nil {
				return err
			}
			return a.Set(ctx, "sess:other", []byte("v"), time.Hour)
		}, ""},
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	a, _ := open(t, srv, Options{Prefix: "sess:"})
	b, reads := open(t, srv, Options{Prefix: "sess:"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if err := a.Set(ctx, "sess:k", []byte("old"), time.Hour); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second read is a hit
				if v, err := b.Get(ctx, "sess:k"); err != nil || string(v) != "old" {
					t.Fatalf("Get = %q, %v", v, err)
				}
			}
			before := reads.Load()
			if _, err := b.Get(ctx, "sess:k"); err != nil || reads.Load() != before {
				t.Fatalf("the value is not served from the cache (%v)", err)
			}
			if err := tt.write(ctx, a, raw); err != nil {
				t.Fatal(err)
			}
			v, err := b.Get(ctx, "sess:k")
			switch {
			case tt.want == "" && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("Get after the other client's %s = %q, %v, want ErrNotFound", tt.name, v, err)
			case tt.want != "" && (err != nil || string(v) != tt.want):
				t.Fatalf("Get after the other client's %s = %q, %v, want %q", tt.name, v, err, tt.want)
			}
		})
	}
}

// TestWriteDuringFill: a value whose GET was answered just before another
// client changed it is not served after the change (the invalidation,
// applied before or after the value is stored, removes it).
func TestWriteDuringFill(t *testing.T) {
	srv := redistest.New(t)
	a, _ := open(t, srv, Options{Prefix: "sess:"})
	b, _ := open(t, srv, Options{Prefix: "sess:"})
	ctx := t.Context()
	if err := a.Set(ctx, "sess:k", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	b.rdb.AddHook(afterPipeline(func(cmds []redis.Cmder) {
		if cmds[0].Name() == "get" && once.CompareAndSwap(false, true) {
			if err := a.Set(ctx, "sess:k", []byte("new"), time.Hour); err != nil {
				t.Error(err)
			}
		}
	}))
	if v, err := b.Get(ctx, "sess:k"); err != nil || string(v) != "old" {
		t.Fatalf("first Get = %q, %v, want the value read before the write", v, err)
	}
	if v, err := b.Get(ctx, "sess:k"); err != nil || string(v) != "new" {
		t.Fatalf("Get after the write = %q, %v, want %q", v, err, "new")
	}
}

// afterPipeline is a go-redis hook calling f after each pipeline's answer.
type afterPipeline func(cmds []redis.Cmder)

func (f afterPipeline) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (f afterPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f afterPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		f(cmds)
		return err
	}
}

// TestRedisRestart: a Redis that restarts (and lost its data) never has a
// value from before the restart served after it; once the tracking
// connection is back, reads are cached again.
func TestRedisRestart(t *testing.T) {
	srv := redistest.New(t)
	s, reads := open(t, srv, Options{Prefix: "sess:"})
	ctx := t.Context()
	if err := s.Set(ctx, "sess:k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Get(ctx, "sess:k"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	srv.Start()
	// The first call may fail on a pooled connection the restart closed;
	// no call may return the old value.
	for i := range 3 {
		if v, err := s.Get(ctx, "sess:k"); err == nil {
			t.Fatalf("Get %d after a restart that lost the data = %q, want ErrNotFound", i, v)
		}
	}
	if s.Len() != 0 {
		t.Errorf("cache after the restart holds %d entries, want 0", s.Len())
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a hang guard
	defer cancel()
	if err := s.WaitTracking(wctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "sess:k", []byte("v2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "sess:k"); err != nil {
		t.Fatal(err)
	}
	before := reads.Load()
	if v, err := s.Get(ctx, "sess:k"); err != nil || string(v) != "v2" || reads.Load() != before {
		t.Errorf("Get after tracking resumed = %q, %v with %d round trips, want %q from the cache", v, err, reads.Load()-before, "v2")
	}
}

// TestMaxEntries: the cache never holds more than MaxEntries values.
func TestMaxEntries(t *testing.T) {
	srv := redistest.New(t)
	s, _ := open(t, srv, Options{Prefix: "sess:", MaxEntries: 8})
	ctx := t.Context()
	for i := range 20 {
		k := "sess:" + strconv.Itoa(i)
		if err := s.Set(ctx, k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		if n := s.Len(); n > 8 {
			t.Fatalf("after %d reads the cache holds %d entries, want at most 8", i+1, n)
		}
	}
}

// TestUnsupported: a TLS Redis is not tracked (the peek needs plaintext).
func TestUnsupported(t *testing.T) {
	srv := redistest.NewTLS(t)
	st, err := redisstore.Open(srv.URL(0), redisstore.Options{TLSConfig: srv.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := New(st, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("New on a TLS store = %v, want ErrUnsupported", err)
	}
}

// BenchmarkGet: a cached read (one peek at the tracking socket, a map
// lookup, a copy) against a read from Redis.
func BenchmarkGet(b *testing.B) {
	srv := redistest.New(b)
	s, _ := open(b, srv, Options{Prefix: "sess:"})
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 1300)
	if err := s.Set(ctx, "sess:k", value, time.Hour); err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		get  func() error
	}{
		{"cached", func() error { _, err := s.Get(ctx, "sess:k"); return err }},
		{"matches", func() error { _, err := s.Matches(ctx, "sess:k", value); return err }},
		{"redis", func() error { _, err := s.Store.Get(ctx, "sess:k"); return err }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				if err := bm.get(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryPerEntry reports the heap one cached session-sized value
// (1,300 bytes, a 48-character key) takes.
func BenchmarkMemoryPerEntry(b *testing.B) {
	srv := redistest.New(b)
	const n = 2000
	s, _ := open(b, srv, Options{Prefix: "sess:", MaxEntries: n})
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 1300)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("sess:%043d", i)
		if err := s.Set(ctx, keys[i], value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		s.flush()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for _, k := range keys {
			if _, err := s.Matches(ctx, k, value); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/entry")
	}
}

// TestCloseWhileSettingUp: Close returns while the tracking connection is
// connected but waiting for the setup replies of a Redis that never answers
// (here a listener that accepts and reads nothing), instead of waiting out
// the dial timeout and a heartbeat.
func TestCloseWhileSettingUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	st, err := redisstore.Open("redis://"+ln.Addr().String()+"/0?dial_timeout=1h", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil { // HELLO: setup now waits for its reply
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpTimeout: a read the cache sends to Redis is bounded by the store's
// OpTimeout, as the store's own reads are (here 1ns: it fails at once).
func TestOpTimeout(t *testing.T) {
	srv := redistest.New(t)
	st, err := redisstore.Open(srv.URL(0), redisstore.Options{OpTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitTracking(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get with a 1ns op timeout = %v, want a timeout, not Redis's answer", err)
	}
}

// TestTrackingPanicRecovers: a panic in the tracking goroutine (here while
// a reconnected connection is installed) costs neither the process nor the
// cache's exactness: the connection is dropped, the loop starts again, and
// tracking resumes with every read correct.
func TestTrackingPanicRecovers(t *testing.T) {
	srv := redistest.New(t)
	s, _ := open(t, srv, Options{Prefix: "sess:"})
	ctx := t.Context()
	var fired atomic.Bool
	hook := func() {
		if fired.CompareAndSwap(false, true) {
			panic("injected")
		}
	}
	s.installHook.Store(&hook)
	srv.Stop()
	srv.Start()                                              // the tracking connection is lost, and the next install panics
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a hang guard
	defer cancel()
	for !fired.Load() || !s.Tracking() {
		if err := s.WaitTracking(wctx); err != nil {
			t.Fatalf("tracking after the panic: %v", err)
		}
		if !fired.Load() || !s.Tracking() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, v := range []string{"v1", "v2"} {
		if err := s.Set(ctx, "sess:k", []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, "sess:k"); err != nil || string(got) != v {
			t.Fatalf("Get after the panic = %q, %v, want %q", got, err, v)
		}
	}
}
