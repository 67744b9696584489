package conf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// pluginBlock parses src and returns the block under plugins.NAME of its
// first route, as Parse would hand it to a plugin.
func pluginBlock(t *testing.T, src, name string) PluginConfig {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml.Unmarshal: %v", err)
	}
	var plugins Plugins
	d := &Decoder{File: "routes.yaml"}
	d.Decode(nil, &doc, reflect.ValueOf(&plugins).Elem(), Loc{Where: `route "orders"`, Path: "plugins"})
	if err := d.Errs.Err(); err != nil {
		t.Fatalf("decode plugins: %v", err)
	}
	p, ok := plugins[name]
	if !ok {
		t.Fatalf("no plugin %q in %v", name, plugins)
	}
	return p
}

type limitConfig struct {
	Rate   int               `yaml:"rate"`
	Per    Duration          `yaml:"per"`
	Burst  int               `yaml:"burst"`
	Window time.Duration     `yaml:"window"`
	Max    ByteSize          `yaml:"max"`
	Public bool              `yaml:"public"`
	Set    map[string]string `yaml:"set"`
	Remove []string          `yaml:"remove"`
	Inner  *struct {
		Depth uint8 `yaml:"depth"`
	} `yaml:"inner"`
}

func TestPluginConfigDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want limitConfig
		errs []string
	}{
		{
			name: "all types",
			src: "rate_limit:\n  rate: 10\n  per: 1s\n  burst: 20\n  window: 2m\n  max: 10MB\n  public: true\n" +
				"  set: {X-From: gatehouse}\n  remove: [Server]\n  inner: {depth: 3}\n",
			want: limitConfig{Rate: 10, Per: Duration(time.Second), Burst: 20, Window: 2 * time.Minute,
				Max: 10 << 20, Public: true, Set: map[string]string{"X-From": "gatehouse"}, Remove: []string{"Server"},
				Inner: &struct {
					Depth uint8 `yaml:"depth"`
				}{Depth: 3}},
		},
		{
			name: "defaults kept",
			src:  "rate_limit: {rate: 5}\n",
			want: limitConfig{Rate: 5, Burst: 7},
		},
		{
			name: "empty block",
			src:  "rate_limit:\n",
			want: limitConfig{Burst: 7},
		},
		{
			name: "unknown key with suggestion",
			src:  "rate_limit:\n  rate: 10\n  burts: 20\n",
			errs: []string{`routes.yaml:3:3: route "orders": plugin rate_limit: unknown key "burts" (did you mean "burst"?)`},
		},
		{
			name: "every problem at its place",
			src:  "rate_limit:\n  rate: ten\n  per: 5x\n  max: 10XB\n  public: yes\n  inner: {depth: 300, deep: 1}\n  remove: Server\n",
			errs: []string{
				`routes.yaml:2:9: route "orders": plugin rate_limit: rate: want an integer, got "ten"`,
				`routes.yaml:3:8: route "orders": plugin rate_limit: per: want a duration like "30s", got "5x"`,
				`routes.yaml:4:8: route "orders": plugin rate_limit: max: want a size like "10MB", got "10XB"`,
				`routes.yaml:5:11: route "orders": plugin rate_limit: public: want true or false, got "yes"`,
				`routes.yaml:6:18: route "orders": plugin rate_limit: inner.depth: "300" is out of range`,
				`routes.yaml:6:23: route "orders": plugin rate_limit: inner: unknown key "deep"`,
				`routes.yaml:7:11: route "orders": plugin rate_limit: remove: want a list, got "Server"`,
			},
		},
		{
			name: "duplicate key",
			src:  "rate_limit:\n  rate: 1\n  rate: 2\n",
			errs: []string{`routes.yaml:3:3: route "orders": plugin rate_limit: duplicate key "rate" (first at line 2)`},
		},
		{
			name: "scalar block into struct",
			src:  "rate_limit: true\n",
			errs: []string{`routes.yaml:1:13: route "orders": plugin rate_limit: want a mapping, got "true"`},
		},
		{
			name: "type error in map value",
			src:  "rate_limit:\n  set: {X-A: [1]}\n",
			errs: []string{`routes.yaml:2:14: route "orders": plugin rate_limit: set.X-A: want a string, got a list`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginBlock(t, tt.src, "rate_limit")
			got := limitConfig{Burst: 7}
			if len(tt.errs) == 0 {
				tt.want.Burst = max(tt.want.Burst, 7)
			}
			err := p.Decode(&got)
			if len(tt.errs) > 0 {
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("Decode() = %v, want an ErrorList", err)
				}
				if g, w := err.Error(), strings.Join(tt.errs, "\n"); g != w {
					t.Errorf("Decode() error =\n%s\nwant\n%s", g, w)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPluginConfigDecodeNeedsPointer(t *testing.T) {
	p := pluginBlock(t, "x: {a: 1}\n", "x")
	var m map[string]int
	if err := p.Decode(m); err == nil {
		t.Errorf("Decode(non-pointer) = nil, want an error")
	}
	if err := (PluginConfig{}).Decode(&m); err != nil {
		t.Errorf("Decode of a nil node = %v, want nil", err)
	}
}

func TestPluginConfigErrorAt(t *testing.T) {
	p := pluginBlock(t, "headers:\n  request:\n    set: {A: b}\n  burst: 0\n", "headers")
	tests := []struct {
		key  string
		want string
	}{
		{"burst", `routes.yaml:4:3: route "orders": plugin headers: bad thing 0`},
		{"request.set", `routes.yaml:3:5: route "orders": plugin headers: bad thing 0`},
		{"request.nope", `routes.yaml:1:1: route "orders": plugin headers: bad thing 0`},
		{"", `routes.yaml:1:1: route "orders": plugin headers: bad thing 0`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := p.ErrorAt(tt.key, "bad thing %d", 0)
			if got := err.Error(); got != tt.want {
				t.Errorf("ErrorAt(%q) = %q, want %q", tt.key, got, tt.want)
			}
			var e Error
			if !errors.As(err, &e) || e.Line == 0 {
				t.Errorf("errors.As(ErrorAt(%q), *Error) failed", tt.key)
			}
			var ep *Error
			if !errors.As(err, &ep) || ep.Line != e.Line || ep.Col != e.Col {
				t.Errorf("errors.As(ErrorAt(%q), **Error) = %v, want %v", tt.key, ep, e)
			}
			list := ErrorList(nil).Append("other.yaml", err)
			if len(list) != 1 || list[0] != e {
				t.Errorf("ErrorList.Append(ErrorAt(%q)) = %v, want [%v]", tt.key, list, e)
			}
		})
	}
}
