package conf

import (
	"encoding"
	"fmt"
	"math"
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
	positionType     = reflect.TypeFor[Position]()
	yamlNodeType     = reflect.TypeFor[yaml.Node]()
	durationType     = reflect.TypeFor[time.Duration]()
	unmarshalerType  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshType  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// Decoder decodes YAML nodes into Go values strictly: every key must name a
// field, every scalar must parse as its field's type, and each problem is
// recorded with its position (in Errs) instead of stopping the decode. It is
// the decoder under PluginConfig.Decode, and the gateway's config loader
// runs the whole file through one, with its Hook; a plugin normally needs
// only PluginConfig.Decode.
//
// Keys map to fields by their yaml tags, as in yaml.v3 (the tag's name, else
// the lower-cased field name; "-" and unexported fields skipped; ",inline"
// structs lend their fields). Beyond yaml.v3:
//
//   - a key that names no field is an error, with a "did you mean" when it
//     is a likely typo of one (Suggest); so are duplicate and merge keys;
//   - time.Duration, Duration and ByteSize read "30s" and "10MB";
//   - a PluginConfig field takes the raw block under its key;
//   - a field Pos of type Position in a struct is set to where the struct's
//     key (or, without one, its mapping) stands;
//   - a list field tagged ",single" also accepts a single value, decoded as
//     a list of one;
//   - an empty value leaves a field as it is (as an absent key does), except
//     that pointers, maps, slices and interfaces become nil.
//
// A Decoder is for one document; it is not safe for concurrent use.
type Decoder struct {
	// File names the document in the errors' positions.
	File string
	// Errs are the problems found so far, in the order found.
	Errs ErrorList
	// Positions, when non-nil, receives where each decoded value stands,
	// keyed by its address (a *string, a *Duration, ...) or, for an entry of
	// a map with string keys, by EntryOf: validation after decoding places
	// its messages with it.
	Positions map[any]Position
	// Failed, when non-nil, receives the values (keyed as Positions) that
	// failed to decode: their problem is reported already, and validation
	// skips them.
	Failed map[any]bool
	// Skip lists nodes whose problem is reported already (a failed ${VAR}
	// expansion): a value they would fill is marked failed, not decoded.
	Skip map[*yaml.Node]bool
	// Hook, when non-nil, is offered every value before the decoder's own
	// rules, with the mapping key it is under (nil for a list element or the
	// root), the node as written (at, for positions), the node with aliases
	// resolved (n) and where it is (l). It returns true when it decoded v
	// itself, through Decode, Errorf and Fail.
	Hook func(d *Decoder, key, at, n *yaml.Node, v reflect.Value, l Loc) bool

	visits int
}

// Loc says where in the document a value is, for messages: Where is a label
// such as `route "users"` or `route "users": plugin cache`, Path the dotted
// key path below it.
type Loc struct {
	Where, Path string
}

// Key is the Loc of the value under key k.
func (l Loc) Key(k string) Loc {
	if l.Path != "" {
		k = l.Path + "." + k
	}
	return Loc{l.Where, k}
}

// Index is the Loc of the i-th (0-based) element of a list.
func (l Loc) Index(i int) Loc {
	return Loc{l.Where, l.Path + "[" + strconv.Itoa(i) + "]"}
}

// Prefix returns "where: path: " (the parts that are set), ready to precede a message.
func (l Loc) Prefix() string {
	switch {
	case l.Where != "" && l.Path != "":
		return l.Where + ": " + l.Path + ": "
	case l.Where != "":
		return l.Where + ": "
	case l.Path != "":
		return l.Path + ": "
	}
	return ""
}

// PluginWhere labels the block of plugin name under l for messages (a
// PluginConfig's Where): `route "x": plugin cache`.
func (l Loc) PluginWhere(name string) string {
	return l.Prefix() + "plugin " + name
}

// NodePos is where n stands in its document.
func NodePos(n *yaml.Node) Position { return Position{Line: n.Line, Col: n.Column} }

// Errorf records a problem at p, its message prefixed with l.
func (d *Decoder) Errorf(p Position, l Loc, format string, args ...any) {
	d.Errs = append(d.Errs, Error{File: d.File, Line: p.Line, Col: p.Col, Msg: l.Prefix() + fmt.Sprintf(format, args...)})
}

// Fail marks v (addressable) as failed to decode, in Failed.
func (d *Decoder) Fail(v reflect.Value) {
	if d.Failed != nil && v.CanAddr() {
		d.Failed[v.Addr().Interface()] = true
	}
}

// KindName names a node's kind for "want X, got Y" messages: "a mapping",
// "a list", or a scalar's quoted value.
func KindName(n *yaml.Node) string {
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

// IsNull reports whether n is an empty value (null, ~ or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Decode decodes n into v (which must be settable). key is the mapping key
// that n is the value of, or nil for a list element or the document root.
func (d *Decoder) Decode(key, n *yaml.Node, v reflect.Value, l Loc) {
	at := n
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.visits++
	if d.visits == maxNodeVisits {
		d.Errorf(NodePos(at), l, "document too complex: more than %d nodes after alias expansion", maxNodeVisits)
	}
	if d.visits >= maxNodeVisits {
		d.Fail(v)
		return
	}
	if d.Positions != nil && v.CanAddr() {
		d.Positions[v.Addr().Interface()] = NodePos(at)
	}
	if d.Skip[n] {
		d.Fail(v)
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		d.Decode(key, n.Content[0], v, l)
		return
	}
	if !d.decodeSpecial(key, at, n, v, l) {
		d.decodeKind(key, at, n, v, l)
	}
}

// decodeSpecial handles the types decoded by more than their kind. It
// reports whether it handled v.
func (d *Decoder) decodeSpecial(key, at, n *yaml.Node, v reflect.Value, l Loc) bool {
	if d.Hook != nil && d.Hook(d, key, at, n, v, l) {
		return true
	}
	t := v.Type()
	switch t {
	case pluginConfigType:
		p := PluginConfig{Node: n, File: d.File, Pos: NodePos(at)}
		if key != nil {
			p.Name = key.Value
			p.Pos = NodePos(key)
			// l is the loc of this value, e.g. {`route "x"`, "plugins.cache"} or
			// {"", "defaults.plugins.cache"}; the label drops the "plugins.cache".
			parent := l
			parent.Path = strings.TrimSuffix(parent.Path, key.Value)
			parent.Path = strings.TrimSuffix(strings.TrimSuffix(parent.Path, "."), "plugins")
			parent.Path = strings.TrimSuffix(parent.Path, ".")
			p.Where = parent.PluginWhere(key.Value)
		}
		v.Set(reflect.ValueOf(p))
		return true
	case yamlNodeType:
		v.Set(reflect.ValueOf(*n))
		return true
	case durationType:
		if n.Kind != yaml.ScalarNode || IsNull(n) {
			break
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.Errorf(NodePos(at), l, "%v", err)
			d.Fail(v)
			return true
		}
		v.SetInt(int64(dur))
		return true
	}
	if IsNull(n) {
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
			d.Errorf(NodePos(at), l, "%v", err)
			d.Fail(v)
		}
		return true
	}
	if reflect.PointerTo(t).Implements(textUnmarshType) && v.CanAddr() && n.Kind == yaml.ScalarNode {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.Errorf(NodePos(at), l, "invalid value %q: %v", n.Value, err)
			d.Fail(v)
		}
		return true
	}
	return false
}

func (d *Decoder) decodeKind(key, at, n *yaml.Node, v reflect.Value, l Loc) {
	p := NodePos(at)
	wrong := func(want string) {
		d.Errorf(p, l, "want %s, got %s", want, KindName(n))
		d.Fail(v)
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
			d.Errorf(p, l, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			d.Fail(v)
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
		d.Errorf(p, l, "cannot decode into Go type %s", v.Type())
		d.Fail(v)
	}
}

func (d *Decoder) decodeKindOrSpecial(key, at, n *yaml.Node, v reflect.Value, l Loc) {
	if !d.decodeSpecial(key, at, n, v, l) {
		d.decodeKind(key, at, n, v, l)
	}
}

func (d *Decoder) numError(p Position, l Loc, v reflect.Value, s string, err error, want string) {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		d.Errorf(p, l, "%q is out of range", s)
	} else {
		d.Errorf(p, l, "want %s, got %q", want, s)
	}
	d.Fail(v)
}

// field is a struct field reachable by a YAML key (through inline structs).
type field struct {
	index []int
	// single: a list that also accepts a single value (",single").
	single bool
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
			opts = "," + opts + ","
			index := append(append([]int(nil), prefix...), i)
			if strings.Contains(opts, ",inline,") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := fields[name]; !dup {
				single := strings.Contains(opts, ",single,") && f.Type.Kind() == reflect.Slice
				fields[name] = field{index: index, single: single}
				names = append(names, name)
			}
		}
	}
	walk(t, nil)
	return fields, names
}

// mapPairs returns the key/value pairs of a mapping node and reports
// duplicate and merge ("<<") keys, which yaml.Node parsing lets through.
func (d *Decoder) mapPairs(n *yaml.Node, l Loc) [][2]*yaml.Node {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Errorf(NodePos(k), l, "mapping keys must be plain strings")
			continue
		}
		if k.Value == "<<" && k.Style == 0 {
			d.Errorf(NodePos(k), l, "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.Errorf(NodePos(k), l, "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		pairs = append(pairs, [2]*yaml.Node{k, val})
	}
	return pairs
}

func (d *Decoder) decodeStruct(key, n *yaml.Node, v reflect.Value, l Loc) {
	t := v.Type()
	fields, names := structFields(t)
	if f, ok := t.FieldByName("Pos"); ok && f.Type == positionType {
		p := NodePos(n)
		if key != nil {
			p = NodePos(key)
		}
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(p))
	}
	for _, kv := range d.mapPairs(n, l) {
		k, val := kv[0], kv[1]
		f, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.Errorf(NodePos(k), l, "%s", msg)
			continue
		}
		fv := v.FieldByIndex(f.index)
		if f.single {
			d.decodeSingle(k, val, fv, l.Key(k.Value))
			continue
		}
		d.Decode(k, val, fv, l.Key(k.Value))
	}
}

// decodeSingle decodes a ",single" list field: one value (a list of one) or
// a list.
func (d *Decoder) decodeSingle(k, n *yaml.Node, v reflect.Value, l Loc) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		d.Decode(k, n, v.Index(0), l)
		if d.Positions != nil && v.CanAddr() {
			d.Positions[v.Addr().Interface()] = NodePos(n)
		}
		return
	}
	d.Decode(k, n, v, l)
}

func (d *Decoder) decodeMap(n *yaml.Node, v reflect.Value, l Loc) {
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	for _, kv := range d.mapPairs(n, l) {
		k, val := kv[0], kv[1]
		kl := l.Key(k.Value)
		kv := reflect.New(t.Key()).Elem()
		before := len(d.Errs)
		d.decodeKindOrSpecial(nil, k, k, kv, l)
		if len(d.Errs) > before {
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old)
		}
		before = len(d.Errs)
		d.Decode(k, val, ev, kl)
		v.SetMapIndex(kv, ev)
		if t.Key().Kind() == reflect.String && d.Positions != nil && d.Failed != nil {
			// Map entries are not addressable: validation finds an entry's
			// key position, and whether its value failed, by EntryOf.
			e := EntryOf(v, k.Value)
			d.Positions[e] = NodePos(k)
			d.Failed[e] = len(d.Errs) > before
		}
	}
}

// mapEntry names one entry of a decoded map with string keys, for the
// decoder's Positions and Failed records (see EntryOf).
type mapEntry struct {
	m   uintptr // the map's identity (reflect.Value.Pointer)
	key string
}

// EntryOf returns the Positions and Failed key of m's entry key; m is a map
// with string keys (a reflect.Value, or the map itself). Map entries are not
// addressable, so they are recorded under this key instead.
func EntryOf(m any, key string) any {
	v, ok := m.(reflect.Value)
	if !ok {
		v = reflect.ValueOf(m)
	}
	return mapEntry{v.Pointer(), key}
}

func (d *Decoder) decodeSlice(n *yaml.Node, v reflect.Value, l Loc) {
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	// Set first so that the positions recorded for the elements are the
	// addresses the caller will see.
	v.Set(s)
	for i, item := range n.Content {
		d.Decode(nil, item, v.Index(i), l.Index(i))
	}
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
