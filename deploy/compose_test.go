// Package deploy holds no code: its test checks docker-compose.yml the way
// `docker compose config` does, through compose-go (the loader the compose
// CLI uses: the compose-spec schema, interpolation, references between
// services), without a Docker engine.
package deploy

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// loadCompose loads ../docker-compose.yml with every profile's services, as
// `docker compose config` would with no .env file and no variables set.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(t.Context(), details, func(o *loader.Options) {
		o.SetProjectName("gatehouse-demo", true)
		o.Profiles = []string{"*"}
	})
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

// TestComposeConfig: the file is valid compose, and what it points at on
// disk (build contexts, Dockerfiles, bind-mounted files) exists.
func TestComposeConfig(t *testing.T) {
	p := loadCompose(t)
	for _, want := range []string{"gatehouse", "keycloak", "redis", "services", "prometheus"} {
		if _, err := p.GetService(want); err != nil {
			t.Errorf("service %s: %v", want, err)
		}
	}
	for _, svc := range p.Services {
		if b := svc.Build; b != nil {
			if _, err := os.Stat(filepath.Join(b.Context, b.Dockerfile)); err != nil {
				t.Errorf("service %s: build: %v", svc.Name, err)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s: volume: %v", svc.Name, err)
			}
		}
	}
}

// TestComposeGatehouse: the gatehouse service's health check is its
// readiness (/readyz on its own loopback listener, whose rules gate on this
// process only), its image is stamped by the build arguments, and its
// config lets the compose network read /metrics.
func TestComposeGatehouse(t *testing.T) {
	p := loadCompose(t)
	gh, err := p.GetService("gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	if hc := gh.HealthCheck; hc == nil || !slices.Equal(hc.Test,
		[]string{"CMD", "/usr/local/bin/gatehouse", "healthcheck", "-url", "http://127.0.0.1:8080/readyz"}) {
		t.Errorf("gatehouse healthcheck = %+v, want the binary probing http://127.0.0.1:8080/readyz", hc)
	}
	for _, arg := range []string{"VERSION", "REVISION"} {
		if _, ok := gh.Build.Args[arg]; !ok {
			t.Errorf("gatehouse build args %v lack %s", gh.Build.Args, arg)
		}
	}

	net, ok := p.Networks["default"]
	if !ok || len(net.Ipam.Config) != 1 {
		t.Fatalf("the default network has no pinned subnet: %+v", net)
	}
	subnet, err := netip.ParsePrefix(net.Ipam.Config[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SESSION_SECRET": strings.Repeat("s", 40), "OIDC_CLIENT_SECRET": "x"}
	cfg, err := config.Load("gatehouse/routes.yaml", config.WithLookupEnv(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}))
	if err != nil {
		t.Fatalf("deploy/gatehouse/routes.yaml: %v", err)
	}
	if !slices.Contains(cfg.Server.MetricsFrom, subnet) {
		t.Errorf("server.metrics_from %v lacks the compose network %s: prometheus could not scrape", cfg.Server.MetricsFrom, subnet)
	}
}
