package errorpage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/conf"
)

func TestPrefersHTML(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	for _, tt := range []struct {
		name, mode, accept string
		want               bool
	}{
		{"navigation", "navigate", browser, true},
		{"navigation whatever the Accept", "navigate", "application/json", true},
		{"navigation in any case", "Navigate", "", true},
		{"fetch (cors)", "cors", browser, false},
		{"fetch (same-origin)", "same-origin", "*/*", false},
		{"no-cors", "no-cors", "text/html", false},
		{"websocket", "websocket", "", false},
		{"browser Accept without Sec-Fetch", "", browser, true},
		{"no Accept", "", "", false},
		{"curl's */*", "", "*/*", false},
		{"json", "", "application/json", false},
		{"tie goes to JSON", "", "application/json, text/html", false},
		{"html ranked lower", "", "text/html;q=0.5, application/json", false},
		{"json ranked lower", "", "application/json;q=0.5, text/html", true},
		{"text/* beats a lower */*", "", "text/*, */*;q=0.1", true},
		{"html refused", "", "text/html;q=0, */*", false},
		{"malformed q reads as 0", "", "text/html;q=abc, application/json;q=0.1", false},
		{"q above 1 reads as 0", "", "text/html;q=2", false},
		{"specific range wins over wildcard", "", "*/*;q=0.9, text/html;q=0.1", false},
		{"case and spaces", "", " TEXT/HTML ; Q=1 , application/json ; q=0.2", true},
		{"garbage", "", "nonsense,,;;", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := PrefersHTML([]byte(tt.mode), []byte(tt.accept)); got != tt.want {
				t.Errorf("PrefersHTML(%q, %q) = %v, want %v", tt.mode, tt.accept, got, tt.want)
			}
		})
	}
}

// TestDefaultPage: the built-in page is accessible (lang, title, one h1),
// shows exactly one link of the right kind, and escapes what it is given.
func TestDefaultPage(t *testing.T) {
	for _, tt := range []struct {
		name string
		data Data
		want []string
		not  []string
	}{
		{"start page", Data{Status: 404, RequestID: "r1"},
			[]string{`<html lang="en">`, "<title>404 Page not found</title>", "<h1>Page not found</h1>",
				"There is nothing at this address.", `href="/">Go to the start page`, "<code>r1</code>"},
			[]string{"Try again", "Log in"}},
		{"retry", Data{Status: 503, RetryURL: "/auth/login?returnTo=%2Forders"},
			[]string{"<h1>Service unavailable</h1>", `href="/auth/login?returnTo=%2Forders">Try again`},
			[]string{"Go to the start page", "Log in", "Reference"}},
		{"login", Data{Status: 401, LoginURL: "/auth/login?returnTo=%2Fa%27b"},
			[]string{"<h1>Please log in</h1>", `href="/auth/login?returnTo=%2Fa%27b">Log in`},
			[]string{"Try again", "Go to the start page"}},
		{"escaped", Data{Status: 401, LoginURL: `/x"><script>alert(1)</script>`},
			[]string{`href="/x%22%3e%3cscript%3ealert%281%29%3c/script%3e"`},
			[]string{"<script>", `"><`}},
		{"javascript: URL neutralised", Data{Status: 503, RetryURL: "javascript:alert(1)"},
			[]string{`href="#ZgotmplZ"`}, []string{"javascript:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.data.Title, tt.data.Message = Text(tt.data.Status, General)
			var b strings.Builder
			if err := Default().Render(&b, tt.data); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q:\n%s", s, page)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(page, s) {
					t.Errorf("page holds %q:\n%s", s, page)
				}
			}
			if n := strings.Count(page, "<h1>"); n != 1 {
				t.Errorf("%d h1 elements, want 1", n)
			}
		})
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct {
		status int
		kind   Kind
		title  string
	}{
		{404, General, "Page not found"},
		{401, Login, "Sign-in failed"},
		{400, Login, "Sign-in failed"},
		{418, General, "Request not completed"},
		{599, General, "Something went wrong"},
	} {
		if title, msg := Text(tt.status, tt.kind); title != tt.title || msg == "" {
			t.Errorf("Text(%d, %v) = %q, %q; want title %q and a sentence", tt.status, tt.kind, title, msg, tt.title)
		}
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoad: a status's own template, then error.html, then the built-in page.
func TestLoad(t *testing.T) {
	render := func(p *Pages, status int) string {
		var b strings.Builder
		if err := p.Render(&b, Data{Status: status, Title: "T", Message: "M", RequestID: "id"}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	t.Run("own and fallback", func(t *testing.T) {
		p, err := Load(writeFiles(t, map[string]string{
			"404.html":   `<p>custom 404 {{.Title}} {{.RequestID}}</p>`,
			"error.html": `<p>fallback {{.Status}}</p>`,
			"style.css":  `ignored`,
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got := render(p, 404); got != "<p>custom 404 T id</p>" {
			t.Errorf("404 = %q", got)
		}
		if got := render(p, 502); got != "<p>fallback 502</p>" {
			t.Errorf("502 = %q", got)
		}
	})
	t.Run("built-in fallback", func(t *testing.T) {
		p, err := Load(writeFiles(t, map[string]string{"404.html": `x`}))
		if err != nil {
			t.Fatal(err)
		}
		if got := render(p, 500); !strings.Contains(got, "<h1>T</h1>") {
			t.Errorf("500 = %q, want the built-in page", got)
		}
	})
}

// TestLoadErrors: every problem, at its file, line and (when the template
// package knows it) column.
func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax", map[string]string{"404.html": "<p>\n{{if .Status}}\n</p>"},
			[]string{"404.html:3: unexpected EOF"}},
		{"unknown field", map[string]string{"error.html": "<p>\n  {{.Path}}</p>"},
			[]string{"error.html:2:4: unknown field .Path; a page has .Status, .Title, .Message, .RetryURL, .LoginURL and .RequestID"}},
		{"unknown function", map[string]string{"500.html": "{{env \"HOME\"}}"},
			[]string{`500.html:1: function "env" not defined`}},
		{"bad name", map[string]string{"notfound.html": "x", "600.html": "x"},
			[]string{"600.html: not a template name", "notfound.html: not a template name"}},
		{"several at once", map[string]string{"404.html": "{{", "error.html": "{{.Nope}}"},
			[]string{"404.html:1: unclosed action", "error.html:1:2: unknown field .Nope"}},
		{"empty directory", map[string]string{"README": "x"}, []string{"holds no NNN.html or error.html template"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			got := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("error %q lacks %q", got, w)
				}
			}
			var list conf.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					if !strings.HasPrefix(e.File, dir) {
						t.Errorf("problem %v not placed in %s", e, dir)
					}
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory loaded")
	}
}
