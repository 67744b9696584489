package server

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestMetricsMethodLabelsUnderConcurrency sends the common methods concurrently, then scrapes /metrics: the scrape succeeds and
// each method is counted under its own exact label. A label borrowed from
// fasthttp's reused request buffer turned PATCH into "GETCH" and made the
// scrape fail with "collected before with the same name and label values".
func TestMetricsMethodLabelsUnderConcurrency(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	methods := []string{"GET", "PATCH", "PUT", "DELETE", "OPTIONS", "POST", "HEAD"}
	const perMethod = 40
	var wg sync.WaitGroup
	for _, m := range methods {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{}
				for range perMethod / 4 {
					req, _ := http.NewRequest(m, g.base+"/api/users/1", nil)
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}
	wg.Wait()

	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d: %s", resp.StatusCode, body)
	}
	want := map[string]bool{}
	for _, m := range methods {
		want[`gatehouse_requests_total{code="200",method="`+m+`",route="users"} 40`] = true
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, "gatehouse_requests_total{") {
			continue
		}
		if !want[line] {
			t.Errorf("unexpected series %q", line)
		}
		delete(want, line)
	}
	for line := range want {
		t.Errorf("missing series %q", line)
	}
}
