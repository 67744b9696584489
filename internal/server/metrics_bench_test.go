package server

import (
	"testing"
	"time"
)

// BenchmarkMetricsObserve is the metrics' cost per request: one requests
// counter and one duration observation, on label sets already seen.
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics()
	m.observe("plain", "GET", 200, time.Millisecond) // the children exist
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe("plain", "GET", 200, time.Millisecond)
		}
	})
}
