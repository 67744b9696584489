package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/seal"
)

// HKDF labels. Changing one invalidates every cookie or stored session that
// depends on it; bump the version suffix on purpose only.
const (
	labelCookie = "gatehouse session cookie mac v1"
	labelStore  = "gatehouse session store key v1"
	labelIndex  = "gatehouse session index key v1"
	labelSeal   = "gatehouse session encryption v1"
)

// sealVersion is the first byte of every stored value, so the format can
// change without misreading old values.
const sealVersion = 1

// keys holds the keys derived from session.secret, each for one purpose. The
// HMAC states are pooled: hmac.New allocates, and Load needs three MACs.
type keys struct {
	cookie, store, index sync.Pool // of hash.Hash
	sealer               *seal.Sealer
	plain                sync.Pool // of *[]byte, plaintext buffers for open
}

// init derives every key from secret.
func (k *keys) init(secret []byte) {
	derive := func(label string) []byte {
		key, err := seal.Derive(secret, label)
		if err != nil {
			// Only possible for a key length HKDF cannot produce; 32 is fine.
			panic("session: " + err.Error())
		}
		return key
	}
	for _, p := range []struct {
		pool  *sync.Pool
		label string
	}{{&k.cookie, labelCookie}, {&k.store, labelStore}, {&k.index, labelIndex}} {
		key := derive(p.label)
		p.pool.New = func() any { return hmac.New(sha256.New, key) }
	}
	var err error
	if k.sealer, err = seal.New(derive(labelSeal), sealVersion); err != nil {
		panic("session: " + err.Error()) // impossible: Derive gives seal.KeyLen bytes
	}
	k.plain.New = func() any { return new([]byte) }
}

// mac returns HMAC-SHA256 under the pool's key of the parts, concatenated
// with a zero byte between them (so ("a","bc") and ("ab","c") differ).
func mac(pool *sync.Pool, parts ...string) []byte {
	h := pool.Get().(hash.Hash)
	h.Reset()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	sum := h.Sum(make([]byte, 0, sha256.Size))
	pool.Put(h)
	return sum
}

// digestLen is the length of the HMACs naming things in the store: HMAC-SHA256
// truncated to 128 bits (RFC 2104 §5 allows truncation to half the output),
// ample for names that are never compared against an attacker's guesses
// under a key they know, and 16 bytes less per key and index entry.
const digestLen = 16

// storeDigest is the HMAC of a session id that names it in the store; the id
// itself is never written to the store.
func (k *keys) storeDigest(id string) []byte { return mac(&k.store, id)[:digestLen] }

// subjectIndexKey is the store key of the index of sub's sessions. The
// subject is hashed too: the store need not hold user identifiers in clear.
func (k *keys) subjectIndexKey(sub string) string {
	return "sidx:u:" + b64(mac(&k.index, "sub", sub)[:digestLen])
}

// sidIndexKey is the store key of the index of the IdP session sid's sessions.
func (k *keys) sidIndexKey(sid string) string {
	return "sidx:s:" + b64(mac(&k.index, "sid", sid)[:digestLen])
}

// sidTombstoneKey marks the IdP session sid as logged out.
func (k *keys) sidTombstoneKey(sid string) string {
	return "sidx:x:" + b64(mac(&k.index, "sid", sid)[:digestLen])
}

// additionalData binds a sealed value to its session id, so a value copied
// under another session's key does not open.
func additionalData(id string) []byte {
	return append([]byte("gatehouse session v1\x00"), id...)
}

// seal encodes and encrypts s for the store (internal/seal, under a key of
// the session's own: HMAC(seal root, id), so the number of random nonces
// drawn under any one key stays tiny).
func (m *Manager) seal(s *Session) ([]byte, error) {
	plain, err := encode(s)
	if err != nil {
		return nil, err
	}
	return m.keys.sealer.Seal(nil, s.ID, plain, additionalData(s.ID)), nil
}

// errSealed is returned by open for any value that does not decrypt.
var errSealed = errors.New("session: stored value does not decrypt")

// open decrypts and decodes a stored value of the session id.
func (m *Manager) open(id string, value []byte) (*Session, error) {
	// decode copies what it keeps, so the plaintext can live in a pooled
	// buffer, wiped before reuse: one allocation less per request.
	buf := m.keys.plain.Get().(*[]byte)
	defer func() {
		clear((*buf)[:cap(*buf)])
		m.keys.plain.Put(buf)
	}()
	plain, err := m.keys.sealer.Open((*buf)[:0], id, value, additionalData(id))
	if err != nil {
		return nil, errSealed
	}
	*buf = plain[:0]
	s, err := decode(plain, m.claims)
	if err != nil {
		return nil, err
	}
	s.ID = id
	return s, nil
}
