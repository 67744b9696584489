package redisbackend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/backend/backendtest"
	"github.com/gatehouse-dev/gatehouse/internal/seal"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// testKey is a plugin instance's sealing key.
var testKey = bytes.Repeat([]byte{7}, seal.KeyLen)

func client(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	rdb, err := redisstore.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestContract(t *testing.T) {
	rdb := client(t, redistest.New(t).URL(0))
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backendtest.Factory {
		// A store per subtest: one database, no crosstalk.
		store := fmt.Sprintf("contract%d:", n.Add(1))
		return func(ns string) backend.Backends {
			return Backends{Client: rdb, Prefix: store + ns + ":", Key: testKey}
		}
	})
}

// TestNothingInClear: neither a limiter's key nor a cache value or group
// reaches Redis as written.
func TestNothingInClear(t *testing.T) {
	rdb := client(t, redistest.New(t).URL(0))
	ctx := t.Context()
	const secret = "s:session-id-0123456789"
	prefix := Prefix("p", "route")
	if _, err := NewLimiter(rdb, prefix, Options{}).Allow(ctx, secret, backend.Limit{Rate: 1, Per: time.Hour, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(rdb, prefix, testKey, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", []byte(secret), time.Hour, "/api/"+secret); err != nil {
		t.Fatal(err)
	}
	keys := rdb.Keys(ctx, "*").Val()
	if len(keys) != 3 {
		t.Fatalf("keys in Redis = %q, want a bucket, a value and an index", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(k, "rate:"+prefix) {
			t.Errorf("key %q outside the namespace %q", k, prefix)
		}
		v := rdb.Dump(ctx, k).Val()
		if strings.Contains(k, "session-id") || strings.Contains(v, "session-id") {
			t.Errorf("Redis holds the secret in clear at %q", k)
		}
	}
	sum := sha256.Sum256([]byte(secret))
	if n := rdb.Exists(ctx, "rate:"+prefix+base64.RawURLEncoding.EncodeToString(sum[:])).Val(); n != 1 {
		t.Error("the bucket is not under the SHA-256 of its key")
	}
}

// TestSealedUnderTheInstanceKey: a value does not open under another
// instance's key, nor once copied to another key; either is a miss, without
// an error, and the value is deleted.
func TestSealedUnderTheInstanceKey(t *testing.T) {
	rdb := client(t, redistest.New(t).URL(0))
	ctx := t.Context()
	prefix := Prefix("cache", "route")
	writer, _ := NewCache(rdb, prefix, testKey, Options{})
	other, _ := NewCache(rdb, prefix, bytes.Repeat([]byte{8}, seal.KeyLen), Options{})
	if err := writer.Set(ctx, "k", []byte("v"), time.Hour, "g"); err != nil {
		t.Fatal(err)
	}
	sealed := rdb.Get(ctx, writer.valueKey("k")).Val()
	if _, ok, err := other.Get(ctx, "k"); ok || err != nil {
		t.Errorf("Get under another key = %v, %v; want a miss", ok, err)
	}
	if n := rdb.Exists(ctx, writer.valueKey("k")).Val(); n != 0 {
		t.Error("a value that did not open was kept")
	}
	rdb.Set(ctx, writer.valueKey("copy"), sealed, time.Hour)
	if _, ok, err := writer.Get(ctx, "copy"); ok || err != nil {
		t.Errorf("Get of a value copied to another key = %v, %v; want a miss", ok, err)
	}
	if _, err := NewCache(rdb, prefix, []byte("short"), Options{}); err == nil {
		t.Error("NewCache with a 5-byte key = nil error")
	}
}

// TestDownFailsThenRecovers: with Redis down, calls fail within the timeout
// (a plugin decides what that means); once it is back they work again on the
// same client.
func TestDownFailsThenRecovers(t *testing.T) {
	srv := redistest.New(t)
	rdb := client(t, srv.URL(0))
	l := NewLimiter(rdb, "r:", Options{Timeout: 500 * time.Millisecond})
	c, _ := NewCache(rdb, "r:", testKey, Options{Timeout: 500 * time.Millisecond})
	lim := backend.Limit{Rate: 1, Per: time.Hour, Burst: 5}
	ctx := context.Background()
	srv.Stop()
	if _, err := l.Allow(ctx, "k", lim); err == nil {
		t.Error("Allow with Redis down = nil error")
	}
	if _, _, err := c.Get(ctx, "k"); err == nil {
		t.Error("Get with Redis down = nil error")
	}
	srv.Start()
	deadline := time.Now().Add(15 * time.Second) // a liveness bound
	for {
		_, err := l.Allow(ctx, "k", lim)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Allow after Redis came back = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Set(ctx, "k", []byte("v"), time.Hour, "g"); err != nil {
		t.Errorf("Set after Redis came back = %v", err)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	rdb := client(b, redistest.New(b).URL(0))
	l := NewLimiter(rdb, "bench:", Options{})
	lim := backend.Limit{Rate: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Allow(ctx, "k", lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheGet(b *testing.B) {
	rdb := client(b, redistest.New(b).URL(0))
	c, _ := NewCache(rdb, "bench:", testKey, Options{})
	ctx := context.Background()
	if err := c.Set(ctx, "k", bytes.Repeat([]byte("x"), 4096), time.Hour, "/p"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok, err := c.Get(ctx, "k"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
