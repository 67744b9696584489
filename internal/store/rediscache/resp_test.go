package rediscache

import "testing"

// FuzzParse: parse never panics (it runs on the tracking goroutine and, under
// the cache's lock, on request goroutines), takes no more bytes than it was
// given, and a value it reports whole parses the same from a longer buffer.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nsess:a\r\n$6\r\nsess:b\r\n",
		">2\r\n$10\r\ninvalidate\r\n_\r\n",
		"+PONG\r\n", "-ERR no\r\n", "%1\r\n+a\r\n:1\r\n", "|1\r\n+k\r\n+v\r\n+OK\r\n",
		"$-1\r\n", "*-1\r\n", "$3\r\nab", "*3\r\n:1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := parse(b)
		if n < 0 || n > len(b) {
			t.Fatalf("parse(%q) took %d of %d bytes", b, n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		longer := append(append([]byte(nil), b...), "+x\r\n"...)
		v2, n2, err2 := parse(longer)
		if err2 != nil || n2 != n || v2.kind != v.kind || string(v2.str) != string(v.str) || len(v2.elems) != len(v.elems) {
			t.Fatalf("parse(%q) = %c %q %d; with more bytes after it: %c %q %d, %v", b, v.kind, v.str, n, v2.kind, v2.str, n2, err2)
		}
	})
}
