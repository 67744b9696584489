package cache

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// TestHitCarriesNoHopByHopField: a response carrying each field of the
// hop-by-hop table is cached without it, so a hit never replays one (the
// proxy strips them before the cache sees a response; the cache does not
// rely on that).
func TestHitCarriesNoHopByHopField(t *testing.T) {
	t.Parallel()
	// fasthttp writes these from its own framing, whatever a handler set.
	framing := map[string]bool{"Transfer-Encoding": true, "Trailer": true}
	for _, name := range hopbyhop.Fields {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "ttl: 30s")
			h.reply = headerReply(http.StatusOK, name, "v", "X-Kept", "k")
			for _, want := range []string{"MISS", "HIT"} {
				req := withIdentity(http.MethodGet, "/a", "alice")
				resp, _ := plugintest.Do(t, h.app, req)
				if got := resp.Header.Get("X-Cache"); got != want {
					t.Fatalf("X-Cache = %q, want %s", got, want)
				}
				if resp.Header.Get("X-Kept") != "k" {
					t.Errorf("%s: X-Kept = %q, want k", want, resp.Header.Get("X-Kept"))
				}
				got := resp.Header.Values(name)
				switch {
				case want == "HIT" && len(got) > 0:
					t.Errorf("hit %s = %q, want none", name, got)
				case want == "MISS" && len(got) == 0 && !framing[name]:
					t.Fatalf("miss has no %s: the upstream's field did not reach the cache", name)
				}
			}
		})
	}
}
