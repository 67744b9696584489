package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// ErrLocked is returned by TryLock when another owner holds the lock.
var ErrLocked = errors.New("store: lock held by another owner")

// ErrLockLost is returned by Unlock and Extend when the lock expired and so
// may now belong to another owner: whatever it guarded was not exclusive
// for the whole time.
var ErrLockLost = errors.New("store: lock lost (expired)")

// tokenSize is the size of a lock's random token: 128 bits, unguessable, so
// that no other owner can release or extend a lock it does not hold.
const tokenSize = 16

// released is what a lock's key holds for an instant after Unlock (see Unlock).
var released = []byte{}

// releasedTTL is how long the released marker lives: the smallest TTL every
// store honours (Redis counts milliseconds).
const releasedTTL = time.Millisecond

// Lock is a lease on one key of a Store, held by whoever wrote its random
// token there with SetNX: at most one owner across every process sharing the
// Store (all gateway replicas on one Redis) holds it at a time, until it is
// unlocked or its TTL passes. The TTL makes a crashed holder harmless: its
// lock expires by itself. Pick a TTL longer than the guarded work (or Extend
// it), and keep the key namespaced (e.g. "lock:refresh:" + session id).
//
// It is built only from Store calls (SetNX, CompareAndSwap), so it works the
// same on every Store. A Lock is not safe for concurrent use by several
// goroutines; the work it guards is the owner's.
type Lock struct {
	st    Store
	key   string
	token []byte
	done  bool
}

// TryLock takes the lock on key for ttl if nobody holds it. It returns
// ErrLocked when someone does.
func TryLock(ctx context.Context, st Store, key string, ttl time.Duration) (*Lock, error) {
	token := make([]byte, tokenSize)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("lock %q: reading a random token: %w", key, err)
	}
	ok, err := st.SetNX(ctx, key, token, ttl)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	if !ok {
		return nil, ErrLocked
	}
	return &Lock{st: st, key: key, token: token}, nil
}

// AcquireLock waits until it takes the lock on key for ttl, trying every
// poll (and once right away), or fails when ctx ends. Bound the wait with a
// ctx deadline: a lock whose holder crashed is free only after its TTL.
func AcquireLock(ctx context.Context, st Store, key string, ttl, poll time.Duration) (*Lock, error) {
	if poll <= 0 {
		return nil, fmt.Errorf("lock %q: poll interval must be positive, got %s", key, poll)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		l, err := TryLock(ctx, st, key, ttl)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %q: waiting: %w", key, ctx.Err())
		case <-t.C:
		}
	}
}

// Key returns the key the lock is on.
func (l *Lock) Key() string { return l.key }

// Extend resets the lock's TTL to ttl if l still holds it, and returns
// ErrLockLost if it expired meanwhile.
func (l *Lock) Extend(ctx context.Context, ttl time.Duration) error {
	if l.done {
		return fmt.Errorf("lock %q: extend after unlock: %w", l.key, ErrLockLost)
	}
	ok, err := l.st.CompareAndSwap(ctx, l.key, l.token, l.token, ttl)
	if err != nil {
		return fmt.Errorf("lock %q: extend: %w", l.key, err)
	}
	if !ok {
		return ErrLockLost
	}
	return nil
}

// Unlock releases the lock if l still holds it: a holder whose lock expired
// and was taken by another owner cannot release the other's (it gets
// ErrLockLost). Unlocking twice is a no-op.
//
// The Store interface has no compare-and-delete, so release swaps the token
// for an empty marker that expires a millisecond later: the key is free for
// the next SetNX right after.
func (l *Lock) Unlock(ctx context.Context) error {
	if l.done {
		return nil
	}
	ok, err := l.st.CompareAndSwap(ctx, l.key, l.token, released, releasedTTL)
	if err != nil {
		return fmt.Errorf("lock %q: unlock: %w", l.key, err)
	}
	l.done = true
	if !ok {
		return ErrLockLost
	}
	return nil
}

// Held reports whether l still holds its lock (its token is still under the key).
func (l *Lock) Held(ctx context.Context) (bool, error) {
	if l.done {
		return false, nil
	}
	v, err := l.st.Get(ctx, l.key)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lock %q: %w", l.key, err)
	}
	return bytes.Equal(v, l.token), nil
}
