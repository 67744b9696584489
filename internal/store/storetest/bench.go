package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// benchValueSize is about one sealed session with JWT access and ID tokens.
const benchValueSize = 1500

// Bench runs the benchmarks every store shares, so implementations compare
// like with like: parallel Get and Set of session-sized values over 1000
// keys, and Take of single-use values. newStore returns a fresh, empty
// store; Bench closes it.
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {
	value := make([]byte, benchValueSize)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("storetest:bench:%043d", i)
	}
	open := func(b *testing.B) store.Store {
		s := newStore(b)
		b.Cleanup(func() { _ = s.Close() })
		return s
	}

	b.Run("Get", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		for _, k := range keys {
			if err := s.Set(ctx, k, value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := s.Get(ctx, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("Set", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := s.Set(ctx, keys[i%len(keys)], value, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("SetNXTake", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := keys[i%len(keys)]
			if ok, err := s.SetNX(ctx, k, value[:64], time.Minute); !ok || err != nil {
				b.Fatalf("SetNX = %v, %v", ok, err)
			}
			if _, err := s.Take(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
}
