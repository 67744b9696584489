package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// logger is the one SetLogger was given; nil means slog.Default().
var logger atomic.Pointer[slog.Logger]

// SetLogger routes go-redis's own log lines (a failed dial, a pool problem)
// to l at Warn level, instead of the standard logger's stderr, and makes l
// the Logger of the Redis users in the process. go-redis keeps one logger
// per process: call it once, from main, before opening stores.
func SetLogger(l *slog.Logger) {
	logger.Store(l)
	redis.SetLogger(slogAdapter{l})
}

// Logger returns the logger given to SetLogger, or slog.Default() before
// SetLogger: the one for what the process's Redis users log about Redis
// itself (such as Redis being unreachable at start-up).
func Logger() *slog.Logger {
	if l := logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// slogAdapter implements go-redis's Logging interface on slog.
type slogAdapter struct{ l *slog.Logger }

// Printf implements go-redis's Logging.
func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	a.l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
