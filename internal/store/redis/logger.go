package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetLogger routes go-redis's own log lines (a failed dial, a pool problem)
// to l at Warn level, instead of the standard logger's stderr. go-redis keeps
// one logger per process: call it once, from main, before opening stores.
func SetLogger(l *slog.Logger) { redis.SetLogger(slogAdapter{l}) }

// slogAdapter implements go-redis's Logging interface on slog.
type slogAdapter struct{ l *slog.Logger }

// Printf implements go-redis's Logging.
func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	a.l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
