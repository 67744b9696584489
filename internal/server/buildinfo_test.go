package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

// TestBuildInfoMetric: /metrics has exactly one gatehouse_build_info series,
// 1, labelled with this build's version, revision and Go version.
func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	bi := buildinfo.Get()
	want := fmt.Sprintf("gatehouse_build_info{goversion=%q,revision=%q,version=%q} 1", bi.GoVersion, bi.Revision, bi.Version)
	var got []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "gatehouse_build_info") {
			got = append(got, line)
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("/metrics build info = %q, want [%q]", got, want)
	}
}
