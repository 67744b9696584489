package plugins_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

// module is gatehouse's module path: types of other modules are not walked
// (they cannot name gatehouse's internal packages).
const module = "github.com/gatehouse-dev/gatehouse"

// TestPublicSurfaceNamesNoInternalPackage walks every type a plugin in
// another module can reach from what it is handed and what it calls (the
// Spec and Plugin, the request state, the backends, the config types,
// httperr, plugintest's helpers): exported fields, methods, parameters,
// results and elements, through gatehouse's packages. A type defined in an
// internal/ package there would make such a plugin impossible to write
// (Go refuses to import it from another module), so it fails the test.
func TestPublicSurfaceNamesNoInternalPackage(t *testing.T) {
	roots := []struct {
		name string
		t    reflect.Type
	}{
		{"plugins.Spec", reflect.TypeFor[plugins.Spec]()},
		{"plugins.Plugin", reflect.TypeFor[plugins.Plugin]()},
		{"plugins.Register", reflect.TypeOf(plugins.Register)},
		{"plugins.Lookup", reflect.TypeOf(plugins.Lookup)},
		{"plugins.DeriveSecret", reflect.TypeOf(plugins.DeriveSecret)},
		{"request.From", reflect.TypeOf(request.From)},
		{"request.FromContext", reflect.TypeOf(request.FromContext)},
		{"request.FromFastHTTP", reflect.TypeOf(request.FromFastHTTP)},
		{"request.IDFrom", reflect.TypeOf(request.IDFrom)},
		{"request.NewBodyStream", reflect.TypeOf(request.NewBodyStream)},
		{"request.Restream", reflect.TypeOf(request.Restream)},
		{"backend.Backends", reflect.TypeFor[backend.Backends]()},
		{"conf.Decoder", reflect.TypeFor[conf.Decoder]()},
		{"conf.Plugins", reflect.TypeFor[conf.Plugins]()},
		{"conf.Duration", reflect.TypeFor[conf.Duration]()},
		{"conf.ByteSize", reflect.TypeFor[conf.ByteSize]()},
		{"conf.ErrorList", reflect.TypeFor[conf.ErrorList]()},
		{"httperr.New", reflect.TypeOf(httperr.New)},
		{"httperr.Answer", reflect.TypeOf(httperr.Answer)},
		{"plugintest.Spec", reflect.TypeOf(plugintest.Spec)},
		{"plugintest.NewApp", reflect.TypeOf(plugintest.NewApp)},
		{"plugintest.Do", reflect.TypeOf(plugintest.Do)},
		{"plugintest.CheckLoadErrors", reflect.TypeOf(plugintest.CheckLoadErrors)},
		{"plugintest.Bench", reflect.TypeOf(plugintest.Bench)},
		{"plugintest.NewClock", reflect.TypeOf(plugintest.NewClock)},
		{"plugintest.Refusing", reflect.TypeFor[plugintest.Refusing]()},
	}
	seen := map[reflect.Type]bool{}
	for _, r := range roots {
		for _, bad := range internalTypes(r.t, r.name, seen) {
			t.Errorf("public plugin API names an internal package: %s", bad)
		}
	}
	if len(seen) < 30 {
		t.Errorf("walked %d types; the walk is broken", len(seen))
	}
}

// TestInternalTypesFindsInternal checks the walk itself: a struct of
// public types passes, and an internal type is found, with the way to it,
// behind a pointer field (as when Spec.Route was an *internal/config.Route)
// and behind a method's result.
func TestInternalTypesFindsInternal(t *testing.T) {
	tests := []struct {
		name string
		t    reflect.Type
		want string // "" for none
	}{
		{"public only", reflect.TypeFor[struct {
			M map[string]func(*testing.T) error
		}](), ""},
		{"field", reflect.TypeFor[struct{ Route *config.Route }](), "x.Route (github.com/gatehouse-dev/gatehouse/internal/config.Route)"},
		{"method result", reflect.TypeFor[interface{ Get() []config.Route }](), "x.Get() result (github.com/gatehouse-dev/gatehouse/internal/config.Route)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := internalTypes(tt.t, "x", map[reflect.Type]bool{})
			if want := []string{tt.want}; tt.want == "" && len(got) != 0 || tt.want != "" && !reflect.DeepEqual(got, want) {
				t.Errorf("internalTypes(%s) = %q, want %q", tt.t, got, tt.want)
			}
		})
	}
}

// internalTypes returns each type reachable from t that is defined in an
// internal package, as "path (pkg.Type)", path being how it was reached.
func internalTypes(t reflect.Type, path string, seen map[reflect.Type]bool) []string {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if pkg := t.PkgPath(); pkg != "" {
		if strings.Contains(pkg, "/internal/") {
			return []string{path + " (" + pkg + "." + t.Name() + ")"}
		}
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			return nil
		}
	}
	var bad []string
	walk := func(u reflect.Type, p string) { bad = append(bad, internalTypes(u, p, seen)...) }
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
		walk(t.Elem(), path)
	case reflect.Map:
		walk(t.Key(), path+"[key]")
		walk(t.Elem(), path+"[]")
	case reflect.Func:
		for i := range t.NumIn() {
			walk(t.In(i), path+" param")
		}
		for i := range t.NumOut() {
			walk(t.Out(i), path+" result")
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				walk(f.Type, path+"."+f.Name)
			}
		}
	}
	// Methods: an interface's own; a named type's, pointer receivers included.
	mt := t
	if t.Kind() != reflect.Interface && t.Kind() != reflect.Pointer && t.Name() != "" {
		mt = reflect.PointerTo(t)
	}
	for i := range mt.NumMethod() {
		m := mt.Method(i)
		ft := m.Type
		if mt.Kind() != reflect.Interface {
			// Drop the receiver: it is t itself.
			ins := make([]reflect.Type, 0, ft.NumIn())
			for j := 1; j < ft.NumIn(); j++ {
				ins = append(ins, ft.In(j))
			}
			outs := make([]reflect.Type, ft.NumOut())
			for j := range outs {
				outs[j] = ft.Out(j)
			}
			ft = reflect.FuncOf(ins, outs, ft.IsVariadic())
		}
		walk(ft, path+"."+m.Name+"()")
	}
	return bad
}
