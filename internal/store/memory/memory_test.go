package memory

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A fast janitor, so the suite also runs it against every call.
		s, err := New(Options{SweepInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatalf("New = %v", err)
		}
		return s
	})
}

// newTest returns a store on a fake clock whose janitor never runs by itself.
func newTest(t testing.TB, max int) (*Store, *storetest.Clock) {
	clock := storetest.NewClock()
	s, err := New(Options{MaxEntries: max, SweepInterval: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"zero value", Options{}, false},
		{"explicit", Options{MaxEntries: 10, SweepInterval: time.Second}, false},
		{"negative max", Options{MaxEntries: -1}, true},
		{"negative sweep interval", Options{SweepInterval: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%+v) error = %v, want error %v", tt.opts, err, tt.wantErr)
			}
			if s != nil {
				_ = s.Close()
			}
		})
	}
}

func TestExpiryBoundary(t *testing.T) {
	s, clock := newTest(t, 0)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10*time.Second - time.Nanosecond)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get just before expiry = %v, want nil", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get at expiry = %v, want ErrNotFound", err)
	}
}

func TestEviction(t *testing.T) {
	type op struct {
		key     string
		ttl     time.Duration
		touch   bool          // Touch instead of Set
		setNX   bool          // SetNX instead of Set
		advance time.Duration // advance the clock before the op
	}
	tests := []struct {
		name    string
		ops     []op
		present []string
		absent  []string
	}{
		{
			name: "expired entry first",
			ops: []op{
				{key: "a", ttl: time.Hour}, {key: "b", ttl: 2 * time.Second}, {key: "c", ttl: time.Hour},
				{key: "d", ttl: time.Hour, advance: 3 * time.Second},
			},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name: "closest to expiry when none expired",
			ops: []op{
				{key: "a", ttl: time.Hour}, {key: "b", ttl: 10 * time.Minute}, {key: "c", ttl: 2 * time.Hour},
				{key: "d", ttl: time.Hour},
			},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name: "a touched entry is kept",
			ops: []op{
				{key: "a", ttl: 10 * time.Minute}, {key: "b", ttl: time.Hour}, {key: "c", ttl: 2 * time.Hour},
				{key: "a", ttl: 3 * time.Hour, touch: true},
				{key: "d", ttl: time.Hour},
			},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
		{
			name: "replacing a key evicts nothing",
			ops: []op{
				{key: "a", ttl: time.Minute}, {key: "b", ttl: time.Hour}, {key: "c", ttl: 2 * time.Hour},
				{key: "a", ttl: time.Minute},
			},
			present: []string{"a", "b", "c"},
		},
		{
			name: "SetNX of a new key evicts too",
			ops: []op{
				{key: "a", ttl: time.Hour}, {key: "b", ttl: time.Minute}, {key: "c", ttl: 2 * time.Hour},
				{key: "d", ttl: time.Hour, setNX: true},
			},
			present: []string{"a", "c", "d"},
			absent:  []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newTest(t, 3)
			ctx := t.Context()
			for _, o := range tt.ops {
				clock.Advance(o.advance)
				var err error
				switch {
				case o.touch:
					err = s.Touch(ctx, o.key, o.ttl)
				case o.setNX:
					_, err = s.SetNX(ctx, o.key, []byte(o.key), o.ttl)
				default:
					err = s.Set(ctx, o.key, []byte(o.key), o.ttl)
				}
				if err != nil {
					t.Fatalf("op %+v = %v", o, err)
				}
				if n := s.Len(); n > 3 {
					t.Fatalf("Len() = %d after %+v, want <= 3", n, o)
				}
			}
			for _, k := range tt.present {
				if _, err := s.Get(ctx, k); err != nil {
					t.Errorf("Get(%q) = %v, want present", k, err)
				}
			}
			for _, k := range tt.absent {
				if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get(%q) = %v, want evicted", k, err)
				}
			}
		})
	}
}

func TestSweep(t *testing.T) {
	for _, n := range []int{5, sweepBatch + 7, 3 * sweepBatch} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, clock := newTest(t, 0)
			ctx := t.Context()
			for i := range n {
				if err := s.Set(ctx, fmt.Sprint("short", i), []byte("v"), time.Second); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				if err := s.Set(ctx, fmt.Sprint("long", i), []byte("v"), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(2 * time.Second)
			if got := s.Len(); got != n+2 {
				t.Fatalf("Len() before Sweep = %d, want %d", got, n+2)
			}
			if got := s.Sweep(); got != n {
				t.Fatalf("Sweep() = %d, want %d", got, n)
			}
			if got := s.Len(); got != 2 {
				t.Fatalf("Len() after Sweep = %d, want 2", got)
			}
		})
	}
}

// TestJanitor shows expired entries leave memory without anyone reading them.
func TestJanitor(t *testing.T) {
	s, err := New(Options{SweepInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(t.Context(), "k", []byte("v"), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(end) {
			t.Fatalf("Len() = %d long after expiry, want 0 (janitor not sweeping)", s.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsJanitor(t *testing.T) {
	s, err := New(Options{SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("janitor still running after Close returned")
	}
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkStore runs the benchmarks every store shares (Get, Set, SetNX+Take).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}

// BenchmarkSetEvicting measures a full store, where every new key evicts one.
func BenchmarkSetEvicting(b *testing.B) {
	s, err := New(Options{MaxEntries: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	value := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Set(ctx, fmt.Sprint(i), value, time.Duration(1+i%1000)*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatches: Matches is true only for the exact live value.
func TestMatches(t *testing.T) {
	s, clock := newTest(t, 0)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		value   string
		advance time.Duration
		want    bool
	}{
		{"same value", "k", "v1", 0, true},
		{"other value", "k", "v2", 0, false},
		{"prefix of the value", "k", "v", 0, false},
		{"absent key", "nope", "v1", 0, false},
		{"expired", "k", "v1", time.Minute, false},
	}
	for _, tt := range tests {
		clock.Advance(tt.advance)
		got, err := s.Matches(ctx, tt.key, []byte(tt.value))
		if err != nil || got != tt.want {
			t.Errorf("%s: Matches(%q, %q) = %v, %v, want %v", tt.name, tt.key, tt.value, got, err, tt.want)
		}
	}
	_ = s.Close()
	if _, err := s.Matches(ctx, "k", []byte("v1")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Matches after Close = %v, want ErrClosed", err)
	}
}
