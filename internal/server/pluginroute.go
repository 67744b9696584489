package server

import (
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/plugins"
)

// pluginRoute is what a plugin on r is told about its route: the public
// view (plugins.Route) of the parts of r a plugin has reason to read.
func pluginRoute(r *config.Route) *plugins.Route {
	return &plugins.Route{
		Name:      r.Name,
		Prefix:    r.Prefix,
		Auth:      string(r.Auth),
		WebSocket: r.WebSocket,
		Timeout:   r.Timeout.D(),
	}
}
