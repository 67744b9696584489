package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// CountTrips counts from now on the commands and pipelines c sends to
// Redis (a pipeline counts once: one round trip), so a test can tell a
// read served locally from one that went to Redis.
func CountTrips(c redis.UniversalClient) *atomic.Int64 {
	n := new(atomic.Int64)
	c.AddHook(tripHook{n})
	return n
}

type tripHook struct{ n *atomic.Int64 }

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}
