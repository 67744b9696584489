package rediscache

import (
	"bytes"
	"errors"
	"strconv"
)

// maxLen bounds a length or count announced in a reply: a larger one is a
// broken stream, never an answer to what the tracking connection asks.
const maxLen = 1 << 27

var errProtocol = errors.New("rediscache: malformed RESP3 reply")

// value is one RESP3 value as the tracking connection needs it: the type
// byte, the payload of a string type (it aliases the buffer parsed) and the
// elements of an aggregate; null for RESP3's null and RESP2's $-1 and *-1.
type value struct {
	kind  byte
	str   []byte
	elems []value
	null  bool
}

// parse reads one RESP3 value from the start of b and returns it with the
// number of bytes it took; n == 0 with a nil error means that b does not yet
// hold a whole value. An attribute (|) is read and dropped: the value that
// follows it is returned.
func parse(b []byte) (v value, n int, err error) {
	i := bytes.Index(b, crlf)
	if i < 0 {
		return value{}, 0, nil
	}
	if i == 0 {
		return value{}, 0, errProtocol
	}
	v.kind, n = b[0], i+2
	line := b[1:i]
	switch v.kind {
	case '+', '-', ':', '#', ',', '(':
		v.str = line
		return v, n, nil
	case '_':
		v.null = true
		return v, n, nil
	case '$', '=', '!':
		l, err := length(line)
		if err != nil || l < 0 {
			v.null = true
			return v, n, err
		}
		if len(b) < n+l+2 {
			return value{}, 0, nil
		}
		if !bytes.Equal(b[n+l:n+l+2], crlf) {
			return value{}, 0, errProtocol
		}
		v.str = b[n : n+l]
		return v, n + l + 2, nil
	case '*', '~', '>', '%', '|':
		l, err := length(line)
		if err != nil || l < 0 {
			v.null = true
			return v, n, err
		}
		if v.kind == '%' || v.kind == '|' {
			l *= 2
		}
		v.elems = make([]value, 0, min(l, 16))
		for range l {
			e, m, err := parse(b[n:])
			if err != nil || m == 0 {
				return value{}, 0, err
			}
			v.elems = append(v.elems, e)
			n += m
		}
		if v.kind == '|' {
			next, m, err := parse(b[n:])
			if err != nil || m == 0 {
				return value{}, 0, err
			}
			return next, n + m, nil
		}
		return v, n, nil
	}
	return value{}, 0, errProtocol
}

var crlf = []byte("\r\n")

// length parses a length or count: -1 (null) or 0..maxLen.
func length(b []byte) (int, error) {
	l, err := strconv.Atoi(string(b))
	if err != nil || l < -1 || l > maxLen {
		return 0, errProtocol
	}
	return l, nil
}

// command appends args as a RESP command (an array of bulk strings).
func command(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, crlf...)
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, crlf...)
		dst = append(dst, a...)
		dst = append(dst, crlf...)
	}
	return dst
}
