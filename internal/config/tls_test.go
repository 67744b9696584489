package config

import (
	"path/filepath"
	"testing"
	"time"
)

// TestTLSDefaults checks what server.tls, server.redirect_http and
// server.hsts become after defaults: HSTS on exactly for an https
// public_url, a year unless set, and the TLS files relative to the config.
func TestTLSDefaults(t *testing.T) {
	tests := []struct {
		name        string
		server      string
		wantHSTS    bool
		wantMaxAge  time.Duration
		wantCert    string
		wantACMEDir string
	}{
		{"plain http", `public_url: "http://127.0.0.1:8080"`, false, 365 * 24 * time.Hour, "", ""},
		{"https, TLS in front", `public_url: "https://app.example.com"`, true, 365 * 24 * time.Hour, "", ""},
		{"https, hsts off", "public_url: \"https://app.example.com\"\n  hsts: {enabled: false}", false, 365 * 24 * time.Hour, "", ""},
		{"https, max_age", "public_url: \"https://app.example.com\"\n  hsts: {max_age: 10m}", true, 10 * time.Minute, "", ""},
		{"tls files", "public_url: \"https://app.example.com\"\n  tls: {cert_file: tls/cert.pem, key_file: /etc/key.pem}",
			true, 365 * 24 * time.Hour, filepath.Join("conf", "tls/cert.pem"), ""},
		{"acme", "public_url: \"https://app.example.com\"\n  tls: {acme: {domains: [app.example.com], cache_dir: acme}}",
			true, 365 * 24 * time.Hour, "", filepath.Join("conf", "acme")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "server:\n  " + tt.server + "\n" + minimal
			cfg, err := Parse("conf/routes.yaml", []byte(src), WithLookupEnv(env()))
			if err != nil {
				t.Fatalf("Parse() error:\n%v\nsource:\n%s", err, src)
			}
			s := cfg.Server
			if *s.HSTS.Enabled != tt.wantHSTS || s.HSTS.MaxAge.D() != tt.wantMaxAge {
				t.Errorf("hsts = %v, %s; want %v, %s", *s.HSTS.Enabled, s.HSTS.MaxAge, tt.wantHSTS, tt.wantMaxAge)
			}
			if tt.wantCert != "" && (s.TLS == nil || s.TLS.CertFile != tt.wantCert || s.TLS.KeyFile != "/etc/key.pem") {
				t.Errorf("tls = %+v, want cert_file %q and key_file /etc/key.pem", s.TLS, tt.wantCert)
			}
			if tt.wantACMEDir != "" && (s.TLS == nil || s.TLS.ACME == nil || s.TLS.ACME.CacheDir != tt.wantACMEDir) {
				t.Errorf("tls = %+v, want acme.cache_dir %q", s.TLS, tt.wantACMEDir)
			}
		})
	}
}
