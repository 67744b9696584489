package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestSlogAdapter(t *testing.T) {
	var buf bytes.Buffer
	a := slogAdapter{slog.New(slog.NewTextHandler(&buf, nil))}
	a.Printf(context.Background(), "dial %s: %v", "127.0.0.1:1", "connection refused")
	a.Printf(nil, "no ctx %d", 1) //nolint:staticcheck // go-redis may pass a nil ctx
	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="redis client" detail="dial 127.0.0.1:1: connection refused"`,
		`detail="no ctx 1"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log = %q, want it to contain %q", got, want)
		}
	}
}
