package cache

import (
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/backend/memory"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

func TestParseCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want cacheControl
	}{
		{name: "empty", in: nil, want: cacheControl{maxAge: -1, sMaxAge: -1}},
		{name: "ages", in: []string{"public, max-age=60, s-maxage=120"}, want: cacheControl{public: true, maxAge: 60, sMaxAge: 120}},
		{name: "case and spaces", in: []string{" No-Store ,PRIVATE , Max-Age = 5"}, want: cacheControl{noStore: true, private: true, maxAge: 5, sMaxAge: -1}},
		{name: "quoted age", in: []string{`max-age="30"`}, want: cacheControl{maxAge: 30, sMaxAge: -1}},
		{name: "qualified private counts whole", in: []string{`private="Set-Cookie, X-A", max-age=9`}, want: cacheControl{private: true, maxAge: 9, sMaxAge: -1}},
		{name: "qualified no-cache counts whole", in: []string{`no-cache="Set-Cookie"`}, want: cacheControl{noCache: true, maxAge: -1, sMaxAge: -1}},
		{name: "conflicting ages keep the smallest", in: []string{"max-age=60", "max-age=10"}, want: cacheControl{maxAge: 10, sMaxAge: -1}},
		{name: "invalid age is stale", in: []string{"max-age=abc"}, want: cacheControl{maxAge: 0, sMaxAge: -1}},
		{name: "negative age is stale", in: []string{"max-age=-5"}, want: cacheControl{maxAge: 0, sMaxAge: -1}},
		{name: "huge age saturates", in: []string{"max-age=99999999999999999999999"}, want: cacheControl{maxAge: 1 << 31, sMaxAge: -1}},
		{name: "must-revalidate", in: []string{"proxy-revalidate"}, want: cacheControl{mustRevalidate: true, maxAge: -1, sMaxAge: -1}},
		{name: "unknown ignored", in: []string{"immutable, stale-while-revalidate=30, x-very-long-extension-directive=1"}, want: cacheControl{maxAge: -1, sMaxAge: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vals [][]byte
			for _, v := range tt.in {
				vals = append(vals, []byte(v))
			}
			if got := parseCacheControl(vals...); got != tt.want {
				t.Errorf("parseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseCacheControl: any header value parses without panic, and ages
// are either absent (-1) or within [0, 2^31].
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=1", `private="a,b", no-store`, `x="\"`, ",,,", "s-maxage=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cc := parseCacheControl([]byte(in))
		for _, age := range []int64{cc.maxAge, cc.sMaxAge} {
			if age < -1 || age > 1<<31 {
				t.Fatalf("parseCacheControl(%q) age %d out of range", in, age)
			}
		}
	})
}

func TestParseVary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want []string
		ok   bool
	}{
		{in: nil, want: nil, ok: true},
		{in: []string{"accept-encoding, Accept"}, want: []string{"Accept", "Accept-Encoding"}, ok: true},
		{in: []string{"Accept", "accept"}, want: []string{"Accept"}, ok: true},
		{in: []string{"Accept, *"}, ok: false},
	}
	for _, tt := range tests {
		var vals [][]byte
		for _, v := range tt.in {
			vals = append(vals, []byte(v))
		}
		got, ok := parseVary(vals)
		if ok != tt.ok || len(got) != len(tt.want) || (ok && len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("parseVary(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// BenchmarkCacheHit is the plugin's cost to answer a private-cache hit.
func BenchmarkCacheHit(b *testing.B) {
	spec := plugintest.Spec(b, "ttl: 1h")
	cfg, err := parse(spec)
	if err != nil {
		b.Fatalf("parse = %v", err)
	}
	m := newCache(spec, cfg, newEntries(memory.NewCache(backend.CacheOptions{}, nil), int64(cfg.MaxEntryBytes), nil), time.Now)
	upstream := 0
	h := m.middleware(func(c *fiber.Ctx) error {
		upstream++
		c.Set("Content-Type", "application/json")
		c.Set("Cache-Control", "max-age=3600")
		return c.SendString(`{"id":1,"name":"alice","email":"alice@example.com"}`)
	})
	id := &request.Identity{SessionID: "QmFzZTY0U2Vzc2lvbklkZW50aWZpZXIwMTIzNDU2Nzg", Subject: "alice"}
	plugintest.Bench(b, h, id, nil)
	if upstream != 1 {
		b.Fatalf("upstream calls = %d, want 1", upstream)
	}
}
