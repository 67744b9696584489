// Package plugins is the registry of per-route plugins and the contract they implement.
//
// A plugin is a named unit that registers itself in init() with Register. For
// every route that names it (directly or through the top-level defaults block),
// the gateway calls the plugin's New with the route's YAML block; New validates
// the block strictly and returns a Middleware wrapping the rest of the chain.
// Plugins run in ascending Phase order, whatever the order in the YAML file.
//
// To add a plugin: write a package that calls Register in init, and blank-import
// it from a main of your own next to plugins/all (see docs/plugins.md).
//
// # Checking without starting
//
// `gatehouse validate` (server.Check) calls every New with Spec.Check set:
// New then validates its block, reports every problem as usual, and returns
// before it builds anything that lives past the call: no goroutine (a
// janitor), no connection, no backend. The Middleware it returns then is
// discarded and may be nil. A flag rather than an already-cancelled Ctx, so
// that a plugin need not start work only to see it end, and the check leaves
// nothing behind the moment New returns.
package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/internal/seal"
)

// Phase orders plugins within a route's chain: lower phases run first (outermost).
type Phase int

// The built-in phases. A third-party plugin picks one of these or a value between them.
const (
	PhaseAdmission Phase = 100 // rate limiting, quotas: reject before any work
	PhaseCache     Phase = 200 // response caching: may answer without the upstream
	PhaseRewrite   Phase = 300 // header and request/response rewrites, closest to the upstream
)

// Middleware wraps the next handler of a route's chain. It may answer early
// (return an error or write a response without calling next) or call next and
// then alter the response.
type Middleware func(next fiber.Handler) fiber.Handler

// Spec is what a plugin's New receives for one route.
type Spec struct {
	// Ctx lives as long as the loaded config; background work (janitors) must end with it.
	Ctx context.Context
	// Route is the route the plugin is attached to.
	Route *Route
	// Config is the plugin's own YAML block; decode it with Config.Decode.
	Config conf.PluginConfig
	// Backends opens the plugin instance's state backends (a keyed limiter,
	// a cache store) on the process's state store, session.store: memory,
	// or the one Redis client every plugin and the sessions share. They are
	// namespaced to this plugin on this route, outlive reloads, and are
	// never closed by the plugin. Nil under Check.
	Backends backend.Backends
	// Logger is tagged with the route and plugin names.
	Logger *slog.Logger
	// Check asks New only to validate the block: it must start nothing
	// (see "Checking without starting" above) and may return a nil
	// Middleware. Set by server.Check for `gatehouse validate`.
	Check bool
	// Inner are the plugins this one wraps on its route (later phases,
	// closer to the upstream: their responses pass through this one), each
	// with the Facts it tells of its block. Only plugins with something to
	// tell are listed. Set under Check too.
	Inner []Inner
	// Secret is a 32-byte key for this plugin instance, derived from
	// session.secret (HKDF, label "gatehouse plugin " + plugin name + route
	// name; see DeriveSecret): every replica with the same session.secret
	// gets the same key. Plugins that keep data outside the process seal it
	// with it. Nil when no key could be derived: such a plugin must refuse
	// to load rather than store in clear.
	Secret []byte
}

// Route is what a plugin is told about the route it is attached to: the
// parts of the route's config a plugin has reason to read, already
// validated and defaulted.
type Route struct {
	// Name identifies the route in logs, metrics and errors; unique.
	Name string
	// Prefix is the canonical path prefix the route serves ("/api/users").
	Prefix string
	// Auth is how the route authenticates its callers: "session",
	// "bearer", "any" or "none" (request.From(c).Identity is then nil).
	Auth string
	// WebSocket is set when the route carries WebSocket upgrades: a
	// plugin's response edits do not apply to a socket's frames.
	WebSocket bool
	// Timeout is the route's deadline for each request (its context,
	// request.From(c).Context(), ends then).
	Timeout time.Duration
}

// Facts is what a plugin's block tells the plugins that wrap it on its
// route (Spec.Inner) about the responses it makes, so that none of them
// needs to read another plugin's config. The zero Facts tells nothing.
type Facts struct {
	// IdentityDependent is set when a response depends on who the caller
	// is or where it calls from (the headers plugin: a response header
	// filled from a claim or from the client's address): a plugin that
	// keeps responses for other callers, the cache with public: true, must
	// then refuse to load.
	IdentityDependent bool
	// What names, for the operator, what makes a response depend on the
	// caller ("{claim.*} response headers").
	What string
}

// Inner is one plugin a plugin wraps on its route, and what it tells.
type Inner struct {
	// Name is the plugin's name ("headers").
	Name string
	Facts
}

// SecretLen is the length of Spec.Secret.
const SecretLen = seal.KeyLen

// secretLabel prefixes the HKDF info of every plugin key. Changing it makes
// every sealed plugin value unreadable; bump the version on purpose only.
const secretLabel = "gatehouse plugin "

// DeriveSecret returns the Spec.Secret of plugin on route: HKDF-SHA256 of
// sessionSecret with info "gatehouse plugin " + plugin + NUL + route. The
// NUL keeps plugin "ab" on route "c" apart from plugin "a" on route "bc".
// It returns nil only when HKDF refuses the secret (FIPS 140-only mode with
// a secret under 112 bits, which config validation already rejects).
func DeriveSecret(sessionSecret, plugin, route string) []byte {
	key, err := seal.Derive([]byte(sessionSecret), secretLabel+plugin+"\x00"+route)
	if err != nil {
		return nil
	}
	return key
}

// Plugin describes one registered plugin.
type Plugin struct {
	// Name is the key used under plugins: in routes.yaml.
	Name string
	// Phase fixes the plugin's place in the chain.
	Phase Phase
	// New validates spec.Config and builds the middleware. Errors should carry
	// positions (conf.PluginConfig.ErrorAt) so that validate can print FILE:LINE:COL.
	New func(spec Spec) (Middleware, error)
	// Facts, optional, tells what a block of this plugin does to responses,
	// for the plugins that wrap it (their Spec.Inner). The gateway calls it
	// at load, under Check too, before any New of the route, with the spec
	// New gets (less Backends). It must start nothing, and return the zero
	// Facts for a block New would refuse (New reports why).
	Facts func(spec Spec) Facts
}

var (
	mu       sync.RWMutex
	registry = map[string]Plugin{}
)

// Register adds a plugin to the registry. It panics on an empty or duplicate
// name or a nil New: those are programmer errors found at init.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if p.Name == "" || p.New == nil {
		panic("plugins: Register needs a name and a New function")
	}
	if _, dup := registry[p.Name]; dup {
		panic(fmt.Sprintf("plugins: %q registered twice", p.Name))
	}
	registry[p.Name] = p
}

// Lookup returns the plugin registered under name.
func Lookup(name string) (Plugin, bool) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// Names returns the registered plugin names in phase order (then by name).
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := registry[names[i]], registry[names[j]]
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		return a.Name < b.Name
	})
	return names
}
