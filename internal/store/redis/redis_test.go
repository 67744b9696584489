package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// recoverWithin bounds the wait for a restarted or thawed Redis to serve again.
const recoverWithin = 15 * time.Second

func newStore(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := New(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("New(%q) = %v", Redact(url), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	srv := redistest.New(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		// A prefix per subtest: one database, no crosstalk.
		return newStore(t, srv.URL(0), Options{Prefix: fmt.Sprintf("contract%d:", n.Add(1))})
	})
}

// TestContractCluster runs the suite on a one-node Redis Cluster owning
// every slot: the cluster client, its slot routing and the CAS script's
// EVALSHA on a cluster.
func TestContractCluster(t *testing.T) {
	srv := newCluster(t)
	url := "redis://" + srv.Addr() + "?cluster=true"
	if _, ok := newStore(t, url, Options{}).Client().(*redis.ClusterClient); !ok {
		t.Fatalf("NewClient(%q) is not a cluster client", url)
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, url, Options{Prefix: t.Name() + ":"})
	})
}

// newCluster starts a one-node Redis Cluster owning every slot and waits
// until its state is ok. Its slots are in its nodes.conf, so they survive
// Stop and Start.
func newCluster(t *testing.T) *redistest.Server {
	t.Helper()
	srv := redistest.New(t, redistest.WithArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
	c := raw(t, srv, 0)
	if err := c.Do(t.Context(), "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE = %v", err)
	}
	end := time.Now().Add(recoverWithin)
	for !strings.Contains(c.ClusterInfo(t.Context()).Val(), "cluster_state:ok") {
		if time.Now().After(end) {
			t.Fatalf("cluster not ok after %s: %s", recoverWithin, c.ClusterInfo(t.Context()).Val())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv
}

// TestContractSentinel runs the suite through a Sentinel: the failover
// client asks it for the master's address, then talks to the master.
func TestContractSentinel(t *testing.T) {
	master := redistest.New(t)
	sentinel := redistest.NewSentinel(t, master, "mymaster")
	url := "redis://" + sentinel.Addr() + "/2?master_name=mymaster"
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, url, Options{Prefix: t.Name() + ":"})
	})
	// The data went to the master's database 2.
	s := newStore(t, url, Options{})
	if err := s.Set(t.Context(), "via-sentinel", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if got := raw(t, master, 2).Get(t.Context(), "gatehouse:via-sentinel").Val(); got != "v" {
		t.Errorf("master db 2: GET gatehouse:via-sentinel = %q, want %q", got, "v")
	}
}

func TestContractTLS(t *testing.T) {
	srv := redistest.NewTLS(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, srv.URL(0), Options{TLSConfig: srv.ClientTLS(), Prefix: t.Name() + ":"})
	})
}

// raw returns a plain go-redis client on srv's database db.
func raw(t *testing.T, srv *redistest.Server, db int) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPrefix(t *testing.T) {
	srv := redistest.New(t)
	ctx := t.Context()
	def := newStore(t, srv.URL(0), Options{})
	other := newStore(t, srv.URL(0), Options{Prefix: "other:"})
	if err := def.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if got, err := raw(t, srv, 0).Get(ctx, "gatehouse:k").Result(); got != "v" || err != nil {
		t.Errorf("GET gatehouse:k = %q, %v, want %q, nil", got, err, "v")
	}
	if got, err := other.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other prefix: Get(k) = %q, %v, want ErrNotFound", got, err)
	}
	if def.Prefix() != DefaultPrefix || other.Prefix() != "other:" {
		t.Errorf("Prefix() = %q, %q, want %q, %q", def.Prefix(), other.Prefix(), DefaultPrefix, "other:")
	}
}

func TestDatabaseNumber(t *testing.T) {
	srv := redistest.New(t)
	ctx := t.Context()
	db3 := newStore(t, srv.URL(3), Options{})
	if err := db3.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	for _, tc := range []struct {
		db   int
		want int64
	}{{0, 0}, {3, 1}} {
		if got := raw(t, srv, tc.db).Exists(ctx, "gatehouse:k").Val(); got != tc.want {
			t.Errorf("db %d: EXISTS gatehouse:k = %d, want %d", tc.db, got, tc.want)
		}
	}
}

func TestPassword(t *testing.T) {
	const password = "s3cret-p@ss"
	srv := redistest.New(t, redistest.WithArgs("--requirepass", password))
	ctx := t.Context()
	url := func(pw string) string {
		return strings.Replace(srv.URL(0), "redis://", "redis://:"+strings.ReplaceAll(pw, "@", "%40")+"@", 1)
	}
	s := newStore(t, url(password), Options{})
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Errorf("Set with the right password = %v, want nil", err)
	}
	for _, tc := range []struct{ name, url string }{
		{"no password", srv.URL(0)},
		{"wrong password", url("wrong-pw-123")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(ctx, tc.url, Options{})
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%s) = nil error, want an authentication error", tc.name)
			}
			if strings.Contains(err.Error(), "wrong-pw-123") {
				t.Errorf("New error %q leaks the password", err)
			}
		})
	}
}

func TestTLSVerifiesTheServer(t *testing.T) {
	srv := redistest.NewTLS(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		url  string
		opts Options
	}{
		// The system roots do not trust the test certificate.
		{"untrusted certificate", srv.URL(0), Options{OpTimeout: 5 * time.Second}},
		{"plain text to a TLS port", strings.Replace(srv.URL(0), "rediss://", "redis://", 1), Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(ctx, tc.url, tc.opts)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%q) = nil error, want a connection error", tc.url)
			}
		})
	}
}

func TestNewClientURLs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     string
		wantErr string // "" means valid
	}{
		{"single", "redis://127.0.0.1:6379/0", ""},
		{"single with options", "redis://u:p@127.0.0.1:6379/2?read_timeout=1s&pool_size=4", ""},
		{"tls", "rediss://redis.example:6380", ""},
		{"sentinel", "redis://:sp@10.0.0.1:26379/1?master_name=mymaster&addr=10.0.0.2:26379&password=dp", ""},
		{"cluster by addr", "redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379", ""},
		{"cluster by flag", "redis://10.0.0.1:6379?cluster=true", ""},
		{"not redis", "http://:hunter2@127.0.0.1:6379", "scheme must be redis or rediss"},
		{"bad port", "redis://:hunter2@127.0.0.1:port/0", "invalid redis URL"},
		{"bad db", "redis://:hunter2@127.0.0.1:6379/abc", "invalid database number"},
		{"unknown option", "redis://:hunter2@127.0.0.1:6379?bogus=1", "unexpected option"},
		{"disabled read timeout", "redis://127.0.0.1:6379?read_timeout=0", "read_timeout must be positive"},
		{"disabled dial timeout", "redis://127.0.0.1:6379?dial_timeout=-1s", "dial_timeout must be positive"},
		{"disabled pool timeout in cluster", "redis://h:1?addr=h:2&pool_timeout=0", "pool_timeout must be positive"},
		{"disabled write timeout in sentinel", "redis://h:1?master_name=m&write_timeout=-1", "write_timeout must be positive"},
		{"bad cluster flag", "redis://:hunter2@h:1?cluster=maybe", "cluster must be true or false"},
		{"sentinel and cluster", "redis://h:1?master_name=m&cluster=true", "exclude each other"},
		{"cluster with a db", "redis://:hunter2@h:1/2?cluster=true", "no database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, nil)
			if c != nil {
				defer c.Close()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("NewClient(%q) = %v, want nil", tc.url, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("NewClient(%q) = %v, want an error containing %q", tc.url, err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "xxxxx") ||
				strings.Contains(err.Error(), tc.url) || strings.Contains(err.Error(), Redact(tc.url))) {
				t.Errorf("NewClient(%q) error %q repeats the URL or its password", tc.url, err)
			}
			if check := CheckURL(tc.url); fmt.Sprint(check) != fmt.Sprint(err) {
				t.Errorf("CheckURL(%q) = %v, want NewClient's %v", tc.url, check, err)
			}
		})
	}
}

func TestNewClientKinds(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:6379", "*redis.Client"},
		{"redis://127.0.0.1:26379?master_name=m", "*redis.Client"}, // a failover client
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001", "*redis.ClusterClient"},
	} {
		c, err := NewClient(tc.url, nil)
		if err != nil {
			t.Fatalf("NewClient(%q) = %v", tc.url, err)
		}
		if got := fmt.Sprintf("%T", c); got != tc.want {
			t.Errorf("NewClient(%q) = %s, want %s", tc.url, got, tc.want)
		}
		_ = c.Close()
	}
}

func TestNewClientBounds(t *testing.T) {
	c, err := NewClient("redis://127.0.0.1:6379?read_timeout=2s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"dial", o.DialTimeout, DefaultDialTimeout},
		{"read (from the URL)", o.ReadTimeout, 2 * time.Second},
		{"write", o.WriteTimeout, DefaultWriteTimeout},
		{"pool", o.PoolTimeout, DefaultPoolTimeout},
	} {
		if tc.got != tc.want {
			t.Errorf("%s timeout = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if o.MaxRetries != DefaultMaxRetries || o.DialerRetries != DefaultDialerRetries || !o.ContextTimeoutEnabled {
		t.Errorf("MaxRetries, DialerRetries, ContextTimeoutEnabled = %d, %d, %v, want %d, %d, true",
			o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, DefaultMaxRetries, DefaultDialerRetries)
	}
}

func TestNewClientTLSConfig(t *testing.T) {
	srv := redistest.NewTLS(t)
	if _, err := NewClient(strings.Replace(srv.URL(0), "rediss", "redis", 1), srv.ClientTLS()); err == nil {
		t.Errorf("NewClient(redis://, tls config) = nil error, want an error")
	}
	c, err := NewClient(srv.URL(0), srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.TLSConfig.ServerName != "127.0.0.1" || o.TLSConfig.RootCAs == nil || o.TLSConfig.InsecureSkipVerify {
		t.Errorf("TLSConfig = ServerName %q, RootCAs %v, InsecureSkipVerify %v; want the URL's host, the given roots, verification on",
			o.TLSConfig.ServerName, o.TLSConfig.RootCAs != nil, o.TLSConfig.InsecureSkipVerify)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://:pw@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"redis://user:pw@h:6379", "redis://user:xxxxx@h:6379"},
		{"redis://h:6379/0", "redis://h:6379/0"},
		{"redis://:sp@h:26379?master_name=m&password=dp", "redis://:xxxxx@h:26379?master_name=m&password=xxxxx"},
		{"redis://h?sentinel_password=x", "redis://h?sentinel_password=xxxxx"},
		{"redis://:pw@h:bad port", "(unparsable URL)"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(t.Context(), "redis://127.0.0.1:1", Options{OpTimeout: -time.Second}); err == nil {
		t.Errorf("New(OpTimeout -1s) = nil error, want an error")
	}
}

func TestSubMillisecondTTL(t *testing.T) {
	srv := redistest.New(t)
	s := newStore(t, srv.URL(0), Options{})
	// Redis refuses PX 0; the store rounds up to 1ms.
	if err := s.Set(t.Context(), "k", []byte("v"), time.Nanosecond); err != nil {
		t.Errorf("Set(ttl 1ns) = %v, want nil", err)
	}
	if got := raw(t, srv, 0).PTTL(t.Context(), "gatehouse:k").Val(); got > time.Millisecond {
		t.Errorf("PTTL after Set(ttl 1ns) = %s, want <= 1ms", got)
	}
}

// calls runs every Store method once and returns their errors by name.
func calls(ctx context.Context, s *Store, k string) map[string]error {
	errs := map[string]error{}
	_, errs["Get"] = s.Get(ctx, k)
	errs["Set"] = s.Set(ctx, k, []byte("v"), time.Hour)
	_, errs["SetNX"] = s.SetNX(ctx, k+":nx", []byte("v"), time.Hour)
	_, errs["Take"] = s.Take(ctx, k+":take")
	_, errs["CompareAndSwap"] = s.CompareAndSwap(ctx, k, []byte("v"), []byte("w"), time.Hour)
	errs["Touch"] = s.Touch(ctx, k, time.Hour)
	errs["Delete"] = s.Delete(ctx, k)
	errs["Ping"] = s.Ping(ctx)
	return errs
}

func wantAllFail(t *testing.T, errs map[string]error) {
	t.Helper()
	for name, err := range errs {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s while Redis is unavailable = %v, want an error", name, err)
		}
	}
}

// waitWorking polls until every call succeeds (the store recovers by itself).
func waitWorking(t *testing.T, s *Store, k string) {
	t.Helper()
	end := time.Now().Add(recoverWithin)
	for {
		errs := calls(t.Context(), s, k)
		failed := ""
		for name, err := range errs {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				failed = fmt.Sprintf("%s: %v", name, err)
			}
		}
		if failed == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("store did not recover within %s: %s", recoverWithin, failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisDown: a stopped Redis turns every call into an error (no hang, no
// panic); once it is back, the same Store works again.
func TestRedisDown(t *testing.T) {
	srv := redistest.New(t)
	ctx := t.Context()
	s := newStore(t, srv.URL(0), Options{})
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	srv.Stop()
	wantAllFail(t, calls(ctx, s, "k"))

	srv.Start()
	waitWorking(t, s, "k")
	// Persistence is off: the restarted Redis is empty, and the CAS script
	// is gone from its cache (EVALSHA must fall back to EVAL).
	if err := s.Set(ctx, "k", []byte("a"), time.Hour); err != nil {
		t.Fatalf("Set after restart = %v", err)
	}
	if ok, err := s.CompareAndSwap(ctx, "k", []byte("a"), []byte("b"), time.Hour); !ok || err != nil {
		t.Fatalf("CompareAndSwap after restart = %v, %v, want true, nil", ok, err)
	}
	if got, err := s.Get(ctx, "k"); string(got) != "b" || err != nil {
		t.Fatalf("Get after restart = %q, %v, want %q, nil", got, err, "b")
	}
}

// TestRedisHung: a Redis that accepts connections but never answers (SIGSTOP)
// makes every call fail once OpTimeout passes; after it resumes, the store
// works again.
func TestRedisHung(t *testing.T) {
	srv := redistest.New(t)
	ctx := t.Context()
	s := newStore(t, srv.URL(0), Options{OpTimeout: 300 * time.Millisecond})
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	srv.Freeze()
	errs := calls(ctx, s, "k")
	wantAllFail(t, errs)
	if err := errs["Get"]; !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("Get on a hung Redis = %v, want a timeout", err)
	}
	srv.Thaw()
	waitWorking(t, s, "k")
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// TestCallerDeadline: a caller's deadline shorter than OpTimeout is honoured.
func TestCallerDeadline(t *testing.T) {
	srv := redistest.New(t)
	s := newStore(t, srv.URL(0), Options{OpTimeout: time.Minute})
	srv.Freeze()
	defer srv.Thaw()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("Get(hung Redis, ctx deadline) = %v, want a timeout", err)
	}
}

// TestRestartSurvival: a new Store (a restarted gateway, or another replica)
// sees what the old one wrote.
func TestRestartSurvival(t *testing.T) {
	srv := redistest.New(t)
	ctx := t.Context()
	old := newStore(t, srv.URL(0), Options{})
	if err := old.Set(ctx, "session:1", []byte("sealed"), time.Hour); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	restarted := newStore(t, srv.URL(0), Options{})
	if got, err := restarted.Get(ctx, "session:1"); !bytes.Equal(got, []byte("sealed")) || err != nil {
		t.Fatalf("Get after restart = %q, %v, want %q, nil", got, err, "sealed")
	}
}

func TestNewFailsFast(t *testing.T) {
	srv := redistest.New(t)
	srv.Stop()
	if s, err := New(t.Context(), srv.URL(0), Options{}); err == nil {
		_ = s.Close()
		t.Fatalf("New(stopped Redis) = nil error, want an error")
	}
}

func TestClientShared(t *testing.T) {
	srv := redistest.New(t)
	s := newStore(t, srv.URL(0), Options{})
	if err := s.Client().Set(t.Context(), "x", "y", time.Hour).Err(); err != nil {
		t.Fatalf("Client().Set = %v", err)
	}
	_ = s.Close()
	if err := s.Client().Ping(t.Context()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Client().Ping after Close = %v, want redis.ErrClosed", err)
	}
}

func BenchmarkStore(b *testing.B) {
	srv := redistest.New(b)
	s := newStore(b, srv.URL(0), Options{})
	ctx := context.Background()
	value := bytes.Repeat([]byte("s"), 512) // about a sealed session
	if err := s.Set(ctx, "bench", value, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, "bench", value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CompareAndSwap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CompareAndSwap(ctx, "bench", value, value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, "bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestOnClientLeavesTheClientOpen: stores on one shared client (the
// server's sessions and auth stores, beside the plugin backends) each pass
// the contract, and closing one ends that store only.
func TestOnClientLeavesTheClientOpen(t *testing.T) {
	rdb, err := NewClient(redistest.New(t).URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := OnClient(rdb, Options{Prefix: fmt.Sprintf("shared%d:", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	a, _ := OnClient(rdb, Options{Prefix: "a:"})
	b, _ := OnClient(rdb, Options{Prefix: "b:"})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping of the closed store = %v, want ErrClosed", err)
	}
	if err := b.Ping(t.Context()); err != nil {
		t.Errorf("Ping of another store on the client after one closed = %v, want nil", err)
	}
	if _, err := OnClient(rdb, Options{OpTimeout: -1}); err == nil {
		t.Error("OnClient with a negative op timeout = nil error")
	}
}
