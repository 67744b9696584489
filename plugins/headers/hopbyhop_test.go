package headers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// TestHopByHopFieldsRefused: no rule may set, add or remove a field of the
// hop-by-hop table, on either side, in any spelling (the proxy drops them, so
// such a rule would silently do nothing, or worse, reframe a message).
func TestHopByHopFieldsRefused(t *testing.T) {
	t.Parallel()
	for _, name := range hopbyhop.Fields {
		for _, side := range []string{"request", "response"} {
			for _, spelling := range []string{name, strings.ToUpper(name), strings.ToLower(name)} {
				for _, block := range []string{
					fmt.Sprintf("%s: {set: {%s: v}}", side, spelling),
					fmt.Sprintf("%s: {add: {%s: v}}", side, spelling),
					fmt.Sprintf("%s: {remove: [%s]}", side, spelling),
				} {
					_, err := New(plugintest.Spec(t, block))
					if want := "header " + name + " cannot be changed"; err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("New(%q) = %v, want an error with %q", block, err, want)
					}
				}
			}
		}
	}
}
