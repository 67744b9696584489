// Package redistest runs a real redis-server for tests: on a free loopback
// port, with persistence off and a private temporary directory, stopped when
// the test ends. Stop and Start simulate Redis going down and coming back on
// the same address; Freeze and Thaw simulate a Redis that accepts connections
// but never answers (a hung or overloaded server).
//
// The redis-server binary comes from the system (Debian: apt-get install -y
// redis-server). When it is missing the test is skipped, except under CI=true,
// where a missing binary fails the test: the Redis tests must run in CI.
package redistest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the name of the server executable looked up in PATH.
const Binary = "redis-server"

const (
	// startTimeout bounds the wait for a started server to answer PING.
	startTimeout = 15 * time.Second
	// stopTimeout bounds the wait for a stopped server to exit before it is killed.
	stopTimeout = 10 * time.Second
	// startAttempts is how many free ports New tries: another process may
	// take the port between our probe and the server's bind.
	startAttempts = 5
)

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	// sentinelConf is the config file of a Sentinel ("" for a data server).
	sentinelConf string
	// tls is the client configuration trusting the server's certificate,
	// nil for a plain-text server.
	tls *tls.Config

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	frozen bool
}

// Option adjusts the server's command line.
type Option func(*Server)

// WithArgs appends redis-server arguments (e.g. "--requirepass", "s3cret").
func WithArgs(args ...string) Option {
	return func(s *Server) { s.args = append(s.args, args...) }
}

// Lookup returns the path of the redis-server binary. Without it the test is
// skipped, or fails when the environment variable CI is "true".
func Lookup(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true: the Redis tests must run; apt-get install -y redis-server): %v", Binary, err)
		return ""
	}
	t.Skipf("%s not found; install it (apt-get install -y redis-server) to run the Redis tests", Binary)
	return ""
}

// New starts a redis-server on a free 127.0.0.1 port and waits until it
// answers PING. The server is stopped when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, bin: Lookup(t), dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	return s.run()
}

// NewTLS is New for a server that speaks only TLS, with a fresh self-signed
// certificate for 127.0.0.1 and localhost; ClientTLS trusts it.
func NewTLS(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, bin: Lookup(t), dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	pool, err := writeCert(s.dir)
	if err != nil {
		t.Fatalf("redistest: generating a TLS certificate: %v", err)
	}
	s.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return s.run()
}

// NewSentinel starts a Redis Sentinel on a free 127.0.0.1 port monitoring
// master under the name masterName (quorum 1), and waits until it answers
// PING. Connect through it with a redis:// URL carrying master_name.
func NewSentinel(t testing.TB, master *Server, masterName string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Lookup(t), dir: t.TempDir()}
	s.sentinelConf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		masterName, master.port, masterName)
	if err := os.WriteFile(s.sentinelConf, []byte(conf), 0o600); err != nil {
		t.Fatalf("redistest: writing the Sentinel config: %v", err)
	}
	return s.run()
}

func (s *Server) run() *Server {
	t := s.t
	t.Helper()
	t.Cleanup(s.cleanup)
	var err error
	for range startAttempts {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: starting %s: %v", Binary, err)
	return nil
}

// Names of the TLS files in the server's directory.
const (
	certFile = "cert.pem"
	keyFile  = "key.pem"
)

// writeCert writes a self-signed certificate and its key into dir and returns
// a pool trusting it.
func writeCert(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, certFile), certPEM, 0o600); err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, keyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns a redis:// URL (rediss:// for a TLS server) for database db of
// the server.
func (s *Server) URL(db int) string {
	scheme := "redis"
	if s.tls != nil {
		scheme = "rediss"
	}
	return fmt.Sprintf("%s://%s/%d", scheme, s.Addr(), db)
}

// ClientTLS returns a client TLS configuration that trusts the server's
// self-signed certificate (nil for a plain-text server).
func (s *Server) ClientTLS() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// Stop shuts the server down (data is lost: persistence is off) and waits for
// it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Fatalf("redistest: stopping: %v", err)
	}
}

// Start starts a stopped server again on the same port and waits until it
// answers PING. Starting a running server is a no-op.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restarting on port %d: %v", s.port, err)
	}
}

// Freeze suspends the server process (SIGSTOP): the kernel still accepts TCP
// connections but nothing is ever answered, like a hung Redis. Thaw resumes it;
// cleanup thaws a frozen server before stopping it.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP, true) }

// Thaw resumes a server suspended by Freeze (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, frozen bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: %v on a stopped server", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: sending %v: %v", sig, err)
	}
	s.frozen = frozen
}

func (s *Server) cleanup() {
	if err := s.stop(); err != nil {
		s.t.Errorf("redistest: stopping at cleanup: %v", err)
	}
}

func (s *Server) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	args := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		args = []string{
			"--port", "0", // no plain-text listener
			"--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", filepath.Join(s.dir, certFile),
			"--tls-key-file", filepath.Join(s.dir, keyFile),
			"--tls-ca-cert-file", filepath.Join(s.dir, certFile),
			"--tls-auth-clients", "no",
		}
	}
	common := []string{
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
		"--protected-mode", "yes",
	}
	if s.sentinelConf != "" {
		// Sentinel mode: the config file (which Sentinel rewrites) comes first.
		args = append([]string{s.sentinelConf, "--sentinel"}, args...)
	} else {
		common = append(common, "--save", "", "--appendonly", "no")
	}
	args = append(append(args, common...), s.args...)
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := waitReady(s.Addr(), s.tls, exited, logPath, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%w; log:\n%s", err, tail(logPath))
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

func (s *Server) stop() error {
	s.mu.Lock()
	cmd, exited, frozen := s.cmd, s.exited, s.frozen
	s.cmd, s.exited, s.frozen = nil, nil, false
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if frozen {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", Binary, stopTimeout)
	}
}

// waitReady polls addr with PING until it answers +PONG and the log at
// logPath says that process pid has bound its port, or the process exits,
// or startTimeout passes. The log is what tells this server from another
// one that took the port between freePort and the bind (a test running in
// parallel): a PONG alone could come from that other server, and its
// password, databases or TLS are not this one's.
func waitReady(addr string, tlsConf *tls.Config, exited <-chan struct{}, logPath string, pid int) error {
	end := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(end) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before answering PING", Binary)
		default:
		}
		if err = ping(addr, tlsConf); err == nil {
			if err = listening(logPath, pid); err == nil {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %s: %w", addr, startTimeout, err)
}

// listening reports (nil) whether the log at logPath has the line process
// pid writes once it listens: "Server initialized" (a server) or "Sentinel
// ID is" (a Sentinel), both logged after the bind, which a port taken by
// another process fails. Lines start with the pid: a server restarted on the
// same port (Start after Stop) appends to the same log.
func listening(logPath string, pid int) error {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	prefix := strconv.Itoa(pid) + ":"
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, prefix) && (strings.Contains(line, "Server initialized") || strings.Contains(line, "Sentinel ID is")) {
			return nil
		}
	}
	return fmt.Errorf("process %d has not logged that it listens", pid)
}

// ping sends one inline PING command (over TLS when tlsConf is not nil) and
// expects +PONG.
func ping(addr string, tlsConf *tls.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if tlsConf != nil {
		d := tls.Dialer{Config: tlsConf}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// A server still loading or requiring a password answers -ERR/-NOAUTH:
	// it is up, which is all we wait for.
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of the server's log for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2048
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
