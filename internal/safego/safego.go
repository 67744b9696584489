// Package safego runs gatehouse's background goroutines so that a panic in
// one of them is logged, with its stack, instead of ending the process (an
// unrecovered panic in any goroutine kills every connection of every user).
// A long-lived loop is restarted after a pause, so that a bug on one input
// does not stop, say, the JWKS refresh for good.
package safego

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// RestartDelay is how long Loop waits before running a loop that panicked again.
const RestartDelay = time.Second

// Go runs fn in a new goroutine. A panic in fn is logged at ERROR as
// "panic in background goroutine" with name and the stack, and fn is over.
func Go(log *slog.Logger, name string, fn func()) {
	go func() {
		defer Recover(log, name)
		fn()
	}()
}

// Loop runs fn(ctx) in a new goroutine until it returns. When fn panics, the
// panic is logged (see Go) and fn runs again after RestartDelay, unless ctx
// has ended by then. The returned channel is closed when the loop is over
// for good.
func Loop(ctx context.Context, log *slog.Logger, name string, fn func(context.Context)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !runOnce(ctx, log, name, fn) {
			t := time.NewTimer(RestartDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// Every calls fn every interval in a new goroutine until ctx ends, through
// Loop: a panic in fn is logged and the ticking goes on after RestartDelay.
// The returned channel is closed when it is over (janitors use it).
func Every(ctx context.Context, log *slog.Logger, name string, interval time.Duration, fn func()) <-chan struct{} {
	return Loop(ctx, log, name, func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	})
}

// runOnce runs fn and reports whether it returned (false: it panicked).
func runOnce(ctx context.Context, log *slog.Logger, name string, fn func(context.Context)) (returned bool) {
	defer Recover(log, name)
	fn(ctx)
	return true
}

// Recover logs a panic in progress, if any, as Go does, and ends it: a
// goroutine of gatehouse's that must carry on after one piece of its work
// panicked defers it directly (defer safego.Recover(log, "name")).
func Recover(log *slog.Logger, name string) {
	v := recover()
	if v == nil {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	log.Error("panic in background goroutine",
		"goroutine", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}
