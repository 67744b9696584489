// Package storetest is the contract suite every store.Store implementation
// must pass (memory now, Redis later): one set of behaviours, tested once.
//
// An implementation's test calls Run with a constructor returning a fresh,
// empty store for each subtest:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// Where time matters the suite uses short TTLs and polls with a deadline
// instead of sleeping a fixed time, so it stays deterministic on a loaded
// machine. TTLs are at least 20ms (stores with millisecond TTLs, like Redis,
// round smaller ones).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	// short is the TTL of keys a test waits to see expire.
	short = 30 * time.Millisecond
	// long is the TTL of keys that must outlive a test.
	long = time.Hour
	// deadline bounds every wait for an expiry.
	deadline = 10 * time.Second
	// contenders is how many goroutines race for one key.
	contenders = 50
)

// Run runs the contract suite. newStore returns a fresh, empty store; Run
// closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetAbsent", testGetAbsent},
		{"SetGet", testSetGet},
		{"SetReplaces", testSetReplaces},
		{"ValuesAreCopied", testValuesAreCopied},
		{"InvalidTTL", testInvalidTTL},
		{"SetNX", testSetNX},
		{"SetNXAfterExpiry", testSetNXAfterExpiry},
		{"CompareAndSwap", testCompareAndSwap},
		{"Take", testTake},
		{"Touch", testTouch},
		{"TouchExtends", testTouchExtends},
		{"Delete", testDelete},
		{"Expiry", testExpiry},
		{"SetResetsTTL", testSetResetsTTL},
		{"ConcurrentTake", testConcurrentTake},
		{"ConcurrentSetNX", testConcurrentSetNX},
		{"ConcurrentCompareAndSwap", testConcurrentCompareAndSwap},
		{"ConcurrentMixed", testConcurrentMixed},
		{"CancelledContext", testCancelledContext},
		{"Ping", testPing},
		{"Closed", testClosed},
		{"KeyShapes", testKeyShapes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s)
		})
	}
}

// key returns a key unique to the test, so a shared backend (one Redis
// database) cannot mix tests up.
func key(t *testing.T, name string) string {
	return "storetest:" + t.Name() + ":" + name
}

func mustSet(t *testing.T, s store.Store, k string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), k, v, ttl); err != nil {
		t.Fatalf("Set(%q) = %v, want nil", k, err)
	}
}

func wantValue(t *testing.T, s store.Store, k string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), k)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, %v, want %q, nil", k, got, err, want)
	}
}

func wantAbsent(t *testing.T, s store.Store, k string) {
	t.Helper()
	if got, err := s.Get(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v, want ErrNotFound", k, got, err)
	}
}

// waitGone polls until k is absent, failing after deadline.
func waitGone(t *testing.T, s store.Store, k string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		_, err := s.Get(t.Context(), k)
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Get(%q) = %v while waiting for expiry", k, err)
		}
		if time.Now().After(end) {
			t.Fatalf("Get(%q) still present %s after its TTL", k, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testGetAbsent(t *testing.T, s store.Store) {
	wantAbsent(t, s, key(t, "nothing"))
}

func testSetGet(t *testing.T, s store.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"text", []byte("hello")},
		{"empty", []byte{}},
		{"binary", all},
		{"large", bytes.Repeat([]byte("x"), 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := key(t, "k")
			mustSet(t, s, k, tc.value, long)
			got, err := s.Get(t.Context(), k)
			if err != nil || !bytes.Equal(got, tc.value) || len(got) != len(tc.value) {
				t.Fatalf("Get(%q) = %d bytes, %v, want %d bytes, nil", k, len(got), err, len(tc.value))
			}
		})
	}
}

func testSetReplaces(t *testing.T, s store.Store) {
	k := key(t, "k")
	mustSet(t, s, k, []byte("one"), long)
	mustSet(t, s, k, []byte("two"), long)
	wantValue(t, s, k, []byte("two"))
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	k := key(t, "k")
	in := []byte("value")
	mustSet(t, s, k, in, long)
	in[0] = 'X' // the caller reuses its buffer
	got, err := s.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q) = %v", k, err)
	}
	got[1] = 'Y' // the caller scribbles on what it got
	wantValue(t, s, k, []byte("value"))
}

func testInvalidTTL(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(ctx, k, []byte("v"), ttl); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("Set(ttl %s) = %v, want ErrInvalidTTL", ttl, err)
		}
		if _, err := s.SetNX(ctx, k, []byte("v"), ttl); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("SetNX(ttl %s) = %v, want ErrInvalidTTL", ttl, err)
		}
		if _, err := s.CompareAndSwap(ctx, k, nil, []byte("v"), ttl); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("CompareAndSwap(ttl %s) = %v, want ErrInvalidTTL", ttl, err)
		}
		if err := s.Touch(ctx, k, ttl); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("Touch(ttl %s) = %v, want ErrInvalidTTL", ttl, err)
		}
	}
	wantAbsent(t, s, k)
}

func testSetNX(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	if ok, err := s.SetNX(ctx, k, []byte("first"), long); !ok || err != nil {
		t.Fatalf("SetNX(absent) = %v, %v, want true, nil", ok, err)
	}
	if ok, err := s.SetNX(ctx, k, []byte("second"), long); ok || err != nil {
		t.Fatalf("SetNX(present) = %v, %v, want false, nil", ok, err)
	}
	wantValue(t, s, k, []byte("first"))
}

func testSetNXAfterExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("old"), short)
	waitGone(t, s, k)
	if ok, err := s.SetNX(ctx, k, []byte("new"), long); !ok || err != nil {
		t.Fatalf("SetNX(expired) = %v, %v, want true, nil", ok, err)
	}
	wantValue(t, s, k, []byte("new"))
}

func testCompareAndSwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		initial []byte // nil: key absent
		old     []byte
		want    bool
		after   []byte // nil: key absent
	}{
		{"match", []byte("a"), []byte("a"), true, []byte("b")},
		{"mismatch", []byte("a"), []byte("x"), false, []byte("a")},
		{"prefix is not a match", []byte("ab"), []byte("a"), false, []byte("ab")},
		{"absent never matches", nil, nil, false, nil},
		{"absent never matches empty", nil, []byte{}, false, nil},
		{"empty matches empty", []byte{}, []byte{}, true, []byte("b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := key(t, "k")
			if tc.initial != nil {
				mustSet(t, s, k, tc.initial, long)
			}
			got, err := s.CompareAndSwap(ctx, k, tc.old, []byte("b"), long)
			if got != tc.want || err != nil {
				t.Fatalf("CompareAndSwap(%q, old %q) = %v, %v, want %v, nil", tc.initial, tc.old, got, err, tc.want)
			}
			if tc.after == nil {
				wantAbsent(t, s, k)
			} else {
				wantValue(t, s, k, tc.after)
			}
		})
	}
	t.Run("expired never matches", func(t *testing.T) {
		k := key(t, "k")
		mustSet(t, s, k, []byte("a"), short)
		waitGone(t, s, k)
		if ok, err := s.CompareAndSwap(ctx, k, []byte("a"), []byte("b"), long); ok || err != nil {
			t.Fatalf("CompareAndSwap(expired) = %v, %v, want false, nil", ok, err)
		}
		wantAbsent(t, s, k)
	})
	t.Run("sets the TTL", func(t *testing.T) {
		k := key(t, "k")
		mustSet(t, s, k, []byte("a"), long)
		if ok, err := s.CompareAndSwap(ctx, k, []byte("a"), []byte("b"), short); !ok || err != nil {
			t.Fatalf("CompareAndSwap = %v, %v, want true, nil", ok, err)
		}
		waitGone(t, s, k)
	})
}

func testTake(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("once"), long)
	got, err := s.Take(ctx, k)
	if err != nil || string(got) != "once" {
		t.Fatalf("Take(present) = %q, %v, want %q, nil", got, err, "once")
	}
	if got, err := s.Take(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(taken) = %q, %v, want ErrNotFound", got, err)
	}
	wantAbsent(t, s, k)

	expired := key(t, "expired")
	mustSet(t, s, expired, []byte("v"), short)
	waitGone(t, s, expired)
	if got, err := s.Take(ctx, expired); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(expired) = %q, %v, want ErrNotFound", got, err)
	}
}

func testTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.Touch(ctx, key(t, "absent"), long); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Touch(absent) = %v, want ErrNotFound", err)
	}
	k := key(t, "k")
	mustSet(t, s, k, []byte("v"), long)
	if err := s.Touch(ctx, k, short); err != nil {
		t.Fatalf("Touch(present) = %v, want nil", err)
	}
	wantValue(t, s, k, []byte("v"))
	waitGone(t, s, k) // Touch may shorten a TTL too
	if err := s.Touch(ctx, k, long); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Touch(expired) = %v, want ErrNotFound", err)
	}
}

// testTouchExtends proves a touched key outlives its first TTL without a fixed
// sleep: a sentinel set after the touch with the same short TTL expires first.
func testTouchExtends(t *testing.T, s store.Store) {
	ctx := t.Context()
	k, sentinel := key(t, "k"), key(t, "sentinel")
	mustSet(t, s, k, []byte("v"), short)
	if err := s.Touch(ctx, k, long); err != nil {
		t.Fatalf("Touch = %v, want nil", err)
	}
	mustSet(t, s, sentinel, []byte("v"), short)
	waitGone(t, s, sentinel)
	wantValue(t, s, k, []byte("v"))
}

func testDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("v"), long)
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete(present) = %v, want nil", err)
	}
	wantAbsent(t, s, k)
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete(absent) = %v, want nil", err)
	}
}

func testExpiry(t *testing.T, s store.Store) {
	k, other := key(t, "k"), key(t, "other")
	mustSet(t, s, k, []byte("v"), short)
	mustSet(t, s, other, []byte("v"), long)
	waitGone(t, s, k)
	wantValue(t, s, other, []byte("v"))
}

func testSetResetsTTL(t *testing.T, s store.Store) {
	k, sentinel := key(t, "k"), key(t, "sentinel")
	mustSet(t, s, k, []byte("v"), short)
	mustSet(t, s, k, []byte("w"), long)
	mustSet(t, s, sentinel, []byte("v"), short)
	waitGone(t, s, sentinel)
	wantValue(t, s, k, []byte("w"))
}

// race starts contenders goroutines at once on fn and returns how many
// reported a win.
func race(t *testing.T, fn func(i int) (bool, error)) int {
	t.Helper()
	var (
		wins  atomic.Int32
		start = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make(chan error, contenders)
	)
	for i := range contenders {
		wg.Go(func() {
			<-start
			won, err := fn(i)
			if err != nil {
				errs <- err
				return
			}
			if won {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("contender: %v", err)
	}
	return int(wins.Load())
}

func testConcurrentTake(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("once"), long)
	wins := race(t, func(int) (bool, error) {
		v, err := s.Take(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err == nil && string(v) != "once" {
			return false, fmt.Errorf("Take = %q, want %q", v, "once")
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Fatalf("%d concurrent Takes: %d won, want exactly 1", contenders, wins)
	}
}

func testConcurrentSetNX(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	var winner atomic.Int32
	wins := race(t, func(i int) (bool, error) {
		ok, err := s.SetNX(ctx, k, []byte{byte(i)}, long)
		if ok {
			winner.Store(int32(i))
		}
		return ok, err
	})
	if wins != 1 {
		t.Fatalf("%d concurrent SetNX: %d won, want exactly 1", contenders, wins)
	}
	wantValue(t, s, k, []byte{byte(winner.Load())})
}

func testConcurrentCompareAndSwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("v0"), long)
	wins := race(t, func(i int) (bool, error) {
		return s.CompareAndSwap(ctx, k, []byte("v0"), fmt.Appendf(nil, "v%d", i+1), long)
	})
	if wins != 1 {
		t.Fatalf("%d concurrent CompareAndSwap from one value: %d won, want exactly 1", contenders, wins)
	}

	// A read-modify-write counter loses no increment under contention.
	counter := key(t, "counter")
	mustSet(t, s, counter, []byte{0}, long)
	race(t, func(int) (bool, error) {
		for {
			cur, err := s.Get(ctx, counter)
			if err != nil {
				return false, err
			}
			ok, err := s.CompareAndSwap(ctx, counter, cur, []byte{cur[0] + 1}, long)
			if err != nil || ok {
				return ok, err
			}
		}
	})
	wantValue(t, s, counter, []byte{contenders})
}

// testConcurrentMixed exercises every call at once on shared and private keys
// (it finds data races under -race; the store must neither fail nor corrupt).
func testConcurrentMixed(t *testing.T, s store.Store) {
	ctx := t.Context()
	shared := key(t, "shared")
	race(t, func(i int) (bool, error) {
		own := key(t, fmt.Sprint(i))
		for j := range 20 {
			v := fmt.Appendf(nil, "%d-%d", i, j)
			if err := s.Set(ctx, own, v, long); err != nil {
				return false, err
			}
			got, err := s.Get(ctx, own)
			if err != nil || !bytes.Equal(got, v) {
				return false, fmt.Errorf("Get(own) = %q, %v, want %q", got, err, v)
			}
			if err := s.Set(ctx, shared, v, long); err != nil {
				return false, err
			}
			if _, err := s.Get(ctx, shared); err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if err := s.Touch(ctx, shared, long); err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if _, err := s.Take(ctx, shared); err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if _, err := s.SetNX(ctx, shared, v, long); err != nil {
				return false, err
			}
			if err := s.Delete(ctx, own); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

func testCancelledContext(t *testing.T, s store.Store) {
	k := key(t, "k")
	mustSet(t, s, k, []byte("v"), long)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, k); return err }},
		{"Set", func() error { return s.Set(ctx, k, []byte("x"), long) }},
		{"SetNX", func() error { _, err := s.SetNX(ctx, key(t, "new"), []byte("x"), long); return err }},
		{"CompareAndSwap", func() error { _, err := s.CompareAndSwap(ctx, k, []byte("v"), []byte("x"), long); return err }},
		{"Take", func() error { _, err := s.Take(ctx, k); return err }},
		{"Touch", func() error { return s.Touch(ctx, k, long) }},
		{"Delete", func() error { return s.Delete(ctx, k) }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled ctx) = %v, want context.Canceled", c.name, err)
		}
	}
	// A cancelled call changed nothing.
	wantValue(t, s, k, []byte("v"))
	wantAbsent(t, s, key(t, "new"))
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping = %v, want nil", err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key(t, "k")
	mustSet(t, s, k, []byte("v"), long)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := s.Get(ctx, k); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Close = %v, want a closed-store error", err)
	}
	if err := s.Set(ctx, k, []byte("v"), long); err == nil {
		t.Errorf("Set after Close = nil, want an error")
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping after Close = nil, want an error")
	}
}

// testKeyShapes: keys are opaque strings; none is special (Redis glob and
// hash-tag characters, separators, binary, long), and distinct keys never
// alias.
func testKeyShapes(t *testing.T, s store.Store) {
	ctx := t.Context()
	shapes := []string{
		"",
		"with space",
		"glob*?[x]",
		"hash{tag}",
		"a:b:c",
		"ключ",
		"nul\x00byte",
		"\xff\xfe not utf-8",
		strings.Repeat("k", 4096),
	}
	for i, shape := range shapes {
		mustSet(t, s, key(t, shape), []byte{byte(i)}, long)
	}
	for i, shape := range shapes {
		k := key(t, shape)
		wantValue(t, s, k, []byte{byte(i)})
		if ok, err := s.CompareAndSwap(ctx, k, []byte{byte(i)}, []byte{byte(i), 1}, long); !ok || err != nil {
			t.Fatalf("CompareAndSwap(%q) = %v, %v, want true, nil", shape, ok, err)
		}
		if got, err := s.Take(ctx, k); err != nil || !bytes.Equal(got, []byte{byte(i), 1}) {
			t.Fatalf("Take(%q) = %q, %v, want %q, nil", shape, got, err, []byte{byte(i), 1})
		}
	}
	for _, shape := range shapes {
		wantAbsent(t, s, key(t, shape))
	}
}
