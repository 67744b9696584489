package safego

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
)

// TestGoRecovers: a panicking goroutine is logged with its name and stack,
// and the process (this test) goes on.
func TestGoRecovers(t *testing.T) {
	var buf logtest.Buffer
	done := make(chan struct{})
	Go(slog.New(slog.NewJSONHandler(&buf, nil)), "janitor", func() {
		defer close(done)
		var m map[string]int
		m["x"]++
	})
	<-done
	waitFor(t, func() bool { return strings.Contains(buf.String(), "panic in background goroutine") })
	if s := buf.String(); !strings.Contains(s, `"goroutine":"janitor"`) || !strings.Contains(s, "safego_test.go") {
		t.Errorf("log: %s", s)
	}
}

// TestLoopRestarts: a loop that panics runs again (after RestartDelay) and
// ends for good when it returns.
func TestLoopRestarts(t *testing.T) {
	var buf logtest.Buffer
	var runs atomic.Int32
	finished := make(chan struct{})
	Loop(t.Context(), slog.New(slog.NewJSONHandler(&buf, nil)), "refresh", func(context.Context) {
		if runs.Add(1) == 1 {
			panic("first run fails")
		}
		close(finished)
	})
	<-finished
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	waitFor(t, func() bool { return strings.Contains(buf.String(), "first run fails") })
}

// TestLoopStopsWithContext: after a panic, an ended context stops the loop.
func TestLoopStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var runs atomic.Int32
	done := Loop(ctx, slog.New(slog.DiscardHandler), "x", func(context.Context) {
		runs.Add(1)
		cancel()
		panic("boom")
	})
	<-done // Loop checks ctx before the next run: it ends without one
	if n := runs.Load(); n > 1 {
		t.Errorf("%d runs after the context ended", n)
	}
}

// waitFor polls cond (bounded: the logger writes before the recover returns,
// so it holds almost at once).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

// TestEveryTicksAndStops: fn runs on every tick, a panicking tick does not
// end the ticking, and the loop is over once ctx ends.
func TestEveryTicksAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var n atomic.Int32
	done := Every(ctx, slog.New(slog.DiscardHandler), "ticker", time.Millisecond, func() {
		if n.Add(1) == 2 {
			panic("second tick")
		}
	})
	waitFor(t, func() bool { return n.Load() >= 4 })
	cancel()
	<-done
}
