package conf

import (
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeDoc decodes src into v (a pointer) with d and returns d's problems.
func decodeDoc(t *testing.T, d *Decoder, src string, v any) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml.Unmarshal(%q): %v", src, err)
	}
	d.Decode(nil, &doc, reflect.ValueOf(v).Elem(), Loc{})
	if err := d.Errs.Err(); err != nil {
		return err.Error()
	}
	return ""
}

// TestDecodeSingle: a list field tagged ",single" takes one value as a list
// of one, or a list; its position is the value's either way.
func TestDecodeSingle(t *testing.T) {
	type target struct {
		Up    []string `yaml:"upstream,single"`
		Plain []string `yaml:"plain"`
	}
	tests := []struct {
		src     string
		want    []string
		wantErr string
		pos     Position
	}{
		{src: "upstream: http://a", want: []string{"http://a"}, pos: Position{Line: 1, Col: 11}},
		{src: "upstream: [http://a, http://b]", want: []string{"http://a", "http://b"}, pos: Position{Line: 1, Col: 11}},
		{src: "upstream:\n  - http://a", want: []string{"http://a"}, pos: Position{Line: 2, Col: 3}},
		{src: "upstream: ~", want: nil, pos: Position{Line: 1, Col: 11}},
		{src: "upstream: {a: b}", wantErr: `f.yaml:1:11: upstream: want a list, got a mapping`},
		{src: "plain: http://a", wantErr: `f.yaml:1:8: plain: want a list, got "http://a"`},
		{src: "upstrem: http://a", wantErr: `f.yaml:1:1: unknown key "upstrem" (did you mean "upstream"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			var v target
			d := &Decoder{File: "f.yaml", Positions: map[any]Position{}, Failed: map[any]bool{}}
			if got := decodeDoc(t, d, tt.src, &v); got != tt.wantErr {
				t.Fatalf("Decode(%q) problems = %q, want %q", tt.src, got, tt.wantErr)
			}
			if tt.wantErr != "" {
				return
			}
			if !slices.Equal(v.Up, tt.want) {
				t.Errorf("Decode(%q) = %q, want %q", tt.src, v.Up, tt.want)
			}
			if got := d.Positions[&v.Up]; got != tt.pos {
				t.Errorf("Decode(%q): position of upstream = %+v, want %+v", tt.src, got, tt.pos)
			}
		})
	}
}

// TestDecoderHook: the Hook is offered each value first, with its key and
// place; what it declines the decoder's own rules decode; what it marks
// failed is recorded.
func TestDecoderHook(t *testing.T) {
	type target struct {
		Name  string `yaml:"name"`
		Level int    `yaml:"level"`
	}
	var offered []string
	d := &Decoder{File: "f.yaml", Failed: map[any]bool{}}
	d.Hook = func(d *Decoder, key, at, n *yaml.Node, v reflect.Value, l Loc) bool {
		if key != nil {
			offered = append(offered, key.Value)
		}
		if v.Kind() == reflect.String && n.Value == "upper" {
			v.SetString("UPPER")
			return true
		}
		if v.Kind() == reflect.Int && n.Value == "high" {
			d.Errorf(NodePos(at), l, "high is not a level")
			d.Fail(v)
			return true
		}
		return false
	}
	var v target
	got := decodeDoc(t, d, "name: upper\nlevel: high", &v)
	if want := "f.yaml:2:8: level: high is not a level"; got != want {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if v.Name != "UPPER" || !d.Failed[&v.Level] {
		t.Errorf("decoded %+v, level failed %v; want the hook's values", v, d.Failed[&v.Level])
	}
	if want := []string{"name", "level"}; !slices.Equal(offered, want) {
		t.Errorf("hook offered keys %q, want %q", offered, want)
	}
}
