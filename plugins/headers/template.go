package headers

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
)

// segKind says what a template segment stands for.
type segKind uint8

const (
	segLiteral       segKind = iota // text copied as is
	segClaim                        // {claim.NAME}: a claim of the request's identity
	segRequestID                    // {request.id}: the gateway's request id
	segRequestIP                    // {request.ip}: the client IP as Fiber resolves it
	segRequestMethod                // {request.method}
	segRequestPath                  // {request.path}: the normalised path
)

// segment is one piece of a parsed template: a literal or a placeholder.
type segment struct {
	kind segKind
	text string // the literal text, or the claim name for segClaim
}

// Template is a header value parsed once at load into literal and placeholder
// segments. Rendering only concatenates: there is no expression language and
// nothing in a value is ever evaluated (CVE-2022-22947 came from evaluating
// route config at request time).
type Template struct {
	segs []segment
}

// TemplateError is a template syntax error; Offset is the 0-based byte offset
// in the value where the problem starts.
type TemplateError struct {
	Offset int
	Msg    string
}

// Error implements error.
func (e *TemplateError) Error() string {
	return fmt.Sprintf("at offset %d: %s", e.Offset, e.Msg)
}

// maxClaimName bounds a claim name in a placeholder; real claim names (even
// URL-shaped namespaced ones) are far shorter.
const maxClaimName = 256

// ParseTemplate parses a header value with placeholders. The placeholders are
// {claim.NAME}, {request.id}, {request.ip}, {request.method}, {request.path}
// and {route.name}; "{{" and "}}" stand for literal braces. routeName is
// substituted for {route.name} at parse time. Literal text must be a valid
// header value fragment (no control characters).
func ParseTemplate(s, routeName string) (Template, error) {
	var (
		t   Template
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{kind: segLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case ch == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case ch == '}':
			return Template{}, &TemplateError{Offset: i, Msg: `unmatched "}" (write "}}" for a literal brace)`}
		case ch == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] != '}' {
				return Template{}, &TemplateError{Offset: i, Msg: `unterminated placeholder (write "{{" for a literal brace)`}
			}
			name := s[i+1 : i+1+end]
			seg, err := placeholder(name, routeName)
			if err != nil {
				return Template{}, &TemplateError{Offset: i, Msg: err.Error()}
			}
			if seg.kind == segLiteral {
				lit.WriteString(seg.text)
			} else {
				flush()
				t.segs = append(t.segs, seg)
			}
			i += end + 2
		case isCTL(ch):
			return Template{}, &TemplateError{Offset: i, Msg: fmt.Sprintf("control character %q not allowed in a header value", ch)}
		default:
			lit.WriteByte(ch)
			i++
		}
	}
	flush()
	return t, nil
}

// placeholder resolves the name between braces.
func placeholder(name, routeName string) (segment, error) {
	switch name {
	case "request.id":
		return segment{kind: segRequestID}, nil
	case "request.ip":
		return segment{kind: segRequestIP}, nil
	case "request.method":
		return segment{kind: segRequestMethod}, nil
	case "request.path":
		return segment{kind: segRequestPath}, nil
	case "route.name":
		return segment{kind: segLiteral, text: routeName}, nil
	}
	claim, ok := strings.CutPrefix(name, "claim.")
	if !ok {
		return segment{}, fmt.Errorf("unknown placeholder {%s}: want {claim.NAME}, {request.id}, {request.ip}, {request.method}, {request.path} or {route.name}", name)
	}
	if claim == "" {
		return segment{}, fmt.Errorf("empty claim name in {%s}", name)
	}
	if len(claim) > maxClaimName {
		return segment{}, fmt.Errorf("claim name longer than %d bytes", maxClaimName)
	}
	for i := 0; i < len(claim); i++ {
		if c := claim[i]; c <= ' ' || c >= 0x7f {
			return segment{}, fmt.Errorf("claim name %q: only visible ASCII characters are allowed", claim)
		}
	}
	return segment{kind: segClaim, text: claim}, nil
}

// Static reports whether the template has no placeholder left, and if so its value.
func (t Template) Static() (string, bool) {
	switch len(t.segs) {
	case 0:
		return "", true
	case 1:
		if t.segs[0].kind == segLiteral {
			return t.segs[0].text, true
		}
	}
	return "", false
}

// CallerDependent reports whether the template's value depends on who the
// caller is (a {claim.*} placeholder) or where it calls from ({request.ip}).
func (t Template) CallerDependent() (claim, ip bool) {
	for _, s := range t.segs {
		claim = claim || s.kind == segClaim
		ip = ip || s.kind == segRequestIP
	}
	return claim, ip
}

// String returns the template in its source form (braces escaped, route name substituted).
func (t Template) String() string {
	var b strings.Builder
	for _, s := range t.segs {
		switch s.kind {
		case segLiteral:
			b.WriteString(strings.NewReplacer("{", "{{", "}", "}}").Replace(s.text))
		case segClaim:
			b.WriteString("{claim." + s.text + "}")
		case segRequestID:
			b.WriteString("{request.id}")
		case segRequestIP:
			b.WriteString("{request.ip}")
		case segRequestMethod:
			b.WriteString("{request.method}")
		case segRequestPath:
			b.WriteString("{request.path}")
		}
	}
	return b.String()
}

// AppendTo appends the rendered value to dst. ok is false when a claim the
// template needs is missing or is not representable as a header value (an
// object, or an array holding one): the caller then drops the header.
func (t Template) AppendTo(dst []byte, c *fiber.Ctx, st *request.State) (out []byte, ok bool) {
	id := st.Identity
	for _, s := range t.segs {
		switch s.kind {
		case segLiteral:
			dst = append(dst, s.text...)
		case segClaim:
			if id == nil {
				return dst, false
			}
			v, found := id.Claims[s.text]
			if !found {
				return dst, false
			}
			if dst, ok = appendClaim(dst, v, true); !ok {
				return dst, false
			}
		case segRequestID:
			dst = append(dst, st.ID...)
		case segRequestIP:
			dst = st.AppendClientIP(dst)
		case segRequestMethod:
			dst = append(dst, c.Request().Header.Method()...)
		case segRequestPath:
			dst = append(dst, c.Request().URI().PathOriginal()...)
		}
	}
	return dst, true
}

// appendClaim formats a JSON-decoded claim value: strings as is, numbers and
// booleans formatted, arrays of those joined with ",". Objects (and nested
// arrays) have no faithful header form and report false.
func appendClaim(dst []byte, v any, top bool) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return append(dst, v...), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case float64:
		return strconv.AppendFloat(dst, v, 'f', -1, 64), true
	case float32:
		return strconv.AppendFloat(dst, float64(v), 'f', -1, 32), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), true
	case uint64:
		return strconv.AppendUint(dst, v, 10), true
	case fmt.Stringer: // json.Number and friends
		return append(dst, v.String()...), true
	case []string:
		if !top {
			return dst, false
		}
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, e...)
		}
		return dst, true
	case []any:
		if !top {
			return dst, false
		}
		var ok bool
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendClaim(dst, e, false); !ok {
				return dst, false
			}
		}
		return dst, true
	default:
		return dst, false
	}
}
