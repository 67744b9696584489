package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func mustSealer(t testing.TB, secret, label string, version byte) *Sealer {
	t.Helper()
	key, err := Derive([]byte(secret), label)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(key, version)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := mustSealer(t, strings.Repeat("s", 32), "test v1", 1)
	for _, plain := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("p"), 1000)} {
		prefix := []byte("keep")
		sealed := s.Seal(append([]byte(nil), prefix...), "id", plain, []byte("ad"))
		if !bytes.HasPrefix(sealed, prefix) || len(sealed) != len(prefix)+Overhead+len(plain) {
			t.Fatalf("Seal(%d bytes) = %d bytes, want the prefix then %d", len(plain), len(sealed), Overhead+len(plain))
		}
		sealed = sealed[len(prefix):]
		if sealed[0] != 1 {
			t.Errorf("Seal version byte = %d, want 1", sealed[0])
		}
		// Only a long plaintext can be looked for: random bytes hold any one
		// byte ("x") about one time in nine.
		if len(plain) >= 16 && bytes.Contains(sealed, plain) {
			t.Error("Seal output holds the plaintext")
		}
		got, err := s.Open([]byte("pre"), "id", sealed, []byte("ad"))
		if err != nil || !bytes.Equal(got, append([]byte("pre"), plain...)) {
			t.Errorf("Open(Seal(%q)) = %q, %v; want pre+plain", plain, got, err)
		}
		got, err = s.OpenInPlace("id", sealed, []byte("ad"))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("OpenInPlace(Seal(%q)) = %q, %v; want plain", plain, got, err)
		}
	}
	a, b := s.Seal(nil, "id", []byte("same"), nil), s.Seal(nil, "id", []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two Seals of one value are equal: the nonce is not random")
	}
}

// TestOpenRefuses: every value not sealed by this Sealer for this id and
// additional data is refused with ErrOpen, and nothing else is returned.
func TestOpenRefuses(t *testing.T) {
	secret := strings.Repeat("s", 32)
	s := mustSealer(t, secret, "test v1", 1)
	good := s.Seal(nil, "id", []byte("payload"), []byte("ad"))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealer *Sealer
		id, ad string
		value  []byte
	}{
		{"other id", s, "id2", "ad", good},
		{"other additional data", s, "id", "ad2", good},
		{"no additional data", s, "id", "", good},
		{"other secret", mustSealer(t, strings.Repeat("t", 32), "test v1", 1), "id", "ad", good},
		{"other label", mustSealer(t, secret, "test v2", 1), "id", "ad", good},
		{"other version (downgrade)", mustSealer(t, secret, "test v1", 0), "id", "ad", good},
		{"version byte changed", s, "id", "ad", flip(0)},
		{"nonce changed", s, "id", "ad", flip(1)},
		{"ciphertext changed", s, "id", "ad", flip(1 + NonceSize)},
		{"tag changed", s, "id", "ad", flip(len(good) - 1)},
		{"truncated", s, "id", "ad", good[:len(good)-1]},
		{"shorter than the overhead", s, "id", "ad", good[:Overhead-1]},
		{"empty", s, "id", "ad", nil},
		{"extended", s, "id", "ad", append(bytes.Clone(good), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(nil, tt.id, tt.value, []byte(tt.ad))
			if !errors.Is(err, ErrOpen) || got != nil {
				t.Errorf("Open = %q, %v; want nil, ErrOpen", got, err)
			}
			got, err = tt.sealer.OpenInPlace(tt.id, bytes.Clone(tt.value), []byte(tt.ad))
			if !errors.Is(err, ErrOpen) || got != nil {
				t.Errorf("OpenInPlace = %q, %v; want nil, ErrOpen", got, err)
			}
		})
	}
}

func TestNewChecksKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n), 1); err == nil {
			t.Errorf("New(%d-byte key) = nil error, want one", n)
		}
	}
	key := bytes.Repeat([]byte{7}, KeyLen)
	s, err := New(key, 1)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal(nil, "id", []byte("v"), nil)
	clear(key) // New keeps its own copy
	if _, err := s.Open(nil, "id", sealed, nil); err != nil {
		t.Errorf("Open after the caller reused its key slice = %v, want nil", err)
	}
}

func TestDeriveSeparatesLabels(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	a, err := Derive(secret, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Derive(secret, "b")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := Derive(secret, "a")
	if len(a) != KeyLen || bytes.Equal(a, b) || !bytes.Equal(a, a2) {
		t.Errorf("Derive: a=%x b=%x a again=%x; want %d bytes, distinct per label, stable", a, b, a2, KeyLen)
	}
}

// FuzzOpen: Open and OpenInPlace never panic, agree, and never accept a
// value Seal did not make. It is the fuzz target of every sealed value
// gatehouse reads back (sessions, login cookies, cache entries).
func FuzzOpen(f *testing.F) {
	s := mustSealer(f, strings.Repeat("s", 32), "fuzz v1", 1)
	f.Add(s.Seal(nil, "id", []byte("payload"), []byte("ad")), "id", []byte("ad"))
	f.Add([]byte{1}, "", []byte(nil))
	f.Add(bytes.Repeat([]byte{1}, Overhead), "id", []byte("ad"))
	f.Fuzz(func(t *testing.T, value []byte, id string, ad []byte) {
		plain, err := s.Open(nil, id, value, ad)
		if err == nil && (id != "id" || string(ad) != "ad" || string(plain) != "payload") {
			t.Fatalf("Open(%x, %q, %q) = %q, want ErrOpen", value, id, ad, plain)
		}
		inPlace, err2 := s.OpenInPlace(id, bytes.Clone(value), ad)
		if (err == nil) != (err2 == nil) || !bytes.Equal(plain, inPlace) {
			t.Fatalf("OpenInPlace(%x, %q, %q) = %q, %v; Open gave %q, %v", value, id, ad, inPlace, err2, plain, err)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	s := mustSealer(b, strings.Repeat("s", 32), "bench v1", 1)
	plain := bytes.Repeat([]byte("p"), 100)
	buf := make([]byte, 0, Overhead+len(plain))
	out := make([]byte, 0, len(plain))
	b.ReportAllocs()
	for b.Loop() {
		sealed := s.Seal(buf[:0], "id", plain, []byte("ad"))
		if _, err := s.Open(out[:0], "id", sealed, []byte("ad")); err != nil {
			b.Fatal(err)
		}
	}
}
