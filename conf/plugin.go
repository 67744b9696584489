package conf

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Plugins maps a plugin name to its raw YAML block.
type Plugins map[string]PluginConfig

// PluginConfig is one plugin's raw YAML block, as the gateway hands it to the
// plugin (plugins.Spec.Config). The plugin decodes it strictly with Decode
// (or DecodeAll), which reports unknown keys and type errors at their file
// positions, and places its own problems with ErrorAt.
type PluginConfig struct {
	// Name is the plugin's name, the key of the block.
	Name string
	// Node is the block's YAML node (a mapping, or a scalar such as "true"),
	// with ${VAR} references already expanded.
	Node *yaml.Node
	// File is the config file, for positions in errors.
	File string
	// Pos is where the plugin's name stands in the file.
	Pos Position
	// Where prefixes the messages of Decode and ErrorAt, e.g.
	// `route "orders": plugin rate_limit`; empty adds no prefix.
	Where string
}

// Decode decodes the plugin's block strictly into v, a non-nil pointer
// (usually to the plugin's Config struct). Keys map to fields by their yaml
// tags, as in yaml.v3; a key that names no field (with a "did you mean" when
// it is a likely typo of one), a value of the wrong type, a duplicate key or
// a bad Duration/ByteSize is an error positioned at the offending key or
// value. Every problem is reported (as an ErrorList), not only the first.
//
// Fields whose keys are absent, or whose values are empty, keep the values
// they had: set defaults in v before calling Decode. Decode does not modify
// the block, so it may be called more than once. A plugin that checks the
// decoded values further uses DecodeAll, so that its own problems are
// reported beside Decode's.
func (p PluginConfig) Decode(v any) error {
	return p.DecodeAll(v).Err()
}

// Problems collects every problem of one plugin block, those of decoding it
// and those the plugin's own checks find, so that one run of
// `gatehouse validate` reports them all and a file is fixed in one round.
type Problems struct {
	p      PluginConfig
	errs   ErrorList
	bug    error // a programmer error (Decode's v not a pointer)
	failed map[any]bool
}

// DecodeAll decodes the block into v as Decode does and returns the
// problems found so far. The plugin then checks the values, adding each
// problem with At (or Add), and returns Err.
func (p PluginConfig) DecodeAll(v any) *Problems {
	ps := &Problems{p: p, failed: map[any]bool{}}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		// A programmer error in the plugin; still an error, not a panic.
		ps.bug = fmt.Errorf("conf: Decode needs a non-nil pointer, got %T", v)
		return ps
	}
	if p.Node == nil {
		return ps
	}
	d := &Decoder{File: p.File, Failed: ps.failed}
	d.Decode(nil, p.Node, rv.Elem(), Loc{Where: p.Where})
	ps.errs = d.Errs
	return ps
}

// Failed reports whether field, a pointer into the value DecodeAll decoded
// (&cfg.Rate), failed to decode: it then holds its default, and its problem
// is reported already.
func (ps *Problems) Failed(field any) bool { return ps.failed[field] }

// At records a problem at key, placed and prefixed as ErrorAt places it,
// unless field (a pointer into the decoded value, or nil) failed to decode:
// a check of the default left in its place would only add noise.
func (ps *Problems) At(field any, key, format string, args ...any) {
	if field != nil && ps.Failed(field) {
		return
	}
	ps.errs = ps.errs.Append(ps.p.File, ps.p.ErrorAt(key, format, args...))
}

// Add records err, an error of ErrorAt or an ErrorList of them; nil adds
// nothing.
func (ps *Problems) Add(err error) {
	ps.errs = ps.errs.Append(ps.p.File, err)
}

// OK reports whether no problem has been found so far.
func (ps *Problems) OK() bool { return ps.bug == nil && len(ps.errs) == 0 }

// Err returns every problem found, sorted by position (an ErrorList), or nil.
func (ps *Problems) Err() error {
	if ps.bug != nil {
		return ps.bug
	}
	return ps.errs.Err()
}

// ErrorAt returns an error placed at key in the plugin's block, printing as
// FILE:LINE:COL: message. The message is prefixed with the block's Where
// (`route "orders": plugin rate_limit: `). key may be a dotted path into
// nested mappings ("request.set"); when it is empty or absent from the block
// the error is placed at the plugin's name. The result is an Error value.
func (p PluginConfig) ErrorAt(key string, format string, args ...any) error {
	pos := p.Pos
	if n := p.lookup(key); n != nil {
		pos = NodePos(n)
	}
	msg := fmt.Sprintf(format, args...)
	if p.Where != "" {
		msg = p.Where + ": " + msg
	}
	return Error{File: p.File, Line: pos.Line, Col: pos.Col, Msg: msg}
}

// lookup finds the key node for a dotted path in the block, or nil.
func (p PluginConfig) lookup(path string) *yaml.Node {
	if path == "" || p.Node == nil {
		return nil
	}
	n := p.Node
	var found *yaml.Node
	for part := range strings.SplitSeq(path, ".") {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		found = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				found, n = n.Content[i], n.Content[i+1]
				break
			}
		}
		if found == nil {
			return nil
		}
	}
	return found
}
