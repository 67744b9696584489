package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse (or a plugin's Decode of what
// it accepted) panic, that every problem carries the file name, and that an
// accepted config satisfies the invariants the server relies on.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*.yaml")
	seeds = append(seeds, "testdata/valid.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("session: {secret: \"${X:-0123456789abcdef0123456789abcdef}\"}\nroutes: [{name: a, prefix: /, upstream: [\"http://h\"], plugins: {p: {a: [1, {b: 2}]}}}]\n"))
	lookup := env()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, WithLookupEnv(lookup))
		if err != nil {
			list, ok := err.(ErrorList)
			if !ok || len(list) == 0 {
				t.Fatalf("Parse() error %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("Parse() problem %#v lacks the file or a message", e)
				}
			}
			return
		}
		if len(cfg.Session.Secret) < minSecretLen {
			t.Fatalf("Parse() accepted a %d-byte secret", len(cfg.Session.Secret))
		}
		for _, r := range cfg.Routes {
			if (len(r.Upstreams) == 0) == (r.Static == "") || checkPrefix(r.Prefix) != "" || r.Timeout <= 0 {
				t.Fatalf("Parse() accepted an invalid route %+v", r)
			}
			if r.Auth != AuthNone && cfg.OIDC == nil {
				t.Fatalf("Parse() accepted auth %s without oidc", r.Auth)
			}
			for _, p := range r.Plugins {
				var v struct {
					Rate  int               `yaml:"rate"`
					Per   Duration          `yaml:"per"`
					Max   ByteSize          `yaml:"max"`
					Set   map[string]string `yaml:"set"`
					Inner *struct {
						Depth uint8 `yaml:"depth"`
					} `yaml:"inner"`
				}
				_ = p.Decode(&v)
				var m map[string]any
				_ = p.Decode(&m)
				_ = p.ErrorAt("a.b", "x")
			}
		}
	})
}

// FuzzExpand checks that expansion never panics, leaves text without "$"
// untouched, and that an escaped input ("$" doubled) comes back unchanged.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "plain", "${A}", "${A:-d}", "$$", "$${A}", "${", "${A", "a$b", "${A:-${B}}", "$"} {
		f.Add(s)
	}
	lookup := env("A", "alpha", "B", "${A}")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := expand(s, lookup)
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Fatalf("expand(%q) = %q, %v; want it unchanged", s, got, err)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		if back, err := expand(escaped, lookup); err != nil || back != s {
			t.Fatalf("expand(%q) = %q, %v; want %q", escaped, back, err, s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lookup := WithLookupEnv(env())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("testdata/valid.yaml", data, lookup); err != nil {
			b.Fatal(err)
		}
	}
}
