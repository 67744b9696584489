package request

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
		ctx, end := newContext("req-1", dl)
		defer end()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(dl) {
			t.Errorf("Deadline() = %v %v", d, ok)
		}
		if ctx.Err() != nil || IDFrom(ctx) != "req-1" || ctx.Value("other") != nil {
			t.Errorf("Err %v, id %q", ctx.Err(), IDFrom(ctx))
		}
		select {
		case <-ctx.Done():
			t.Fatal("Done closed early")
		default:
		}
	})
	t.Run("end, then Done", func(t *testing.T) {
		ctx, end := newContext("r", time.Now().Add(time.Hour))
		end()
		end() // twice is harmless
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("Done, then end", func(t *testing.T) {
		ctx, end := newContext("r", time.Now().Add(time.Hour))
		done := ctx.Done()
		end()
		<-done
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
	t.Run("the deadline closes Done", func(t *testing.T) {
		ctx, end := newContext("r", time.Now().Add(20*time.Millisecond))
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
		ctx, end := newContext("r", time.Now().Add(-time.Second))
		defer end()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
		}
		<-ctx.Done()
	})
	t.Run("Err notices the deadline after Done was taken", func(t *testing.T) {
		ctx, end := newContext("r", time.Now().Add(10*time.Millisecond))
		defer end()
		done := ctx.Done()
		for ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		<-done
	})
	t.Run("a derived context ends with it", func(t *testing.T) {
		ctx, end := newContext("r", time.Now().Add(time.Hour))
		child, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		end()
		<-child.Done()
		if !errors.Is(child.Err(), context.Canceled) || IDFrom(child) != "r" {
			t.Errorf("child Err %v id %q", child.Err(), IDFrom(child))
		}
	})
}

// TestRequestContextConcurrent: Done, Err and end from many goroutines at
// once (run under -race); every Done channel closes, exactly once.
func TestRequestContextConcurrent(t *testing.T) {
	for range 100 {
		ctx, end := newContext("r", time.Now().Add(time.Millisecond))
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
			ctx, end := newContext("id", time.Now().Add(30*time.Second))
			_ = ctx.Err()
			end()
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), stateKey{}, "id"), 30*time.Second)
			_ = ctx.Err()
			cancel()
		}
	})
}

// newContext returns the context of a State with id that ends at deadline
// (none when zero), and its End.
func newContext(id string, deadline time.Time) (context.Context, func()) {
	s := &State{ID: id}
	s.ctx.state = s
	s.SetDeadline(deadline)
	return s.Context(), s.End
}

// A State without a deadline (the gateway's own endpoints before routing)
// has a context that ends only with the request.
func TestRequestContextWithoutDeadline(t *testing.T) {
	ctx, end := newContext("r", time.Time{})
	if _, ok := ctx.Deadline(); ok {
		t.Error("Deadline() reports one")
	}
	done := ctx.Done()
	if ctx.Err() != nil {
		t.Fatalf("Err = %v before End", ctx.Err())
	}
	select {
	case <-done:
		t.Fatal("Done closed before End")
	default:
	}
	end()
	<-done
	if !errors.Is(ctx.Err(), context.Canceled) || FromContext(ctx) == nil || IDFrom(ctx) != "r" {
		t.Errorf("after End: Err %v, id %q", ctx.Err(), IDFrom(ctx))
	}
	if IDFrom(context.Background()) != "" || FromContext(context.Background()) != nil {
		t.Error("a context of no request names one")
	}
}
