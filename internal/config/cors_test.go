package config

import (
	"slices"
	"testing"
	"time"
)

// TestCORSDefaults checks the cors blocks after defaults: origins in the
// form browsers send (lower case, no default port, no trailing "/"),
// max_age 10m unless set, a route without its own block left nil (the
// top-level one applies) and an empty list kept (CORS off on that route).
func TestCORSDefaults(t *testing.T) {
	src := `server: {public_url: "http://api.example.com"}
cors:
  allowed_origins: ["https://App.Example.com:443/", "https://app.example.com:8443", "http://localhost:80"]
routes:
  - {name: a, prefix: /a, upstream: "http://127.0.0.1:1"}
  - {name: b, prefix: /b, upstream: "http://127.0.0.1:1", cors: {allowed_origins: ["https://b.example.com"], max_age: 1m}}
  - {name: c, prefix: /c, upstream: "http://127.0.0.1:1", cors: {allowed_origins: []}}
` + minimal
	cfg := mustParse(t, src, env())
	want := []string{"https://app.example.com", "https://app.example.com:8443", "http://localhost"}
	if got := cfg.CORS.AllowedOrigins; !slices.Equal(got, want) {
		t.Errorf("cors.allowed_origins = %q, want %q", got, want)
	}
	if cfg.CORS.MaxAge.D() != 10*time.Minute {
		t.Errorf("cors.max_age = %s, want 10m", cfg.CORS.MaxAge)
	}
	r := cfg.Routes
	if r[0].CORS != nil {
		t.Errorf("route a: cors = %+v, want nil (the top-level block applies)", r[0].CORS)
	}
	if r[1].CORS == nil || r[1].CORS.MaxAge.D() != time.Minute || !slices.Equal(r[1].CORS.AllowedOrigins, []string{"https://b.example.com"}) {
		t.Errorf("route b: cors = %+v, want its own block", r[1].CORS)
	}
	if r[2].CORS == nil || len(r[2].CORS.AllowedOrigins) != 0 {
		t.Errorf("route c: cors = %+v, want an empty block", r[2].CORS)
	}
}
