package config

import (
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/conf"
)

// The file is decoded by conf.Decoder, the strict decoder plugins decode
// their blocks with; what only routes.yaml has goes through its Hook.
var (
	routesType   = reflect.TypeFor[[]Route]()
	sameSiteType = reflect.TypeFor[http.SameSite]()
	urlType      = reflect.TypeFor[*url.URL]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
)

// decoder decodes the config file: a conf.Decoder with its records (where
// each value was written, which failed) under the names validation uses.
type decoder struct {
	*conf.Decoder
	// pos and failed record for each decoded value (keyed by its address,
	// e.g. *string, or by entryOf) where its YAML value stands and whether
	// it failed to decode, so that validation can place its messages and
	// avoid repeating a problem already reported.
	pos    map[any]Position
	failed map[any]bool
	// badNodes are scalars whose ${VAR} expansion failed (already reported).
	badNodes map[*yaml.Node]bool
	// text records the text each *url.URL was parsed from (keyed by its
	// address, a **url.URL), for validation: its messages quote what the
	// user wrote, and a few rules (an empty "#") are not visible in the
	// parsed URL.
	text map[any]string
}

// newDecoder returns the decoder of file.
func newDecoder(file string) *decoder {
	d := &decoder{
		pos:      map[any]Position{},
		failed:   map[any]bool{},
		badNodes: map[*yaml.Node]bool{},
		text:     map[any]string{},
	}
	d.Decoder = &conf.Decoder{File: file, Positions: d.pos, Failed: d.failed, Skip: d.badNodes, Hook: d.hook}
	return d
}

// loc says where in the document a value is, for messages (conf.Loc).
type loc = conf.Loc

func (d *decoder) decode(key, n *yaml.Node, v reflect.Value, l loc) { d.Decode(key, n, v, l) }

func (d *decoder) errorf(p Position, l loc, format string, args ...any) {
	d.Errorf(p, l, format, args...)
}

func nodePos(n *yaml.Node) Position { return conf.NodePos(n) }

func isNull(n *yaml.Node) bool { return conf.IsNull(n) }

// entryOf returns the pos and failed key of m's entry key (conf.EntryOf).
func entryOf(m any, key string) any { return conf.EntryOf(m, key) }

// hook decodes the values only routes.yaml has: the list of routes (each
// labelled by its name in messages), URLs, IP prefixes and same_site.
func (d *decoder) hook(cd *conf.Decoder, key, at, n *yaml.Node, v reflect.Value, l loc) bool {
	switch v.Type() {
	case routesType:
		if n.Kind != yaml.SequenceNode {
			return false // the decoder's "want a list"
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			cd.Decode(nil, item, v.Index(i), loc{Where: routeLabel(routeName(item), i)})
		}
		return true
	case urlType:
		d.decodeURL(cd, at, n, v, l)
		return true
	case prefixType:
		p, ok := parsePrefix(n.Value)
		switch {
		case n.Kind != yaml.ScalarNode || isNull(n):
			cd.Errorf(nodePos(at), listOf(l), "want an IP address or CIDR, got %s", conf.KindName(n))
		case !ok:
			cd.Errorf(nodePos(at), listOf(l), "%q is not an IP address or CIDR", n.Value)
		default:
			v.Set(reflect.ValueOf(p))
			return true
		}
		cd.Fail(v)
		return true
	case sameSiteType:
		if isNull(n) {
			return true // the default applies
		}
		switch strings.ToLower(n.Value) {
		case "lax":
			v.SetInt(int64(http.SameSiteLaxMode))
		case "strict":
			v.SetInt(int64(http.SameSiteStrictMode))
		default:
			// "none" would send the cookie on cross-site requests: never for a BFF.
			cd.Errorf(nodePos(at), loc{Where: l.Where}, `%s must be "lax" or "strict", got %s`, l.Path, conf.KindName(n))
			cd.Fail(v)
		}
		return true
	}
	return false
}

// decodeURL parses a URL scalar into v, a *url.URL, once: the consumers
// take the parsed value. An empty value leaves v nil (the default applies);
// what the URL must look like is each field's rule, checked by validation.
func (d *decoder) decodeURL(cd *conf.Decoder, at, n *yaml.Node, v reflect.Value, l loc) {
	switch {
	case isNull(n):
		v.SetZero()
		return
	case n.Kind != yaml.ScalarNode:
		cd.Errorf(nodePos(at), l, "want a URL, got %s", conf.KindName(n))
		cd.Fail(v)
		return
	case n.Value == "":
		return // the default applies
	}
	if v.CanAddr() {
		d.text[v.Addr().Interface()] = n.Value
	}
	u, err := url.Parse(n.Value)
	if err != nil {
		cd.Errorf(nodePos(at), loc{Where: l.Where}, "%s %q is not a valid URL", l.Path, n.Value)
		cd.Fail(v)
		return
	}
	v.Set(reflect.ValueOf(u))
}

// listOf returns the loc of the list l is an element of (l without its
// trailing [i]), or l when it is no list element.
func listOf(l loc) loc {
	if i := strings.LastIndexByte(l.Path, '['); i >= 0 && strings.HasSuffix(l.Path, "]") {
		l.Path = l.Path[:i]
	}
	return l
}

// parsePrefix parses a CIDR ("10.0.0.0/8") or a single address ("::1") into
// the canonical prefix: masked, a single address at its full length
// without its zone, an IPv4-mapped IPv6 address as IPv4.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// pluginWhere labels a plugin block for messages: `route "x": plugin cache`.
func pluginWhere(parent loc, name string) string { return parent.PluginWhere(name) }

// routeName returns the scalar under "name" in a route's mapping, if any, so
// that messages about the route can name it before it is decoded.
func routeName(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// routeLabel names a route in messages: `route "users"`, or `route #3` (1-based)
// when it has no name.
func routeLabel(name string, i int) string {
	if name == "" {
		return "route #" + strconv.Itoa(i+1)
	}
	return "route " + strconv.Quote(name)
}

// Suggest returns the candidate closest to s when it is close enough to be
// a likely typo of it, else "" (conf.Suggest, the rule unknown keys use).
func Suggest(s string, candidates []string) string { return conf.Suggest(s, candidates) }

// reflectValue returns the settable value ptr points to.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
