package config

import (
	"encoding"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodeVisits bounds the nodes one decode may visit. Aliases can make a
// small document expand exponentially ("billion laughs"); a real config visits
// a few thousand nodes at most, so the bound is far above any real need.
const maxNodeVisits = 1 << 17

var (
	pluginConfigType = reflect.TypeFor[PluginConfig]()
	routeType        = reflect.TypeFor[Route]()
	positionType     = reflect.TypeFor[Position]()
	yamlNodeType     = reflect.TypeFor[yaml.Node]()
	durationType     = reflect.TypeFor[time.Duration]()
	sameSiteType     = reflect.TypeFor[http.SameSite]()
	urlType          = reflect.TypeFor[*url.URL]()
	prefixType       = reflect.TypeFor[netip.Prefix]()
	unmarshalerType  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshType  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decoder decodes YAML nodes into Go values strictly: every key must name a
// field, every scalar must parse as its field's type, and each problem is
// recorded with its position instead of stopping the decode.
type decoder struct {
	file   string
	errs   ErrorList
	visits int

	// pos and failed, when non-nil, record for each decoded value (keyed by
	// its address, e.g. *string) where its YAML value stands and whether it
	// failed to decode, so that validation can place its messages and avoid
	// repeating a problem already reported.
	pos    map[any]Position
	failed map[any]bool
	// badNodes are scalars whose ${VAR} expansion failed (already reported).
	badNodes map[*yaml.Node]bool
	// text, when non-nil, records the text each *url.URL was parsed from
	// (keyed by its address, a **url.URL), for validation: its messages
	// quote what the user wrote, and a few rules (an empty "#") are not
	// visible in the parsed URL.
	text map[any]string
}

// loc says where in the document a value is, for messages: where is a label
// such as `route "users"` or `route "users": plugin cache`, path the dotted
// key path below it.
type loc struct {
	where, path string
}

func (l loc) key(k string) loc {
	if l.path != "" {
		k = l.path + "." + k
	}
	return loc{l.where, k}
}

func (l loc) index(i int) loc {
	return loc{l.where, l.path + "[" + strconv.Itoa(i) + "]"}
}

// list returns the loc of the list l is an element of (l without its
// trailing [i]), or l when it is no list element.
func (l loc) list() loc {
	if i := strings.LastIndexByte(l.path, '['); i >= 0 && strings.HasSuffix(l.path, "]") {
		l.path = l.path[:i]
	}
	return l
}

// prefix returns "where: path: " (the parts that are set), ready to precede a message.
func (l loc) prefix() string {
	switch {
	case l.where != "" && l.path != "":
		return l.where + ": " + l.path + ": "
	case l.where != "":
		return l.where + ": "
	case l.path != "":
		return l.path + ": "
	}
	return ""
}

func nodePos(n *yaml.Node) Position { return Position{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(p Position, l loc, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: p.Line, Col: p.Col, Msg: l.prefix() + fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(v reflect.Value) {
	if d.failed != nil && v.CanAddr() {
		d.failed[v.Addr().Interface()] = true
	}
}

// kindName names a node's kind for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode decodes n into v (which must be settable). key is the mapping key
// that n is the value of, or nil for a list element or the document root.
func (d *decoder) decode(key, n *yaml.Node, v reflect.Value, l loc) {
	at := n
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.visits++
	if d.visits == maxNodeVisits {
		d.errorf(nodePos(at), l, "document too complex: more than %d nodes after alias expansion", maxNodeVisits)
	}
	if d.visits >= maxNodeVisits {
		d.fail(v)
		return
	}
	if d.pos != nil && v.CanAddr() {
		d.pos[v.Addr().Interface()] = nodePos(at)
	}
	if d.badNodes[n] {
		d.fail(v)
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		d.decode(key, n.Content[0], v, l)
		return
	}
	if !d.decodeSpecial(key, at, n, v, l) {
		d.decodeKind(key, at, n, v, l)
	}
}

// decodeSpecial handles the types decoded by more than their kind. It
// reports whether it handled v.
func (d *decoder) decodeSpecial(key, at, n *yaml.Node, v reflect.Value, l loc) bool {
	t := v.Type()
	switch t {
	case pluginConfigType:
		p := PluginConfig{Node: n, File: d.file, Pos: nodePos(at)}
		if key != nil {
			p.Name = key.Value
			p.Pos = nodePos(key)
			// l is the loc of this value, e.g. {`route "x"`, "plugins.cache"} or
			// {"", "defaults.plugins.cache"}; the label drops the "plugins.cache".
			parent := l
			parent.path = strings.TrimSuffix(parent.path, key.Value)
			parent.path = strings.TrimSuffix(strings.TrimSuffix(parent.path, "."), "plugins")
			parent.path = strings.TrimSuffix(parent.path, ".")
			p.Where = pluginWhere(parent, key.Value)
		}
		v.Set(reflect.ValueOf(p))
		return true
	case yamlNodeType:
		v.Set(reflect.ValueOf(*n))
		return true
	case durationType:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			break
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.errorf(nodePos(at), l, "%v", err)
			d.fail(v)
			return true
		}
		v.SetInt(int64(dur))
		return true
	case urlType:
		d.decodeURL(at, n, v, l)
		return true
	case prefixType:
		p, ok := parsePrefix(n.Value)
		switch {
		case n.Kind != yaml.ScalarNode || isNull(n):
			d.errorf(nodePos(at), l.list(), "want an IP address or CIDR, got %s", kindName(n))
		case !ok:
			d.errorf(nodePos(at), l.list(), "%q is not an IP address or CIDR", n.Value)
		default:
			v.Set(reflect.ValueOf(p))
			return true
		}
		d.fail(v)
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
			d.errorf(nodePos(at), loc{where: l.where}, `%s must be "lax" or "strict", got %s`, l.path, kindName(n))
			d.fail(v)
		}
		return true
	}
	if isNull(n) {
		// An empty value leaves the field as it is, like an absent key, except
		// that pointers, maps, slices and interfaces become nil (as in yaml.v3).
		switch t.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return true
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) && v.CanAddr() {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(nodePos(at), l, "%v", err)
			d.fail(v)
		}
		return true
	}
	if reflect.PointerTo(t).Implements(textUnmarshType) && v.CanAddr() && n.Kind == yaml.ScalarNode {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(nodePos(at), l, "invalid value %q: %v", n.Value, err)
			d.fail(v)
		}
		return true
	}
	return false
}

// decodeURL parses a URL scalar into v, a *url.URL, once: the consumers
// take the parsed value. An empty value leaves v nil (the default applies);
// what the URL must look like is each field's rule, checked by validation.
func (d *decoder) decodeURL(at, n *yaml.Node, v reflect.Value, l loc) {
	switch {
	case isNull(n):
		v.SetZero()
		return
	case n.Kind != yaml.ScalarNode:
		d.errorf(nodePos(at), l, "want a URL, got %s", kindName(n))
		d.fail(v)
		return
	case n.Value == "":
		return // the default applies
	}
	if d.text != nil && v.CanAddr() {
		d.text[v.Addr().Interface()] = n.Value
	}
	u, err := url.Parse(n.Value)
	if err != nil {
		d.errorf(nodePos(at), loc{where: l.where}, "%s %q is not a valid URL", l.path, n.Value)
		d.fail(v)
		return
	}
	v.Set(reflect.ValueOf(u))
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

func (d *decoder) decodeKind(key, at, n *yaml.Node, v reflect.Value, l loc) {
	p := nodePos(at)
	wrong := func(want string) {
		d.errorf(p, l, "want %s, got %s", want, kindName(n))
		d.fail(v)
	}
	scalar := n.Kind == yaml.ScalarNode
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeKindOrSpecial(key, at, n, v.Elem(), l)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(p, l, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			d.fail(v)
			return
		}
		if x != nil {
			xv := reflect.ValueOf(x)
			if !xv.Type().AssignableTo(v.Type()) {
				wrong("a value of type " + v.Type().String())
				return
			}
			v.Set(xv)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			wrong("a mapping")
			return
		}
		d.decodeStruct(key, n, v, l)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			wrong("a mapping")
			return
		}
		d.decodeMap(n, v, l)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			wrong("a list")
			return
		}
		d.decodeSlice(n, v, l)
	case reflect.String:
		if !scalar {
			wrong("a string")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		switch {
		case !scalar:
			wrong("true or false")
		case n.Value == "true" || n.Value == "True" || n.Value == "TRUE":
			v.SetBool(true)
		case n.Value == "false" || n.Value == "False" || n.Value == "FALSE":
			v.SetBool(false)
		default:
			wrong("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !scalar {
			wrong("an integer")
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.numError(p, l, v, n.Value, err, "an integer")
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !scalar {
			wrong("a non-negative integer")
			return
		}
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.numError(p, l, v, n.Value, err, "a non-negative integer")
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if !scalar {
			wrong("a number")
			return
		}
		f, err := strconv.ParseFloat(n.Value, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.numError(p, l, v, n.Value, err, "a number")
			return
		}
		v.SetFloat(f)
	default:
		// A programmer error in a plugin's Config type, reported rather than panicking.
		d.errorf(p, l, "cannot decode into Go type %s", v.Type())
		d.fail(v)
	}
}

func (d *decoder) decodeKindOrSpecial(key, at, n *yaml.Node, v reflect.Value, l loc) {
	if !d.decodeSpecial(key, at, n, v, l) {
		d.decodeKind(key, at, n, v, l)
	}
}

func (d *decoder) numError(p Position, l loc, v reflect.Value, s string, err error, want string) {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		d.errorf(p, l, "%q is out of range", s)
	} else {
		d.errorf(p, l, "want %s, got %q", want, s)
	}
	d.fail(v)
}

// field is a struct field reachable by a YAML key (through inline structs).
type field struct {
	index []int
}

// structFields maps YAML keys to fields the way yaml.v3 does: the yaml tag's
// name, else the lower-cased field name; "-" and unexported fields are
// skipped; ",inline" structs lend their fields.
func structFields(t reflect.Type) (map[string]field, []string) {
	fields := map[string]field{}
	var names []string
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			index := append(append([]int(nil), prefix...), i)
			if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := fields[name]; !dup {
				fields[name] = field{index: index}
				names = append(names, name)
			}
		}
	}
	walk(t, nil)
	return fields, names
}

// mapPairs returns the key/value pairs of a mapping node and reports
// duplicate and merge ("<<") keys, which yaml.Node parsing lets through.
func (d *decoder) mapPairs(n *yaml.Node, l loc) [][2]*yaml.Node {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(nodePos(k), l, "mapping keys must be plain strings")
			continue
		}
		if k.Value == "<<" && k.Style == 0 {
			d.errorf(nodePos(k), l, "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(nodePos(k), l, "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		pairs = append(pairs, [2]*yaml.Node{k, val})
	}
	return pairs
}

func (d *decoder) decodeStruct(key, n *yaml.Node, v reflect.Value, l loc) {
	t := v.Type()
	fields, names := structFields(t)
	if f, ok := t.FieldByName("Pos"); ok && f.Type == positionType {
		p := nodePos(n)
		if key != nil {
			p = nodePos(key)
		}
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(p))
	}
	for _, kv := range d.mapPairs(n, l) {
		k, val := kv[0], kv[1]
		if t == routeType && k.Value == "upstream" {
			d.decodeUpstream(k, val, v.Addr().Interface().(*Route), l.key("upstream"))
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if t == routeType {
				// Decoded by hand above (Upstreams has no key of its own).
				names = append(names, "upstream")
			}
			if s := Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(nodePos(k), l, "%s", msg)
			continue
		}
		d.decode(k, val, v.FieldByIndex(f.index), l.key(k.Value))
	}
}

// decodeUpstream accepts one URL or a list of URLs under a route's "upstream".
func (d *decoder) decodeUpstream(k, n *yaml.Node, r *Route, l loc) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		r.Upstreams = make([]string, 1)
		d.decode(k, n, reflect.ValueOf(&r.Upstreams[0]).Elem(), l)
		if d.pos != nil {
			d.pos[&r.Upstreams] = nodePos(n)
		}
		return
	}
	d.decode(k, n, reflect.ValueOf(&r.Upstreams).Elem(), l)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, l loc) {
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	for _, kv := range d.mapPairs(n, l) {
		k, val := kv[0], kv[1]
		kl := l.key(k.Value)
		kv := reflect.New(t.Key()).Elem()
		before := len(d.errs)
		d.decodeKindOrSpecial(nil, k, k, kv, l)
		if len(d.errs) > before {
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old)
		}
		before = len(d.errs)
		d.decode(k, val, ev, kl)
		v.SetMapIndex(kv, ev)
		if t.Key().Kind() == reflect.String && d.pos != nil && d.failed != nil {
			// Map entries are not addressable: validation finds an entry's
			// key position, and whether its value failed, by entryOf.
			e := entryOf(v, k.Value)
			d.pos[e] = nodePos(k)
			d.failed[e] = len(d.errs) > before
		}
	}
}

// mapEntry names one entry of a decoded map with string keys, for the
// decoder's pos and failed records (see entryOf).
type mapEntry struct {
	m   uintptr // the map's identity (reflect.Value.Pointer)
	key string
}

// entryOf returns the record key of m's entry key; m is a map with string
// keys (a reflect.Value, or the map itself).
func entryOf(m any, key string) mapEntry {
	v, ok := m.(reflect.Value)
	if !ok {
		v = reflect.ValueOf(m)
	}
	return mapEntry{v.Pointer(), key}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, l loc) {
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	// Set first so that the positions recorded for the elements are the
	// addresses the caller will see.
	v.Set(s)
	for i, item := range n.Content {
		il := l.index(i)
		if v.Type().Elem() == routeType {
			il = loc{where: routeLabel(routeName(item), i)}
		}
		d.decode(nil, item, v.Index(i), il)
	}
}

// pluginWhere labels a plugin block for messages: `route "x": plugin cache`.
func pluginWhere(parent loc, name string) string {
	return parent.prefix() + "plugin " + name
}

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

// maxSuggestDistance is the largest edit distance at which an unknown key is
// taken for a typo of a known one.
const maxSuggestDistance = 2

// Suggest returns the candidate closest to s when it is close enough to be a
// likely typo (an edit distance of at most 2, and at most a third of the
// candidate's length, so that short keys are not matched by anything) and
// no other candidate is as close; else "".
func Suggest(s string, candidates []string) string {
	best, bestDist, tie := "", 0, false
	for _, c := range candidates {
		dist := editDistance(s, c)
		if dist > min(maxSuggestDistance, max(1, len(c)/3)) {
			continue
		}
		switch {
		case best == "" || dist < bestDist:
			best, bestDist, tie = c, dist, false
		case dist == bestDist:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// characters ("burts" → "burst") each cost one.
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[(i+1)%3], rows[(i+2)%3], rows[i%3]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
	}
	return rows[len(a)%3][len(b)]
}

// reflectValue returns the settable value ptr points to.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
