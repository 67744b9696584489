// Package headers is the headers plugin: set, add and remove request and
// response headers, with values that may carry placeholders over the
// request's identity and the request itself.
//
//	headers:
//	  request:
//	    set:    {X-User-Id: "{claim.sub}", X-Request-Id: "{request.id}"}
//	    add:    {X-Via: gatehouse}
//	    remove: [X-Debug]
//	  response:
//	    set:    {X-Frame-Options: DENY}
//	    remove: [Server]
//
// Values are parsed once at load (see ParseTemplate); at run time they are only
// concatenated. Each list is applied in the order remove, set, add. A header the
// plugin sets always replaces what the client sent under that name, also when
// the value cannot be produced (missing claim, or a claim holding control
// characters): the header is then removed, never left as the client sent it,
// so identity headers cannot be spoofed. Authorization is refused in the
// request lists: the proxy step sets it from the session, last.
package headers

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Name is the plugin's key under plugins: in routes.yaml.
const Name = "headers"

func init() {
	plugins.Register(plugins.Plugin{Name: Name, Phase: plugins.PhaseRewrite, New: New, Facts: Facts})
}

// Config is the plugin's YAML block.
type Config struct {
	// Request edits the request forwarded upstream.
	Request Rules `yaml:"request"`
	// Response edits the response sent to the client.
	Response Rules `yaml:"response"`
}

// Rules are the edits made to one side of the exchange, applied in the order
// remove, set, add.
type Rules struct {
	// Set replaces every header of that name with the value (a template).
	Set map[string]string `yaml:"set"`
	// Add appends one more header of that name (a template).
	Add map[string]string `yaml:"add"`
	// Remove deletes every header of these names.
	Remove []string `yaml:"remove"`
}

// forbiddenRequest are names a plugin may not touch on the request besides
// the hop-by-hop fields (internal/hopbyhop, refused on both sides: the proxy
// removes them anyway, so a rule on one would be a rule that silently does
// nothing): the gateway owns Authorization (the proxy sets it from the
// session), and the framing fields decide how the upstream parses the
// message — letting config rewrite them invites request smuggling (RFC 9112
// §6.3).
var forbiddenRequest = map[string]string{
	"Authorization":     "the gateway sets it from the session (the proxy step runs last)",
	"Host":              "the proxy sets it for the upstream",
	"Content-Length":    "it frames the message",
	"Transfer-Encoding": "it frames the message",
}

// forbiddenResponse are the response's framing fields; the hop-by-hop ones
// are refused as on the request.
var forbiddenResponse = map[string]string{
	"Content-Length":    "it frames the message",
	"Transfer-Encoding": "it frames the message",
}

// op is one compiled set or add.
type op struct {
	name   []byte // canonical header name
	static []byte // the value when the template has no placeholder
	tmpl   Template
	dyn    bool
}

// side is one compiled Rules.
type side struct {
	remove [][]byte
	set    []op
	add    []op
}

func (s *side) empty() bool { return len(s.remove) == 0 && len(s.set) == 0 && len(s.add) == 0 }

// handler is the compiled plugin for one route.
type handler struct {
	req, resp side
	route     string
	log       *slog.Logger
}

// bufPool holds render buffers so that a dynamic value costs no allocation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// New validates the block and builds the middleware. Every problem in the
// block is reported, not only the first.
func New(spec plugins.Spec) (plugins.Middleware, error) {
	h, err := build(spec)
	if err != nil {
		return nil, err
	}
	return h.middleware, nil
}

// Facts tells the plugins that wrap this one on its route (a cache) whether
// its responses depend on the caller: they do when a response rule's value
// has a {claim.*} or {request.ip} placeholder (a public cache would replay
// one user's claim, or one client's address, to everybody). A block New
// refuses tells nothing.
func Facts(spec plugins.Spec) plugins.Facts {
	h, err := build(spec)
	if err != nil {
		return plugins.Facts{}
	}
	var what []string
	for _, p := range h.callerPlaceholders() {
		what = append(what, "{"+p+"}")
	}
	if len(what) == 0 {
		return plugins.Facts{}
	}
	return plugins.Facts{IdentityDependent: true, What: strings.Join(what, " and ") + " response headers"}
}

// callerPlaceholders returns the placeholders that make a response rule's
// value depend on who the caller is or where it calls from ("claim.*",
// "request.ip"), each once, in that order.
func (h *handler) callerPlaceholders() []string {
	var claim, ip bool
	for _, o := range slices.Concat(h.resp.set, h.resp.add) {
		c, i := o.tmpl.CallerDependent()
		claim, ip = claim || c, ip || i
	}
	var out []string
	if claim {
		out = append(out, "claim.*")
	}
	if ip {
		out = append(out, "request.ip")
	}
	return out
}

// build validates the block and compiles it.
func build(spec plugins.Spec) (*handler, error) {
	var cfg Config
	ps := spec.Config.DecodeAll(&cfg)
	route := ""
	if spec.Route != nil {
		route = spec.Route.Name
	}
	h := &handler{route: route, log: spec.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	// Rules that did not decode are not checked further: their problem is
	// reported, and what was left in their place is not what the file says.
	if !ps.Failed(&cfg.Request) {
		h.req = compile(ps, "request", cfg.Request, forbiddenRequest, route)
	}
	if !ps.Failed(&cfg.Response) {
		h.resp = compile(ps, "response", cfg.Response, forbiddenResponse, route)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return h, nil
}

// compile validates one Rules and precomputes its header names and
// templates; each problem goes to ps.
func compile(ps *conf.Problems, where string, r Rules, forbidden map[string]string, route string) side {
	var s side
	seen := map[string]string{} // canonical name -> the list it first appeared in
	// check returns why name cannot be used in list, or "".
	check := func(list, name string) string {
		if !ValidName(name) {
			return fmt.Sprintf("%s %s: %q is not a valid header name (RFC 9110 token)", where, list, name)
		}
		canon := canonical(name)
		why, bad := forbidden[canon]
		if !bad && hopbyhop.Is([]byte(canon)) {
			why, bad = "it is hop-by-hop", true
		}
		if bad {
			return fmt.Sprintf("%s %s: header %s cannot be changed: %s", where, list, canon, why)
		}
		if prev, dup := seen[canon]; dup {
			return fmt.Sprintf("%s %s: header %s is already in %s %s", where, list, canon, where, prev)
		}
		seen[canon] = list
		return ""
	}
	for _, name := range r.Remove {
		if msg := check("remove", name); msg != "" {
			// A list item has no key of its own: point at the list.
			ps.At(nil, where+".remove", "%s", msg)
			continue
		}
		s.remove = append(s.remove, []byte(canonical(name)))
	}
	build := func(list string, m map[string]string) []op {
		var ops []op
		for _, name := range sortedKeys(m) {
			if msg := check(list, name); msg != "" {
				ps.At(nil, where+"."+list+"."+name, "%s", msg)
				continue
			}
			t, err := ParseTemplate(m[name], route)
			if err != nil {
				ps.At(nil, where+"."+list+"."+name, "%s %s %s: %v", where, list, canonical(name), err)
				continue
			}
			o := op{name: []byte(canonical(name)), tmpl: t}
			if v, ok := t.Static(); ok {
				o.static = []byte(v)
			} else {
				o.dyn = true
			}
			ops = append(ops, o)
		}
		return ops
	}
	s.set = build("set", r.Set)
	s.add = build("add", r.Add)
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// canonical returns the canonical form of a header name ("x-user-id" ->
// "X-User-Id"), the form fasthttp stores and compares.
func canonical(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// headerEditor is the part of fasthttp's request and response headers the plugin uses.
type headerEditor interface {
	DelBytes(key []byte)
	SetCanonical(key, value []byte)
	AddBytesKV(key, value []byte)
}

func (h *handler) middleware(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !h.req.empty() {
			h.apply(c, &c.Request().Header, &h.req, "request")
		}
		if err := next(c); err != nil {
			// The gateway's error handler writes the answer from scratch
			// (keeping only the headers an error needs): nothing to edit.
			return err
		}
		if !h.resp.empty() {
			h.apply(c, &c.Response().Header, &h.resp, "response")
		}
		return nil
	}
}

// apply performs one side's edits. Values are rendered into a pooled buffer;
// fasthttp copies them, so the buffer goes back to the pool at the end.
func (h *handler) apply(c *fiber.Ctx, hdr headerEditor, s *side, where string) {
	for _, name := range s.remove {
		hdr.DelBytes(name)
	}
	if len(s.set) == 0 && len(s.add) == 0 {
		return
	}
	var (
		st  = request.From(c)
		bp  *[]byte
		buf []byte
	)
	render := func(o *op) ([]byte, bool) {
		if !o.dyn {
			return o.static, true
		}
		if bp == nil {
			bp = bufPool.Get().(*[]byte)
			buf = *bp
		}
		var ok bool
		buf, ok = o.tmpl.AppendTo(buf[:0], c, st)
		if !ok {
			return nil, false
		}
		if !ValidValue(buf) {
			// A claim carried CR/LF/NUL or another control character:
			// never inject it, and say so without echoing the value.
			h.log.Warn("headers: value dropped: it contains control characters",
				"route", h.route, "side", where, "header", string(o.name), "request_id", st.ID)
			return nil, false
		}
		return buf, true
	}
	for i := range s.set {
		o := &s.set[i]
		// SetCanonical replaces only the first of repeated lines: delete
		// them all first, or a client's second X-User-Id line would reach
		// the upstream beside the gateway's value.
		hdr.DelBytes(o.name)
		// When the value cannot be produced the header stays removed: the
		// gateway owns this name, the client's copy never passes.
		if v, ok := render(o); ok {
			hdr.SetCanonical(o.name, v) // o.name is canonical: skip normalising it per request
		}
	}
	for i := range s.add {
		o := &s.add[i]
		if v, ok := render(o); ok {
			hdr.AddBytesKV(o.name, v)
		}
	}
	if bp != nil {
		if cap(buf) <= 64<<10 { // do not pin huge buffers in the pool
			*bp = buf[:0]
			bufPool.Put(bp)
		}
	}
}
