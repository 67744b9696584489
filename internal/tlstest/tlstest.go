// Package tlstest makes a throwaway certificate authority for tests: a
// root, an intermediate under it, and leaf certificates for host names and
// IP addresses, issued by the intermediate and written as PEM files with
// their chain. A client that trusts Pool() verifies them as a browser would.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a root and an intermediate certificate authority.
type CA struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
	interPEM          []byte
}

// Leaf is an issued certificate.
type Leaf struct {
	// Cert is the parsed leaf certificate.
	Cert *x509.Certificate
	// CertPEM is the leaf followed by the intermediate (the chain a server
	// sends); KeyPEM its private key (PKCS #8).
	CertPEM, KeyPEM []byte
	key             *ecdsa.PrivateKey
}

// NewCA makes a root valid for a day and an intermediate under it.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca := &CA{rootKey: newKey(t), interKey: newKey(t)}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca.root, _ = sign(t, rootTmpl, rootTmpl, &ca.rootKey.PublicKey, ca.rootKey)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gatehouse test intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca.inter, ca.interPEM = sign(t, interTmpl, ca.root, &ca.interKey.PublicKey, ca.rootKey)
	return ca
}

// Pool holds the root only: a verifying client must be sent the
// intermediate by the server.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// Issue makes a server certificate with serial for names (DNS names or IP
// addresses), valid for a day, issued by the intermediate.
func (ca *CA) Issue(t testing.TB, serial int64, names ...string) *Leaf {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	cert, certPEM := sign(t, tmpl, ca.inter, &key.PublicKey, ca.interKey)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{Cert: cert, key: key, CertPEM: append(certPEM, ca.interPEM...),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
}

// SPKIHash is the base64 SHA-256 of the leaf's public key, the form of
// Chromium's --ignore-certificate-errors-spki-list.
func (l *Leaf) SPKIHash() string {
	sum := sha256.Sum256(l.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Write writes the chain and key as dir/cert.pem and dir/key.pem (replacing
// them through a rename each, as cert-manager and certbot do) and returns
// their paths.
func (l *Leaf) Write(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, l.CertPEM}, {keyFile, l.KeyPEM}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, key *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
