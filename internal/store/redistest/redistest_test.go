package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
)

// fakeTB records what Lookup does instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }

func TestLookupMissingBinary(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ci          string
		wantSkipped bool
		wantFailed  bool
	}{
		{"local run skips", "", true, false},
		{"CI=false skips", "false", true, false},
		{"CI=true fails", "true", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir()) // no redis-server in here
			t.Setenv("CI", tc.ci)
			f := &fakeTB{TB: t}
			Lookup(f)
			if f.skipped != tc.wantSkipped || f.failed != tc.wantFailed {
				t.Errorf("Lookup(CI=%q) skipped, failed = %v, %v, want %v, %v",
					tc.ci, f.skipped, f.failed, tc.wantSkipped, tc.wantFailed)
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	s := New(t)
	addr := s.Addr()
	steps := []struct {
		name   string
		do     func()
		wantUp bool
	}{
		{"started", func() {}, true},
		{"stopped", s.Stop, false},
		{"stopped twice", s.Stop, false},
		{"restarted", s.Start, true},
		{"started twice", s.Start, true},
		{"frozen", s.Freeze, false},
		{"thawed", s.Thaw, true},
		{"frozen before cleanup", s.Freeze, false},
	}
	for _, st := range steps {
		st.do()
		if err := ping(addr, s.tls); (err == nil) != st.wantUp {
			t.Fatalf("after %s: ping(%s) = %v, want up=%v", st.name, addr, err, st.wantUp)
		}
	}
	if s.Addr() != addr {
		t.Errorf("Addr() = %q after restart, want %q", s.Addr(), addr)
	}
	if got, want := s.URL(3), fmt.Sprintf("redis://%s/3", addr); got != want {
		t.Errorf("URL(3) = %q, want %q", got, want)
	}
}

func TestWithArgs(t *testing.T) {
	s := New(t, WithArgs("--requirepass", "s3cret"))
	// ping accepts -NOAUTH as "up"; prove the password is really required.
	if err := ping(s.Addr(), nil); err != nil {
		t.Fatalf("ping = %v, want nil (NOAUTH counts as up)", err)
	}
	if got := rawCommand(t, s.Addr(), "GET k"); got != "-NOAUTH Authentication required." {
		t.Errorf("GET without AUTH = %q, want -NOAUTH", got)
	}
}

func rawCommand(t *testing.T, addr, cmd string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestTLS(t *testing.T) {
	s := NewTLS(t)
	if got, want := s.URL(0), "rediss://"+s.Addr()+"/0"; got != want {
		t.Errorf("URL(0) = %q, want %q", got, want)
	}
	if err := ping(s.Addr(), s.ClientTLS()); err != nil {
		t.Errorf("ping over TLS = %v, want nil", err)
	}
	if err := ping(s.Addr(), nil); err == nil {
		t.Errorf("plain-text ping to a TLS-only server = nil, want an error")
	}
	if err := ping(s.Addr(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Errorf("ping without trusting the certificate = nil, want a verification error")
	}
	s.Stop()
	s.Start()
	if err := ping(s.Addr(), s.ClientTLS()); err != nil {
		t.Errorf("ping over TLS after restart = %v, want nil", err)
	}
}

func TestSentinel(t *testing.T) {
	master := New(t)
	s := NewSentinel(t, master, "mymaster")
	if got := rawCommand(t, s.Addr(), "SENTINEL get-master-addr-by-name mymaster"); got != "*2" {
		t.Fatalf("SENTINEL get-master-addr-by-name = %q, want a 2-element array", got)
	}
	if err := ping(s.Addr(), nil); err != nil {
		t.Errorf("ping(sentinel) = %v, want nil", err)
	}
}

// TestPortTakenByAnother: a server whose port another redis-server took
// between freePort and the bind (a parallel test's) does not start, though
// the other one answers PING on that port.
func TestPortTakenByAnother(t *testing.T) {
	other := New(t)
	s := &Server{t: t, bin: Lookup(t), dir: t.TempDir(), port: other.port}
	if err := s.start(); err == nil {
		_ = s.stop()
		t.Fatalf("start() on %s, taken by another redis-server = nil, want an error", other.Addr())
	}
}
