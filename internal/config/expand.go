package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LookupEnv returns the value of an environment variable and whether it is
// set, as os.LookupEnv does.
type LookupEnv func(name string) (string, bool)

// expand replaces ${VAR} and ${VAR:-default} in s:
//
//   - ${VAR} is VAR's value (which may be empty); an unset VAR is an error,
//     so that a missing secret is never silently replaced by "".
//   - ${VAR:-default} is VAR's value when it is set and not empty, else
//     default (shell semantics); default is literal text up to the first "}".
//   - $$ is a literal "$"; any other "$" (not followed by "{") is kept as it
//     is, so that values like "^/api$" need no escaping.
//
// Variable names are [A-Za-z_][A-Za-z0-9_]*. Values substituted are not
// expanded again.
func expand(s string, lookup LookupEnv) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", errors.New(`unterminated "${" (write "$$" for a literal "$")`)
		}
		body := s[i+2 : i+2+end]
		i += 2 + end + 1
		name, def, hasDef := strings.Cut(body, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid environment variable name %q", name)
		}
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandNodes expands every scalar value (not mapping keys) under n in
// place. A plain (unquoted, untagged) scalar that changed has its tag cleared
// so that it is resolved again, as if the value had been written there:
// `port: ${PORT}` becomes an integer. Aliases are not followed, so each node
// is expanded once. A failure is reported through d and its node recorded in
// d.badNodes, so that decoding skips it instead of reporting it again.
func expandNodes(d *decoder, n *yaml.Node, lookup LookupEnv) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			expandNodes(d, c, lookup)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expandNodes(d, n.Content[i], lookup)
		}
	case yaml.ScalarNode:
		v, err := expand(n.Value, lookup)
		if err != nil {
			d.errorf(nodePos(n), loc{}, "%v", err)
			d.badNodes[n] = true
			return
		}
		if v != n.Value {
			n.Value = v
			if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				n.Tag = ""
			}
		}
	}
}
