package headers

import (
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string // String() of the result
		static  bool
		wantErr string // substring of the error; "" for success
		offset  int
	}{
		{name: "literal", in: "gatehouse", want: "gatehouse", static: true},
		{name: "empty", in: "", want: "", static: true},
		{name: "claim", in: "{claim.sub}", want: "{claim.sub}"},
		{name: "namespaced claim", in: "{claim.https://example.com/roles}", want: "{claim.https://example.com/roles}"},
		{name: "request fields", in: "{request.id} {request.ip} {request.method} {request.path}", want: "{request.id} {request.ip} {request.method} {request.path}"},
		{name: "route name folded at load", in: "route={route.name}", want: "route=orders", static: true},
		{name: "escaped braces", in: "{{claim.sub}}", want: "{{claim.sub}}", static: true},
		{name: "mixed", in: "u-{claim.sub}-{{x}}", want: "u-{claim.sub}-{{x}}"},
		{name: "unknown placeholder", in: "a{env.HOME}", wantErr: "unknown placeholder {env.HOME}", offset: 1},
		{name: "expression attempt", in: "#{T(java.lang.Runtime)}", wantErr: "unknown placeholder", offset: 1},
		{name: "bare claim", in: "{claim.}", wantErr: "empty claim name", offset: 0},
		{name: "claim with space", in: "{claim.a b}", wantErr: "only visible ASCII", offset: 0},
		{name: "unterminated", in: "x{claim.sub", wantErr: "unterminated placeholder", offset: 1},
		{name: "nested open", in: "{claim.{sub}}", wantErr: "unterminated placeholder", offset: 0},
		{name: "lone close", in: "a}b", wantErr: `unmatched "}"`, offset: 1},
		{name: "CR in literal", in: "a\rb", wantErr: "control character", offset: 1},
		{name: "LF in literal", in: "a\nX-Evil: 1", wantErr: "control character", offset: 1},
		{name: "NUL in literal", in: "a\x00", wantErr: "control character", offset: 1},
		{name: "tab allowed", in: "a\tb", want: "a\tb", static: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTemplate(tt.in, "orders")
			if tt.wantErr != "" {
				te, ok := err.(*TemplateError)
				if !ok || !strings.Contains(err.Error(), tt.wantErr) || te.Offset != tt.offset {
					t.Fatalf("ParseTemplate(%q) error = %v, want %q at offset %d", tt.in, err, tt.wantErr, tt.offset)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTemplate(%q) = %v, want no error", tt.in, err)
			}
			if s := got.String(); s != tt.want {
				t.Errorf("ParseTemplate(%q).String() = %q, want %q", tt.in, s, tt.want)
			}
			if _, static := got.Static(); static != tt.static {
				t.Errorf("ParseTemplate(%q).Static() = %v, want %v", tt.in, static, tt.static)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"X-User-Id": true, "x_a.b~c!": true, "": false, "X User": false, "X:Y": false,
		"X\r\nY": false, "Ünicode": false, "X(Y)": false, "X\x00": false,
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := ValidName(in); got != want {
				t.Errorf("ValidName(%q) = %v, want %v", in, got, want)
			}
		})
	}
}

func TestValidValue(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"": true, "plain": true, "tab\there": true, "José Ñ": true, "a\r": false, "a\nb": false,
		"\x00": false, "bell\x07": false, "del\x7f": false,
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := ValidValue([]byte(in)); got != want {
				t.Errorf("ValidValue(%q) = %v, want %v", in, got, want)
			}
		})
	}
}

// FuzzParseTemplate checks that any accepted template round-trips through
// String and that no accepted static value carries a control character.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "x", "{claim.sub}", "{{}}", "{request.id}-{route.name}", "a}", "{", "{claim.a\n}", "\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tmpl, err := ParseTemplate(in, "r")
		if err != nil {
			if _, ok := err.(*TemplateError); !ok {
				t.Fatalf("ParseTemplate(%q) error %T, want *TemplateError", in, err)
			}
			return
		}
		again, err := ParseTemplate(tmpl.String(), "r")
		if err != nil {
			t.Fatalf("ParseTemplate(String() = %q) = %v, want no error", tmpl.String(), err)
		}
		if again.String() != tmpl.String() {
			t.Fatalf("round trip of %q = %q, want %q", in, again.String(), tmpl.String())
		}
		if v, ok := tmpl.Static(); ok && !ValidValue([]byte(v)) {
			t.Fatalf("ParseTemplate(%q) accepted static value %q with a control character", in, v)
		}
	})
}
