package store_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/store/replicatest"
)

const (
	short = 30 * time.Millisecond
	long  = time.Hour
	poll  = 2 * time.Millisecond
	// deadline bounds every wait.
	deadline = 10 * time.Second
)

// eachBackend runs fn against every backend.
func eachBackend(t *testing.T, replicas int, fn func(t *testing.T, sts []store.Store)) {
	for _, b := range replicatest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t, replicas)) })
	}
}

func mustLock(t *testing.T, st store.Store, key string, ttl time.Duration) *store.Lock {
	t.Helper()
	l, err := store.TryLock(t.Context(), st, key, ttl)
	if err != nil {
		t.Fatalf("TryLock(%q) = %v, want nil", key, err)
	}
	return l
}

func wantLocked(t *testing.T, st store.Store, key string) {
	t.Helper()
	if l, err := store.TryLock(t.Context(), st, key, long); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("TryLock(%q) = %v, %v, want ErrLocked", key, l, err)
	}
}

// waitExpired polls until the lock on key can be taken again.
func waitExpired(t *testing.T, st store.Store, key string) *store.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	l, err := store.AcquireLock(ctx, st, key, long, poll)
	if err != nil {
		t.Fatalf("lock %q still held %s after its TTL: %v", key, deadline, err)
	}
	return l
}

func TestLockExclusive(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, sts []store.Store) {
		var (
			wins  atomic.Int32
			start = make(chan struct{})
			wg    sync.WaitGroup
		)
		for i := range 50 {
			wg.Go(func() {
				<-start
				_, err := store.TryLock(t.Context(), sts[i%2], "lock:k", long)
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, store.ErrLocked):
					t.Errorf("TryLock = %v, want nil or ErrLocked", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Fatalf("50 concurrent TryLock on 2 replicas: %d won, want 1", got)
		}
	})
}

func TestLockUnlock(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, sts []store.Store) {
		a, b := sts[0], sts[1]
		l := mustLock(t, a, "lock:k", long)
		if l.Key() != "lock:k" {
			t.Errorf("Key() = %q, want %q", l.Key(), "lock:k")
		}
		wantLocked(t, b, "lock:k")
		if held, err := l.Held(t.Context()); !held || err != nil {
			t.Errorf("Held() = %v, %v, want true, nil", held, err)
		}
		if err := l.Unlock(t.Context()); err != nil {
			t.Fatalf("Unlock = %v, want nil", err)
		}
		if err := l.Unlock(t.Context()); err != nil {
			t.Errorf("second Unlock = %v, want nil", err)
		}
		if held, err := l.Held(t.Context()); held || err != nil {
			t.Errorf("Held() after Unlock = %v, %v, want false, nil", held, err)
		}
		if err := l.Extend(t.Context(), long); !errors.Is(err, store.ErrLockLost) {
			t.Errorf("Extend after Unlock = %v, want ErrLockLost", err)
		}
		// Released: the other replica takes it (the marker lives 1ms).
		waitExpired(t, b, "lock:k")
	})
}

// TestLockOnlyHolderReleases: a holder whose lock expired and was taken by
// another owner can neither release nor extend the new owner's lock.
func TestLockOnlyHolderReleases(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, sts []store.Store) {
		ctx := t.Context()
		stale := mustLock(t, sts[0], "lock:k", short)
		owner := waitExpired(t, sts[1], "lock:k")
		if err := stale.Extend(ctx, long); !errors.Is(err, store.ErrLockLost) {
			t.Errorf("stale Extend = %v, want ErrLockLost", err)
		}
		if held, err := stale.Held(ctx); held || err != nil {
			t.Errorf("stale Held() = %v, %v, want false, nil", held, err)
		}
		if err := stale.Unlock(ctx); !errors.Is(err, store.ErrLockLost) {
			t.Errorf("stale Unlock = %v, want ErrLockLost", err)
		}
		wantLocked(t, sts[0], "lock:k")
		if held, err := owner.Held(ctx); !held || err != nil {
			t.Errorf("owner Held() = %v, %v, want true, nil", held, err)
		}
	})
}

// TestLockExtend proves an extended lock outlives its first TTL without a
// fixed sleep: a sentinel lock taken after the extension with the same short
// TTL expires first.
func TestLockExtend(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, sts []store.Store) {
		st := sts[0]
		l := mustLock(t, st, "lock:k", short)
		if err := l.Extend(t.Context(), long); err != nil {
			t.Fatalf("Extend = %v, want nil", err)
		}
		mustLock(t, st, "lock:sentinel", short)
		waitExpired(t, st, "lock:sentinel")
		wantLocked(t, st, "lock:k")
	})
}

func TestAcquireLockWaits(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, sts []store.Store) {
		held := mustLock(t, sts[0], "lock:k", long)
		got := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			_, err := store.AcquireLock(ctx, sts[1], "lock:k", long, poll)
			got <- err
		}()
		if err := held.Unlock(t.Context()); err != nil {
			t.Fatalf("Unlock = %v", err)
		}
		if err := <-got; err != nil {
			t.Fatalf("AcquireLock after the holder unlocked = %v, want nil", err)
		}
	})
}

func TestAcquireLockContext(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, sts []store.Store) {
		mustLock(t, sts[0], "lock:k", long)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := store.AcquireLock(ctx, sts[0], "lock:k", long, poll); !errors.Is(err, context.Canceled) {
			t.Errorf("AcquireLock(cancelled ctx) = %v, want context.Canceled", err)
		}
		if _, err := store.AcquireLock(t.Context(), sts[0], "lock:k", long, 0); err == nil {
			t.Errorf("AcquireLock(poll 0) = nil error, want an error")
		}
		if _, err := store.TryLock(t.Context(), sts[0], "lock:new", 0); !errors.Is(err, store.ErrInvalidTTL) {
			t.Errorf("TryLock(ttl 0) = %v, want ErrInvalidTTL", err)
		}
	})
}

// TestLockMutualExclusion: 2 replicas x 25 goroutines do an unprotected
// read-modify-write under the lock; no increment is lost, so no two ever
// held the lock at once.
func TestLockMutualExclusion(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, sts []store.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), 4*deadline)
		defer cancel()
		if err := sts[0].Set(ctx, "counter", []byte("0"), long); err != nil {
			t.Fatal(err)
		}
		var (
			wg     sync.WaitGroup
			inside atomic.Int32
			start  = make(chan struct{})
		)
		for i := range 50 {
			st := sts[i%2]
			wg.Go(func() {
				<-start
				l, err := store.AcquireLock(ctx, st, "lock:counter", long, poll)
				if err != nil {
					t.Errorf("AcquireLock = %v", err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once, want 1", n)
				}
				v, err := st.Get(ctx, "counter")
				if err == nil {
					n, _ := strconv.Atoi(string(v))
					err = st.Set(ctx, "counter", []byte(strconv.Itoa(n+1)), long)
				}
				if err != nil {
					t.Errorf("counter: %v", err)
				}
				inside.Add(-1)
				if err := l.Unlock(ctx); err != nil {
					t.Errorf("Unlock = %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if v, err := sts[1].Get(ctx, "counter"); string(v) != "50" || err != nil {
			t.Fatalf("counter = %q, %v, want %q, nil", v, err, "50")
		}
	})
}

func TestLockStoreErrors(t *testing.T) {
	srv := redistest.New(t)
	st, err := redisstore.New(t.Context(), srv.URL(0), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := mustLock(t, st, "lock:k", long)
	srv.Stop()
	if _, err := store.TryLock(t.Context(), st, "lock:other", long); err == nil || errors.Is(err, store.ErrLocked) {
		t.Errorf("TryLock(Redis down) = %v, want a store error", err)
	}
	if err := l.Unlock(t.Context()); err == nil || errors.Is(err, store.ErrLockLost) {
		t.Errorf("Unlock(Redis down) = %v, want a store error", err)
	}
	if _, err := l.Held(t.Context()); err == nil {
		t.Errorf("Held(Redis down) = nil error, want a store error")
	}
}
