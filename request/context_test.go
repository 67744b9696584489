package plugins

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRequestContext(t *testing.T) {
	t.Run("before its end", func(t *testing.T) {
		dl := time.Now().Add(time.Hour)
		ctx, end := NewRequestContext("req-1", dl)
		defer end()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(dl) {
			t.Errorf("Deadline() = %v %v", d, ok)
		}
		if ctx.Err() != nil || RequestIDFrom(ctx) != "req-1" || ctx.Value("other") != nil {
			t.Errorf("Err %v, id %q", ctx.Err(), RequestIDFrom(ctx))
		}
		select {
		case <-ctx.Done():
			t.Fatal("Done closed early")
		default:
		}
	})
	t.Run("end, then Done", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(time.Hour))
		end()
		end() // twice is harmless
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("Done, then end", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(time.Hour))
		done := ctx.Done()
		end()
		<-done
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("the deadline closes Done", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(20*time.Millisecond))
		defer end()
		<-ctx.Done() // the test's own timeout is the guard
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
		}
		end()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("end after the deadline changed Err to %v", ctx.Err())
		}
	})
	t.Run("a passed deadline without Done", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(-time.Second))
		defer end()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
		}
		<-ctx.Done()
	})
	t.Run("Err notices the deadline after Done was taken", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(10*time.Millisecond))
		defer end()
		done := ctx.Done()
		for ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		<-done
	})
	t.Run("a derived context ends with it", func(t *testing.T) {
		ctx, end := NewRequestContext("r", time.Now().Add(time.Hour))
		child, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		end()
		<-child.Done()
		if !errors.Is(child.Err(), context.Canceled) || RequestIDFrom(child) != "r" {
			t.Errorf("child Err %v id %q", child.Err(), RequestIDFrom(child))
		}
	})
}

// TestRequestContextConcurrent: Done, Err and end from many goroutines at
// once (run under -race); every Done channel closes, exactly once.
func TestRequestContextConcurrent(t *testing.T) {
	for range 100 {
		ctx, end := NewRequestContext("r", time.Now().Add(time.Millisecond))
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 3 {
				case 0:
					<-ctx.Done()
				case 1:
					_ = ctx.Err()
				default:
					end()
				}
			}()
		}
		wg.Wait()
		<-ctx.Done()
		if ctx.Err() == nil {
			t.Fatal("a closed context has no Err")
		}
	}
}

func BenchmarkRequestContext(b *testing.B) {
	b.Run("gatehouse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, end := NewRequestContext("id", time.Now().Add(30*time.Second))
			_ = ctx.Err()
			end()
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), requestIDKey{}, "id"), 30*time.Second)
			_ = ctx.Err()
			cancel()
		}
	})
}
