package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode decodes the plugin's block strictly into v, a non-nil pointer
// (usually to the plugin's Config struct). Keys map to fields by their yaml
// tags, as in yaml.v3; a key that names no field, a value of the wrong type,
// a duplicate key or a bad Duration/ByteSize is an error positioned at the
// offending key or value. Every problem is reported (as an ErrorList), not
// only the first.
//
// Fields whose keys are absent, or whose values are empty, keep the values
// they had: set defaults in v before calling Decode. Decode does not modify
// the block, so it may be called more than once.
func (p PluginConfig) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		// A programmer error in the plugin; still an error, not a panic.
		return fmt.Errorf("config: Decode needs a non-nil pointer, got %T", v)
	}
	if p.Node == nil {
		return nil
	}
	d := &decoder{file: p.File}
	d.decode(nil, p.Node, rv.Elem(), loc{where: p.Where})
	return d.errs.Err()
}

// ErrorAt returns an error placed at key in the plugin's block, printing as
// FILE:LINE:COL: message. The message is prefixed with the block's Where
// (`route "orders": plugin rate_limit: `). key may be a dotted path into
// nested mappings ("request.set"); when it is empty or absent from the block
// the error is placed at the plugin's name. The result is an Error value.
func (p PluginConfig) ErrorAt(key string, format string, args ...any) error {
	pos := p.Pos
	if n := p.lookup(key); n != nil {
		pos = nodePos(n)
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
