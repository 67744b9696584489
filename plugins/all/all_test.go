package all

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/plugins"
)

// TestBuiltinsInPhaseOrder pins what ships and the documented run order.
func TestBuiltinsInPhaseOrder(t *testing.T) {
	want := []string{"rate_limit", "cache", "headers"}
	if got := plugins.Names(); !slices.Equal(got, want) {
		t.Errorf("plugins.Names() = %q, want %q", got, want)
	}
}
