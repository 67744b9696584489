package httperr

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFoundThroughWrapping(t *testing.T) {
	err := fmt.Errorf("route x: %w", New(429, "rate limit exceeded"))
	var he *Error
	if !errors.As(err, &he) || he.Status != 429 || he.Message != "rate limit exceeded" {
		t.Fatalf("errors.As = %+v", he)
	}
	if got := New(404, "not found").Error(); got != "404 not found" {
		t.Errorf("Error() = %q", got)
	}
}
