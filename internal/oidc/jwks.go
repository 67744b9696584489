package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// JWKSOptions tunes a KeySet. keyfunc's and jwkset's defaults (hourly refresh,
// one unknown-kid refresh per 5 minutes, a key of unknown type failing the
// whole set, oct keys accepted, an unbounded body) are each replaced here.
type JWKSOptions struct {
	// RefreshInterval is used when the JWKS response has no Cache-Control
	// max-age. Default 15m.
	RefreshInterval time.Duration
	// MinRefreshInterval and MaxRefreshInterval clamp a max-age. Defaults 1m and 1h.
	MinRefreshInterval, MaxRefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two refreshes caused by a
	// token with an unknown kid. Default 10s: a kid-spraying attacker can cause
	// at most one fetch per interval, and a genuine rotation is seen within it.
	UnknownKIDInterval time.Duration
	// MaxBytes bounds the JWKS response body. Default 512 KiB.
	MaxBytes int64
	// Now is the clock of the unknown-kid limiter. Default time.Now.
	Now func() time.Time
}

func (o *JWKSOptions) defaults() {
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 15 * time.Minute
	}
	if o.MinRefreshInterval <= 0 {
		o.MinRefreshInterval = time.Minute
	}
	if o.MaxRefreshInterval <= 0 {
		o.MaxRefreshInterval = time.Hour
	}
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = 10 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 512 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrJWKSTooLarge is returned when the JWKS body exceeds JWKSOptions.MaxBytes.
var ErrJWKSTooLarge = errors.New("jwks response too large")

// KeySet is one issuer's verification keys. It implements jwkset.Storage
// (an in-memory set replaced whole on each fetch) so that keyfunc reads it:
// a read of an unknown kid triggers an immediate, rate-limited refetch.
type KeySet struct {
	*jwkset.MemoryJWKSet

	url     string
	client  *http.Client
	log     *slog.Logger
	opts    JWKSOptions
	limiter *rate.Limiter
	flight  singleflight.Group
	kf      keyfunc.Keyfunc

	interval atomic.Int64 // current refresh interval, ns
	fetches  atomic.Int64
	mu       sync.Mutex // orders replacements of the set
}

// NewKeySet fetches the JWKS at url once (an error if that fails or yields no
// usable key) and refreshes it in the background until ctx ends.
func NewKeySet(ctx context.Context, url string, client *http.Client, log *slog.Logger, opts JWKSOptions) (*KeySet, error) {
	opts.defaults()
	if client == nil {
		client = DefaultHTTPClient()
	}
	if log == nil {
		log = slog.Default()
	}
	ks := &KeySet{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		url:          url,
		client:       client,
		log:          log,
		opts:         opts,
		limiter:      rate.NewLimiter(rate.Every(opts.UnknownKIDInterval), 1),
	}
	ks.interval.Store(int64(opts.RefreshInterval))
	if err := ks.Refresh(ctx); err != nil {
		return nil, err
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: ks})
	if err != nil {
		return nil, fmt.Errorf("building keyfunc: %w", err)
	}
	ks.kf = kf
	safego.Loop(ctx, ks.log, "jwks refresh", ks.refreshLoop)
	return ks, nil
}

// Keyfunc returns the jwt.Keyfunc verifying with this set (through keyfunc v3).
func (ks *KeySet) Keyfunc(ctx context.Context) jwt.Keyfunc { return ks.kf.KeyfuncCtx(ctx) }

// Interval is the current background refresh interval.
func (ks *KeySet) Interval() time.Duration { return time.Duration(ks.interval.Load()) }

// Fetches counts successful and failed fetches of the JWKS so far.
func (ks *KeySet) Fetches() int64 { return ks.fetches.Load() }

// KeyRead returns the key with kid; on a miss it refetches the set at once
// unless an unknown-kid refetch happened within UnknownKIDInterval.
func (ks *KeySet) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	k, err := ks.MemoryJWKSet.KeyRead(ctx, kid)
	if err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
		return k, err
	}
	if !ks.limiter.AllowN(ks.opts.Now(), 1) {
		return jwkset.JWK{}, err
	}
	if rerr := ks.Refresh(ctx); rerr != nil {
		ks.log.WarnContext(ctx, "jwks refresh on unknown kid failed", "url", ks.url, "error", rerr)
		return jwkset.JWK{}, err
	}
	return ks.MemoryJWKSet.KeyRead(ctx, kid)
}

func (ks *KeySet) refreshLoop(ctx context.Context) {
	t := time.NewTimer(ks.Interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := ks.Refresh(ctx); err != nil {
			ks.log.WarnContext(ctx, "jwks refresh failed; keeping the current keys", "url", ks.url, "error", err)
		}
		t.Reset(ks.Interval())
	}
}

// Refresh fetches the JWKS now (concurrent callers share one fetch) and
// replaces the set when the response holds at least one usable key.
func (ks *KeySet) Refresh(ctx context.Context) error {
	_, err, _ := ks.flight.Do("", func() (any, error) {
		// The fetch outlives one caller's cancellation so that sharers are not failed by it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultHTTPTimeout)
		defer cancel()
		return nil, ks.fetch(fctx)
	})
	return err
}

func (ks *KeySet) fetch(ctx context.Context) error {
	ks.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return fmt.Errorf("building jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, ks.opts.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("reading jwks: %w", err)
	}
	if int64(len(body)) > ks.opts.MaxBytes {
		return fmt.Errorf("fetching jwks: %w (limit %d bytes)", ErrJWKSTooLarge, ks.opts.MaxBytes)
	}
	keys, err := ParseJWKS(body, ks.log)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.MemoryJWKSet.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("storing jwks: %w", err)
	}
	ks.interval.Store(int64(refreshInterval(resp.Header.Get("Cache-Control"), ks.opts)))
	return nil
}

// ParseJWKS decodes a JWK Set and keeps only keys usable to verify
// signatures: asymmetric (RSA, EC, OKP), "use" absent or "sig". A key of an
// unknown type or a malformed key is skipped (and logged), not fatal; a
// symmetric "oct" key is never accepted — an HMAC keyed with material from a
// public document would let anyone sign. It fails when no usable key remains.
func ParseJWKS(body []byte, log *slog.Logger) ([]jwkset.JWK, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for i, raw := range set.Keys {
		var m jwkset.JWKMarshal
		if err := json.Unmarshal(raw, &m); err != nil {
			log.Warn("jwks: skipping undecodable key", "index", i, "error", err)
			continue
		}
		switch m.KTY {
		case jwkset.KtyRSA, jwkset.KtyEC, jwkset.KtyOKP:
		default:
			log.Warn("jwks: skipping key of unusable type", "index", i, "kid", m.KID, "kty", string(m.KTY))
			continue
		}
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		// Private parts, if an IdP ever leaked them, are dropped: we only verify.
		m.D, m.P, m.Q, m.DP, m.DQ, m.QI, m.OTH = "", "", "", "", "", "", nil
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			log.Warn("jwks: skipping invalid key", "index", i, "kid", m.KID, "error", err)
			continue
		}
		keys = append(keys, jwk)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks holds no usable signing key")
	}
	return keys, nil
}

// refreshInterval honours a Cache-Control max-age, clamped to the options'
// bounds; without one it is the default interval.
func refreshInterval(cacheControl string, o JWKSOptions) time.Duration {
	for _, d := range strings.Split(cacheControl, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		d := time.Duration(min(secs, int64(o.MaxRefreshInterval/time.Second)+1)) * time.Second
		return min(max(d, o.MinRefreshInterval), o.MaxRefreshInterval)
	}
	return o.RefreshInterval
}
