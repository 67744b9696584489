package config

import (
	"errors"

	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/internal/errorpage"
)

// errorPages checks server.error_pages by loading its templates: a problem
// inside a template is reported at the template's own FILE:LINE[:COL] (where
// an editor should jump), anything else (a missing directory, no template
// in it) at the key.
func (v *validator) errorPages() {
	s := &v.cfg.Server
	if s.ErrorPages == "" || v.d.failed[&s.ErrorPages] {
		return
	}
	_, err := errorpage.Load(s.ErrorPages)
	var list conf.ErrorList
	switch {
	case err == nil:
	case errors.As(err, &list):
		for _, e := range list {
			e.Msg = "server.error_pages: " + e.Msg
			v.d.Errs = append(v.d.Errs, e)
		}
	default:
		v.errorf(&s.ErrorPages, s.Pos, "server.error_pages: %v", err)
	}
}
