package headers

// tokenChars marks the bytes allowed in an RFC 9110 token (§5.6.2), the syntax
// of a header field name.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// ValidName reports whether name is a valid header field name (a non-empty
// RFC 9110 token).
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !tokenChars[name[i]] {
			return false
		}
	}
	return true
}

// isCTL reports whether c is a control character other than horizontal tab.
// RFC 9110 §5.5 allows HTAB, SP, VCHAR and obs-text in a field value; CR and
// LF are how header injection (response splitting) happens, NUL is refused by
// most parsers and the other CTLs have no business in a header.
func isCTL(c byte) bool {
	return (c < ' ' && c != '\t') || c == 0x7f
}

// ValidValue reports whether v may be sent as a header field value: no CR,
// LF, NUL or other control characters (RFC 9110 §5.5). Bytes >= 0x80
// (obs-text, e.g. UTF-8 names in claims) pass.
func ValidValue(v []byte) bool {
	for _, c := range v {
		if isCTL(c) {
			return false
		}
	}
	return true
}
