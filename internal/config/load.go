package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Option changes how Load and Parse read a config.
type Option func(*options)

type options struct {
	lookupEnv LookupEnv
}

// WithLookupEnv makes ${VAR} expansion read variables from lookup instead of
// the process environment (os.LookupEnv). Tests use it to avoid globals.
func WithLookupEnv(lookup LookupEnv) Option {
	return func(o *options) { o.lookupEnv = lookup }
}

// Load reads, expands, decodes, defaults and validates the config file at
// path. The only I/O is reading the file and checking that static
// directories exist. On failure the error is an ErrorList of every problem,
// sorted by position (or, when the file cannot be read or parsed, a plain
// error that names the path). With an ErrorList of validation problems the
// partially checked Config comes back too, for further checks only (the
// command line uses it to report plugin problems in the same run).
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data, opts...)
}

// Parse is Load for a config already in memory; on validation errors it
// also returns the partially checked Config (see Load); file names it in messages
// and is the base for relative static directories.
func Parse(file string, data []byte, opts ...Option) (*Config, error) {
	o := options{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	d := newDecoder(file)
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	cfg := &Config{File: file}
	if root != nil {
		expandNodes(d, root, o.lookupEnv)
		d.decode(nil, root, reflectValue(cfg), loc{})
	}
	applyDefaults(cfg)
	v := &validator{d: d, cfg: cfg}
	v.validate()
	if err := d.Errs.Err(); err != nil {
		// The partial Config goes with the error so that a caller may check
		// what the file says beyond it (plugin blocks) and report every
		// problem at once; it must not be used to run anything.
		return cfg, err
	}
	return cfg, nil
}

// yamlLine matches the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parseYAML parses data into its single document's root node (nil for an
// empty document). A syntax error becomes an ErrorList with the line yaml.v3
// reports.
func parseYAML(file string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; never let that
		// take down a reload.
		if r := recover(); r != nil {
			root, err = nil, ErrorList{{File: file, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, ErrorList{{File: file, Line: extra.Line, Col: extra.Column, Msg: "only one YAML document is allowed"}}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(file, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && isNull(root) {
		return nil, nil
	}
	return root, nil
}

func yamlError(file string, err error) error {
	msg := err.Error()
	e := Error{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		if m[2] >= 0 {
			e.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		}
		e.Msg = "invalid YAML: " + msg[m[1]:]
	}
	return ErrorList{e}
}
