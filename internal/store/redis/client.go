package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Connection defaults applied when the URL does not set them. They are short
// on purpose: a Redis that is down or hung must turn into an error (503) in
// bounded time, not into requests piling up behind it.
const (
	// DefaultDialTimeout bounds establishing a connection.
	DefaultDialTimeout = 500 * time.Millisecond
	// DefaultReadTimeout bounds waiting for one reply.
	DefaultReadTimeout = 500 * time.Millisecond
	// DefaultWriteTimeout bounds writing one command.
	DefaultWriteTimeout = 500 * time.Millisecond
	// DefaultPoolTimeout bounds waiting for a free pooled connection.
	DefaultPoolTimeout = time.Second
	// DefaultMaxRetries is how often a command failing on a network error is
	// retried (go-redis's own default is 3, which multiplies the worst case).
	DefaultMaxRetries = 1
	// DefaultDialerRetries is how many dials one connection attempt makes
	// (go-redis's default is 5, 100ms apart: with Redis down, every call
	// would wait half a second before failing).
	DefaultDialerRetries = 1
)

// NewClient returns a go-redis client for rawURL with bounded timeouts. It
// does not connect: the first command does. The store uses it, and so do the
// plugins' Redis backends.
//
// Supported URLs (the go-redis URL formats, chosen by their parameters; the
// tests run the store contract through each against real redis-servers):
//
//   - single node: redis://[user:password@]host:port/db — rediss:// for TLS
//     (certificates verified against the system roots unless tlsConfig is
//     given; ServerName is the URL's host);
//   - Sentinel: a master_name parameter makes host:port (and every addr=
//     parameter) a sentinel: redis://[sentinel-user:sentinel-password@]s1:26379/db?master_name=mymaster&addr=s2:26379;
//     the data nodes' credentials go in the username= and password= parameters;
//   - Cluster: one or more addr= parameters, or cluster=true, make host:port
//     and every addr= a cluster seed: redis://[user:password@]n1:6379?addr=n2:6379.
//     Cluster has no database number.
//
// Every go-redis query parameter is accepted (dial_timeout, read_timeout,
// write_timeout, pool_timeout, pool_size, max_retries, ...); unknown ones are
// errors. skip_verify=true turns off certificate verification on rediss://:
// for development only, it lets anyone on the path read the sessions. A
// timeout set to zero or a negative value (which go-redis reads as
// "no timeout") is refused: it could hang requests. An error never repeats
// the URL, not even redacted (it may hold a password in places Redact does
// not know): it says which part is wrong, and the caller says where the URL
// stands.
func NewClient(rawURL string, tlsConfig *tls.Config) (redis.UniversalClient, error) {
	newClient, err := parseURL(rawURL, tlsConfig)
	if err != nil {
		return nil, err
	}
	return newClient(), nil
}

// CheckURL reports whether NewClient would accept rawURL, with NewClient's
// error if not, without building a client or connecting: configuration
// validation uses it, so that a URL that cannot work is reported where it is
// written, by the same parser that later opens it.
func CheckURL(rawURL string) error {
	_, err := parseURL(rawURL, nil)
	return err
}

// parseURL checks rawURL and returns the constructor of its client.
func parseURL(rawURL string, tlsConfig *tls.Config) (func() redis.UniversalClient, error) {
	bad := func(err error) error { return fmt.Errorf("invalid redis URL: %w", err) }
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad(err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, bad(errors.New("scheme must be redis or rediss"))
	}
	if tlsConfig != nil && u.Scheme != "rediss" {
		return nil, bad(errors.New("a TLS configuration needs a rediss:// URL"))
	}
	q := u.Query()
	cluster := false
	if q.Has("cluster") {
		if cluster, err = strconv.ParseBool(q.Get("cluster")); err != nil {
			return nil, bad(errors.New("cluster must be true or false"))
		}
		q.Del("cluster") // ours, not go-redis's
		u.RawQuery = q.Encode()
	}
	sentinel := q.Has("master_name")
	cluster = cluster || (!sentinel && q.Has("addr"))
	if sentinel && cluster {
		return nil, bad(errors.New("master_name (Sentinel) and cluster=true exclude each other"))
	}

	switch {
	case sentinel:
		o, err := redis.ParseFailoverURL(u.String())
		if err == nil {
			err = knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
				&o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.TLSConfig}.apply(tlsConfig)
		}
		if err != nil {
			return nil, bad(err)
		}
		return func() redis.UniversalClient { return redis.NewFailoverClient(o) }, nil
	case cluster:
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, bad(errors.New("redis Cluster has no database number"))
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err == nil {
			err = knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
				&o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.TLSConfig}.apply(tlsConfig)
		}
		if err != nil {
			return nil, bad(err)
		}
		o.MaintNotificationsConfig = noMaint()
		return func() redis.UniversalClient { return redis.NewClusterClient(o) }, nil
	default:
		o, err := redis.ParseURL(u.String())
		if err == nil {
			err = knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
				&o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.TLSConfig}.apply(tlsConfig)
		}
		if err != nil {
			return nil, bad(err)
		}
		o.MaintNotificationsConfig = noMaint()
		return func() redis.UniversalClient { return redis.NewClient(o) }, nil
	}
}

// knobs points at the fields NewClient sets in each go-redis options type
// (Options, FailoverOptions, ClusterOptions have them under the same names).
type knobs struct {
	dial, read, write, pool *time.Duration
	retries, dialRetries    *int
	ctxTimeout              *bool
	tls                     **tls.Config
}

// apply sets the defaults for timeouts the URL left unset, refuses disabled
// ones (go-redis turns "0" or a negative value into -1, no timeout), makes
// go-redis honour ctx deadlines and installs the caller's TLS configuration.
func (k knobs) apply(tlsConfig *tls.Config) error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"dial_timeout", k.dial, DefaultDialTimeout},
		{"read_timeout", k.read, DefaultReadTimeout},
		{"write_timeout", k.write, DefaultWriteTimeout},
		{"pool_timeout", k.pool, DefaultPoolTimeout},
	} {
		switch {
		case *d.v < 0:
			return fmt.Errorf("%s must be positive: without a timeout a hung Redis would hang requests", d.name)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if *k.retries == 0 {
		*k.retries = DefaultMaxRetries
	}
	if *k.dialRetries <= 0 {
		*k.dialRetries = DefaultDialerRetries
	}
	*k.ctxTimeout = true
	setTLS(k.tls, tlsConfig)
	return nil
}

// setTLS replaces the TLS configuration go-redis derived from a rediss:// URL
// with the caller's, keeping the URL's host as ServerName when the caller's
// has none.
func setTLS(dst **tls.Config, src *tls.Config) {
	if src == nil || *dst == nil {
		return
	}
	c := src.Clone()
	if c.ServerName == "" {
		c.ServerName = (*dst).ServerName
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	*dst = c
}

// noMaint turns off maintenance notifications (a Redis Enterprise/Cloud
// feature negotiated at connect): one less round trip and moving part.
func noMaint() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// Redact returns rawURL with its passwords (userinfo and the password= and
// sentinel_password= parameters) replaced by "xxxxx", for logs and errors.
// A URL that does not parse is redacted whole.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") || q.Has("sentinel_password") {
		for _, k := range []string{"password", "sentinel_password"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
