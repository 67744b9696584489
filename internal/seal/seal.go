// Package seal encrypts values that leave the process with AES-256-GCM
// under keys derived from one secret. It is gatehouse's only sealer: session
// records in the store (internal/session), login-state cookies
// (internal/auth) and Redis cache entries (plugins/cache) all use it.
//
// A Sealer holds a 32-byte root key, usually Derive(session.secret, label)
// with a label of its own per purpose, so that a value sealed for one purpose
// never opens for another. Each value is sealed under a key of its own,
// HMAC-SHA256(root, id), where id names the value (a session id, a login
// state, a cache key): a key per value keeps the number of random 96-bit
// nonces drawn under any one key tiny, far below GCM's 2^32 bound, whatever
// the traffic over the secret's lifetime. The additional data binds a value
// to its context: one copied to another id or context does not open.
//
// The format is: version byte || 12-byte random nonce || ciphertext || 16-byte
// tag. The version byte is the Sealer's own; a value with another one is
// refused before any decryption, so a format change can never be downgraded
// into a misread. The three users sealed this same format with code of their
// own before this package existed, so values written by older releases (a
// session in Redis, a login cookie, a cache entry) still open; each user's
// tests keep a value sealed by that older code and open it.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
)

// KeyLen is the length of a root key (AES-256).
const KeyLen = 32

// Sizes of the parts Seal adds around the plaintext.
const (
	NonceSize = 12
	TagSize   = 16
	// Overhead is what Seal adds to a plaintext: version, nonce and tag.
	Overhead = 1 + NonceSize + TagSize
)

// ErrOpen is returned by Open for any value that does not decrypt: another
// version, another key (another secret or purpose), another id or
// additional data, a truncated or tampered value. It says no more on purpose.
var ErrOpen = errors.New("seal: value does not open")

// Derive returns the KeyLen-byte root key for one purpose: HKDF-SHA256 of
// secret with label as info. Changing a label makes every value sealed under
// it unreadable; bump a version suffix in it on purpose only.
func Derive(secret []byte, label string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, label, KeyLen)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving key %q: %w", label, err)
	}
	return key, nil
}

// Sealer seals and opens values under per-value keys derived from its root
// key. Safe for concurrent use.
type Sealer struct {
	version byte
	macs    sync.Pool // of hash.Hash: HMAC-SHA256 keyed with the root key
}

// New returns a Sealer for the KeyLen-byte root key whose values carry the
// given version byte.
func New(root []byte, version byte) (*Sealer, error) {
	if len(root) != KeyLen {
		return nil, fmt.Errorf("seal: root key is %d bytes, want %d", len(root), KeyLen)
	}
	key := append([]byte(nil), root...) // the caller's slice may change
	s := &Sealer{version: version}
	s.macs.New = func() any { return hmac.New(sha256.New, key) }
	return s, nil
}

// aead returns the AES-256-GCM instance of the value named id.
func (s *Sealer) aead(id string) cipher.AEAD {
	h := s.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(id))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	s.macs.Put(h)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic("seal: " + err.Error()) // impossible: the key is 32 bytes
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic("seal: " + err.Error()) // impossible: standard nonce and tag sizes
	}
	return g
}

// Seal encrypts plain for the value named id with ad as additional data and
// appends the sealed form to dst (which may be nil); len(plain)+Overhead
// bytes are appended.
func (s *Sealer) Seal(dst []byte, id string, plain, ad []byte) []byte {
	g := s.aead(id)
	dst = slices.Grow(dst, Overhead+len(plain))
	n := len(dst)
	dst = dst[:n+1+NonceSize]
	dst[n] = s.version
	nonce := dst[n+1:]
	// crypto/rand.Read never fails (Go 1.24+: it crashes the program instead).
	_, _ = rand.Read(nonce)
	return g.Seal(dst, nonce, plain, ad)
}

// Open decrypts sealed, made by Seal for id with the same additional data,
// and appends the plaintext to dst (which may be nil; it must not overlap
// sealed). Any failure is ErrOpen.
func (s *Sealer) Open(dst []byte, id string, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != s.version {
		return nil, ErrOpen
	}
	plain, err := s.aead(id).Open(dst, sealed[1:1+NonceSize], sealed[1+NonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// OpenInPlace is Open decrypting into sealed's own storage, for a large
// value read once (a cache entry): the plaintext returned is a sub-slice of
// sealed, whose contents are lost either way.
func (s *Sealer) OpenInPlace(id string, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	// The plaintext goes where the ciphertext starts (the overlap AEAD allows).
	return s.Open(sealed[1+NonceSize:1+NonceSize], id, sealed, ad)
}
