package session

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAppendCutCookie(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"middle", "a=1; gatehouse=S; b=2", "a=1; b=2"},
		{"first", "gatehouse=S; a=1", "a=1"},
		{"last", "a=1; gatehouse=S", "a=1"},
		{"only", "gatehouse=S", ""},
		{"several", "gatehouse=S1; a=1; gatehouse=S2; b=2; gatehouse=S3", "a=1; b=2"},
		{"none: byte for byte", `a=1;b=2;  c="x y" ; d`, `a=1;b=2;  c="x y" ; d`},
		{"json value kept", `j={"a":1,"b":2}; gatehouse=S; q="a b"`, `j={"a":1,"b":2}; q="a b"`},
		{"quotes do not hide a pair", `a="x; gatehouse=S"; b=2`, `a="x; b=2`},
		{"quoted session value", `gatehouse="S"; a=1`, `a=1`},
		{"spaces around the name", "a=1;  gatehouse =S;b=2", "a=1;b=2"},
		{"tab separator", "gatehouse=S;\ta=1", "a=1"},
		{"no separator space", "a=1;gatehouse=S;b=2", "a=1;b=2"},
		{"name is case-sensitive", "Gatehouse=S; gatehouse2=S; xgatehouse=S", "Gatehouse=S; gatehouse2=S; xgatehouse=S"},
		{"value naming the cookie stays", "a=gatehouse=S", "a=gatehouse=S"},
		{"nameless pair stays", "gatehouse; gatehouse=S", "gatehouse"},
		{"empty session value", "gatehouse=; a=1", "a=1"},
		{"left with separators only", "gatehouse=S; ;", ""},
		{"empty line", "", ""},
		{"trailing separator kept", "a=1; gatehouse=S; ", "a=1; "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendCutCookie([]byte("prefix"), []byte(tt.in), "gatehouse")
			if string(got) != "prefix"+tt.want {
				t.Errorf("AppendCutCookie(%q) = %q, want %q", tt.in, got[len("prefix"):], tt.want)
			}
		})
	}
}

// pairs splits a Cookie value at every ';' into its pairs without the
// surrounding spaces, leaving out empty ones.
func pairs(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ";") {
		if p = strings.Trim(p, " \t"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isSession reports a pair named name.
func isSession(pair, name string) bool {
	n, _, ok := strings.Cut(pair, "=")
	return ok && strings.Trim(n, " \t") == name
}

// FuzzAppendCutCookie: the result never holds a pair named the session
// cookie, and holds every other pair byte for byte and in order; a line
// without one comes back unchanged.
func FuzzAppendCutCookie(f *testing.F) {
	for _, s := range []string{
		"a=1; gatehouse=S; b=2", `a="x; gatehouse=S"; b=2`, `j={"a":1}; gatehouse=S`, "gatehouse =S;;",
		" gatehouse=S", "a", ";", "gatehouse=S;\tgatehouse=T",
	} {
		f.Add(s)
	}
	const name = "gatehouse"
	f.Fuzz(func(t *testing.T, line string) {
		got := string(AppendCutCookie(nil, []byte(line), name))
		var want []string
		for _, p := range pairs(line) {
			if !isSession(p, name) {
				want = append(want, p)
			}
		}
		for _, p := range pairs(got) {
			if isSession(p, name) {
				t.Fatalf("AppendCutCookie(%q) = %q keeps session pair %q", line, got, p)
			}
		}
		if gotPairs := pairs(got); !slices.Equal(gotPairs, want) {
			t.Fatalf("AppendCutCookie(%q) = %q: pairs %q, want %q", line, got, gotPairs, want)
		}
		if len(want) == len(pairs(line)) && len(want) > 0 && got != line {
			t.Fatalf("AppendCutCookie(%q) = %q, want the line unchanged", line, got)
		}
	})
}

// TestStripCookie: on a request as fasthttp parsed it, after the gate read
// the session cookie (which makes fasthttp re-serialise cookies from its
// parse), the forwarded head carries the other cookies of every Cookie line
// byte for byte, in order, each line as its own field.
func TestStripCookie(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // the Cookie lines, joined by "|"; "" means none
	}{
		{"one line", []string{`a=1; gatehouse=S; j={"a":1,"b":2}; q="a b"`}, `a=1; j={"a":1,"b":2}; q="a b"`},
		{"every line", []string{"gatehouse=S1; a=1", "b=2; gatehouse=S2", "gatehouse=S3", "c=3"}, "a=1|b=2|c=3"},
		{"only the session", []string{"gatehouse=S"}, ""},
		{"no session cookie", []string{`j={"a":1}`, `q="a b"`}, `j={"a":1}|q="a b"`},
		{"quoted semicolon", []string{`a="x; gatehouse=S"; b=2`}, `a="x; b=2`},
		{"duplicate names kept", []string{"a=1; a=2; gatehouse=S; a=3"}, "a=1; a=2; a=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET / HTTP/1.1\r\nHost: gw\r\n"
			for _, l := range tt.lines {
				raw += "cookie: " + l + "\r\n"
			}
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(raw + "X-After: 1\r\n\r\n"))); err != nil {
				t.Fatal(err)
			}
			_ = h.Cookie("gatehouse") // what the gate does first
			StripCookie(&h, "gatehouse")
			var got []string
			for _, line := range strings.Split(h.String(), "\r\n") {
				if v, ok := strings.CutPrefix(line, "Cookie: "); ok {
					got = append(got, v)
				}
			}
			var want []string
			if tt.want != "" {
				want = strings.Split(tt.want, "|")
			}
			if !slices.Equal(got, want) {
				t.Errorf("forwarded Cookie lines = %q, want %q", got, want)
			}
			if !bytes.Contains(h.Header(), []byte("X-After: 1\r\n")) {
				t.Errorf("other fields lost: %q", h.Header())
			}
		})
	}
}
