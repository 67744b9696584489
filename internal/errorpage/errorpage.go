// Package errorpage renders the HTML page a browser navigation gets when it
// ends in an error (API calls keep gatehouse's JSON {"error": ...}).
//
// A page is a Go html/template executed with Data: the status, a title and
// one plain sentence written for people (Text), and at most the links the
// server computed from validated values. Nothing else from the request ever
// reaches a page: no path, header, query or error text. The built-in page
// (default.html, embedded) has inline CSS only and no script, and is served
// under CSP (default-src 'none'; style-src 'unsafe-inline').
//
// A deployment replaces it with server.error_pages: a directory of
// templates, NNN.html for one status (404.html) and error.html for the
// rest. They are parsed and executed once against sample Data at load, so
// that a syntax error or an unknown field fails the config with the
// template's FILE:LINE[:COL].
package errorpage

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/conf"
)

// CSP is the Content-Security-Policy of every error page: nothing may load,
// no script may run; inline style is the only thing allowed.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// maxTemplateBytes bounds one template file.
const maxTemplateBytes = 256 << 10

// Data is what a template is executed with. Every field is set by the
// gateway; only RetryURL and LoginURL carry a request's path, and only after
// validation (same-origin, conservative characters).
type Data struct {
	// Status is the HTTP status code, e.g. 404.
	Status int
	// Title is a short title for the status, e.g. "Page not found".
	Title string
	// Message is one plain sentence for people about what happened.
	Message string
	// RetryURL, for 5xx and 429, is a same-origin link that repeats the
	// navigation (the validated path); "" otherwise.
	RetryURL string
	// LoginURL, for 401 and a failed or expired login, is
	// /auth/login?returnTo=<the validated path>; "" otherwise.
	LoginURL string
	// RequestID is the request's X-Request-Id ([A-Za-z0-9._:-], at most
	// 128 characters), for a support request.
	RequestID string
}

// Kind says what failed where the status alone does not tell.
type Kind int

const (
	// General is any error but a login's.
	General Kind = iota
	// Login is a failed or expired login at the callback.
	Login
)

// Text returns the title and the sentence of status for kind.
func Text(status int, kind Kind) (title, message string) {
	if kind == Login {
		return "Sign-in failed", "Your sign-in could not be completed or took too long. Please log in again."
	}
	if t, ok := texts[status]; ok {
		return t[0], t[1]
	}
	if status >= 500 {
		return "Something went wrong", "Something went wrong on our side. Please try again in a moment."
	}
	return "Request not completed", "This request could not be completed."
}

// texts holds each status's title and sentence.
var texts = map[int][2]string{
	400: {"Bad request", "The address or the request could not be understood."},
	401: {"Please log in", "You need to log in to see this page."},
	403: {"Access denied", "You do not have permission to see this page."},
	404: {"Page not found", "There is nothing at this address."},
	405: {"Not allowed", "This page cannot be used this way."},
	408: {"Request timed out", "Your browser took too long to send the request."},
	413: {"Too large", "What was sent is larger than this site accepts."},
	414: {"Address too long", "The address is longer than this site accepts."},
	429: {"Too many requests", "There were too many requests in a short time. Please wait a moment, then try again."},
	431: {"Request too large", "The request's headers are larger than this site accepts."},
	500: {"Something went wrong", "Something went wrong on our side. Please try again in a moment."},
	501: {"Not supported", "This site does not support this kind of request."},
	502: {"Service unavailable", "A service behind this site did not answer properly. Please try again in a moment."},
	503: {"Service unavailable", "This service is not available right now. Please try again in a moment."},
	504: {"Service timed out", "A service behind this site took too long to answer. Please try again in a moment."},
}

//go:embed default.html
var defaultHTML string

// builtin is the embedded page, parsed once.
var builtin = template.Must(template.New("default.html").Parse(defaultHTML))

// Pages is a set of error page templates.
type Pages struct {
	byStatus map[int]*template.Template
	fallback *template.Template
}

// Default returns the built-in pages.
func Default() *Pages { return &Pages{fallback: builtin} }

// Render writes the page for d.Status: all of it in one Write, or nothing
// when the template fails.
func (p *Pages) Render(w io.Writer, d Data) error {
	t := p.byStatus[d.Status]
	if t == nil {
		t = p.fallback
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// templateName matches the files Load reads: NNN.html and error.html.
var templateName = regexp.MustCompile(`^([45][0-9][0-9]|error)\.html$`)

// Load parses the templates in dir: NNN.html (a status from 400 to 599) and
// error.html (every other status; the built-in page when absent). Other
// *.html files are refused, so a misnamed template is not silently unused;
// files of other types are ignored. Each template is executed against
// sample Data, so an unknown field or an escaping problem fails here, not
// on a live error. Problems in files are returned as a conf.ErrorList, each
// at its FILE[:LINE[:COL]].
func Load(dir string) (*Pages, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if fi, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) || (serr == nil && !fi.IsDir()) {
			return nil, fmt.Errorf("directory %q does not exist", dir)
		}
		return nil, err
	}
	p := &Pages{byStatus: map[int]*template.Template{}, fallback: builtin}
	var problems conf.ErrorList
	found := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".html") {
			continue
		}
		file := filepath.Join(dir, name)
		m := templateName.FindStringSubmatch(name)
		if m == nil {
			problems = append(problems, conf.Error{File: file, Msg: "not a template name: want NNN.html (400-599) or error.html"})
			continue
		}
		t, err := parseFile(file, name)
		if err != nil {
			problems = append(problems, positioned(file, name, err))
			continue
		}
		found = true
		if m[1] == "error" {
			p.fallback = t
			continue
		}
		status, _ := strconv.Atoi(m[1])
		p.byStatus[status] = t
	}
	if len(problems) == 0 && !found {
		return nil, fmt.Errorf("%s holds no NNN.html or error.html template", dir)
	}
	if len(problems) > 0 {
		return nil, problems.Err() // sorted by file
	}
	return p, nil
}

// parseFile reads, parses and trial-runs one template.
func parseFile(file, name string) (*template.Template, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTemplateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxTemplateBytes {
		return nil, fmt.Errorf("larger than %d KiB", maxTemplateBytes>>10)
	}
	t, err := template.New(name).Parse(string(data))
	if err != nil {
		return nil, err
	}
	for _, d := range samples {
		if err := t.Execute(io.Discard, d); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// samples exercise every field and both link branches at load.
var samples = []Data{
	{Status: http.StatusNotFound, Title: "Page not found", Message: "There is nothing at this address.", RequestID: "sample"},
	{Status: http.StatusServiceUnavailable, Title: "Service unavailable", Message: "Try again.", RetryURL: "/x", RequestID: "sample"},
	{Status: http.StatusUnauthorized, Title: "Please log in", Message: "Log in.", LoginURL: "/auth/login?returnTo=%2Fx", RequestID: "sample"},
}

// templateErr matches the position in text/template's and html/template's
// errors: "template: NAME:LINE: msg", "template: NAME:LINE:COL: msg",
// "html/template:NAME:LINE:COL: msg".
var templateErr = regexp.MustCompile(`^(?:html/)?template: ?([^:]+):(\d+)(?::(\d+))?: (.*)$`)

// positioned turns a template error into a conf.Error at its line (and
// column).
func positioned(file, name string, err error) conf.Error {
	m := templateErr.FindStringSubmatch(err.Error())
	if m == nil || m[1] != name {
		return conf.Error{File: file, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	msg := m[4]
	if f := unknownField.FindStringSubmatch(msg); f != nil {
		msg = "unknown field ." + f[1] + "; " + fieldList
	}
	return conf.Error{File: file, Line: line, Col: col, Msg: msg}
}

// unknownField matches text/template's error for a field Data lacks, which
// names a Go type the template's author never sees.
var unknownField = regexp.MustCompile(`^executing ".*" at <.*>: can't evaluate field (\w+) in type errorpage\.Data$`)

// fieldList names what a template may use, for the unknown-field message.
const fieldList = "a page has .Status, .Title, .Message, .RetryURL, .LoginURL and .RequestID"

// PrefersHTML reports whether a request wants an HTML error page: a
// top-level navigation (Sec-Fetch-Mode: navigate) or, from a client that
// sends no Sec-Fetch-Mode, an Accept that ranks text/html above
// application/json (a browser's "text/html,...,*/*;q=0.8"). Every other
// request gets JSON: fetch and XHR (Sec-Fetch-Mode cors, same-origin,
// no-cors), no Accept, "*/*", or a tie.
func PrefersHTML(secFetchMode, accept []byte) bool {
	if len(secFetchMode) > 0 {
		return bytes.EqualFold(bytes.TrimSpace(secFetchMode), []byte("navigate"))
	}
	if len(bytes.TrimSpace(accept)) == 0 {
		return false
	}
	return quality(accept, "text", "html") > quality(accept, "application", "json")
}

// quality is the weight accept gives typ/sub (RFC 9110 §12.5.1): that of
// the most specific matching range (type/sub over type/* over */*), 0 when
// none matches. A malformed or out-of-range q reads as 0.
func quality(accept []byte, typ, sub string) float64 {
	best, q := -1, 0.0
	for part := range bytes.SplitSeq(accept, []byte{','}) {
		mr, params, _ := bytes.Cut(part, []byte{';'})
		t, s, ok := bytes.Cut(bytes.TrimSpace(mr), []byte{'/'})
		if !ok {
			continue
		}
		var spec int
		switch {
		case bytes.EqualFold(t, []byte(typ)) && bytes.EqualFold(s, []byte(sub)):
			spec = 2
		case bytes.EqualFold(t, []byte(typ)) && string(s) == "*":
			spec = 1
		case string(t) == "*" && string(s) == "*":
			spec = 0
		default:
			continue
		}
		if spec > best {
			best, q = spec, weight(params)
		}
	}
	return q
}

// weight reads q= from a media range's parameters; 1 when absent.
func weight(params []byte) float64 {
	for p := range bytes.SplitSeq(params, []byte{';'}) {
		k, v, found := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if found && bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			if err != nil || f < 0 || f > 1 {
				return 0
			}
			return f
		}
	}
	return 1
}
