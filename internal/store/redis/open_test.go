package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// TestOpenWhileRedisDown: Open does not connect, so it succeeds on a Redis
// that is down; calls fail meanwhile, not as Rejected, and the same Store
// works once Redis is up, without being reopened. With pool_size=1 the
// first failed dial saturates go-redis's dial-error count, after which it
// answers with the last dial error and only a background probe dials; a
// cluster client first has to load the cluster's slots. Neither failed
// state may outlive the outage.
func TestOpenWhileRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster bool
		url     func(*redistest.Server) string
	}{
		{"default pool", false, func(srv *redistest.Server) string { return srv.URL(0) }},
		{"dial errors saturate the pool", false, func(srv *redistest.Server) string { return srv.URL(0) + "?pool_size=1" }},
		{"cluster", true, func(srv *redistest.Server) string { return "redis://" + srv.Addr() + "?cluster=true" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *redistest.Server
			if tc.cluster {
				srv = newCluster(t)
			} else {
				srv = redistest.New(t)
			}
			srv.Stop()
			s, err := Open(tc.url(srv), Options{})
			if err != nil {
				t.Fatalf("Open(stopped Redis) = %v, want nil", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			errs := calls(t.Context(), s, "k")
			wantAllFail(t, errs)
			if Rejected(errs["Ping"]) {
				t.Errorf("Rejected(%v) = true, want false: a stopped Redis may come back", errs["Ping"])
			}
			srv.Start()
			waitWorking(t, s, "k")
		})
	}
}

// TestOpenBadOptions: what cannot work fails Open at once, without I/O.
func TestOpenBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		opts      Options
		wantErr   string
	}{
		{"negative op timeout", "redis://127.0.0.1:1/0", Options{OpTimeout: -time.Second}, "op timeout"},
		{"bad database", "redis://:hunter2@127.0.0.1:1/x", Options{}, "invalid database number"},
		{"unknown option", "redis://:hunter2@127.0.0.1:1/0?bogus=1", Options{}, "unexpected option"},
		{"disabled timeout", "redis://:hunter2@127.0.0.1:1/0?dial_timeout=-1s", Options{}, "dial_timeout must be positive"},
		{"scheme", "http://:hunter2@127.0.0.1:1/0", Options{}, "scheme must be redis or rediss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.url, tc.opts)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open(%q) = nil error, want %q", Redact(tc.url), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) = %q, want an error containing %q without the password", Redact(tc.url), err, tc.wantErr)
			}
		})
	}
}

// TestRejected sorts real connection failures into configuration errors
// (Rejected: a start must fail) and a Redis not reachable yet (it may come
// back: a start goes on).
func TestRejected(t *testing.T) {
	const password = "s3cret"
	locked := redistest.New(t, redistest.WithArgs("--requirepass", password))
	plain := redistest.New(t, redistest.WithArgs("--databases", "4"))
	withTLS := redistest.NewTLS(t)
	stopped := redistest.New(t)
	stopped.Stop()
	hung := redistest.New(t)
	hung.Freeze()
	withUser := func(url, userinfo string) string { return strings.Replace(url, "://", "://"+userinfo+"@", 1) }

	// What Ping gives: nothing, a configuration error, or a Redis that may
	// come back.
	const (
		works       = "works"
		rejected    = "rejected"
		unreachable = "unreachable"
	)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"right password", withUser(locked.URL(0), ":"+password), works},
		{"wrong password", withUser(locked.URL(0), ":wrong"), rejected},
		{"no password", locked.URL(0), rejected},
		{"unknown user", withUser(locked.URL(0), "bob:"+password), rejected},
		{"database out of range", plain.URL(9), rejected},
		{"untrusted certificate", withTLS.URL(0), rejected},
		{"connection refused", stopped.URL(0), unreachable},
		{"name does not resolve", "redis://gatehouse-test-no-such-host.invalid:6379/0", unreachable},
		{"hung", hung.URL(0), unreachable},
		{"plain text to a TLS port", strings.Replace(withTLS.URL(0), "rediss://", "redis://", 1), unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.url, Options{OpTimeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer s.Close()
			err = s.Ping(t.Context())
			got := unreachable
			switch {
			case err == nil:
				got = works
			case Rejected(err):
				got = rejected
			}
			if got != tc.want {
				t.Errorf("Ping = %v: %s, want %s", err, got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), password) {
				t.Errorf("Ping error %q leaks the password", err)
			}
		})
	}
	t.Run("other errors", func(t *testing.T) {
		for _, err := range []error{
			nil,
			context.DeadlineExceeded,
			errors.New("redis: all sentinels specified in configuration are unreachable"),
		} {
			if Rejected(err) {
				t.Errorf("Rejected(%v) = true, want false", err)
			}
		}
	})
}
