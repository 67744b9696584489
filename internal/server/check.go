package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Check reads the config file at path and runs every check that a start on
// it would: the file's own (config.Load, which holds the route table's
// rules too) and each plugin block's (every plugin's New with
// plugins.Spec.Check). It starts nothing:
// no listener, no store, no IdP discovery, no goroutine, no connection, so
// it is safe to run anywhere (`gatehouse validate`, CI, a reload's dry run).
//
// On failure the error is a config.ErrorList holding every problem, the
// plugins' beside the file's, sorted by position (or a plain error when the
// file cannot be read or parsed), and the Config is nil. opts are
// config.Load's.
func Check(path string, opts ...config.Option) (*config.Config, error) {
	cfg, err := config.Load(path, opts...)
	var problems config.ErrorList
	if err != nil && (cfg == nil || !errors.As(err, &problems)) {
		return nil, err
	}
	// The file's problems, then the plugin blocks' in the same run, so
	// that a file is fixed in one round.
	problems = problems.Append(cfg.File, checkPlugins(cfg))
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkPlugins validates every route's plugin blocks without building
// anything (plugins.Spec.Check) and returns every problem, positioned. It
// also serves a config that failed its own checks (config.Load returns it
// with the error): plugins then see values the file did not validate, which
// is why they must not act on them.
func checkPlugins(cfg *config.Config) error {
	var problems config.ErrorList
	for i := range cfg.Routes {
		_, err := buildPlugins(context.Background(), cfg, &cfg.Routes[i], slog.New(slog.DiscardHandler), true, nil)
		problems = problems.Append(cfg.File, err)
	}
	return problems.Err()
}
