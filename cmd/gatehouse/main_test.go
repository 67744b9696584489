package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clitest"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
)

// The values a release build stamps with the linker (scripts/release.sh).
const (
	stampVersion  = "v9.8.7-test"
	stampRevision = "0123456789abcdef0123456789abcdef01234567+dirty"
	stampDate     = "2026-05-01T10:00:00Z"
)

// build compiles this command with its version stamped by -ldflags -X, as
// scripts/release.sh does (without -trimpath, so the test build's cache
// serves), and returns the binary's path.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	pkg := "github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	ldflags := fmt.Sprintf("-X %[1]s.version=%[2]s -X %[1]s.revision=%[3]s -X %[1]s.date=%[4]s", pkg, stampVersion, stampRevision, stampDate)
	out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// eventually polls cond until it holds; the bound is for liveness, not timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// The built binary: `version` and `-version` print the stamped values; the
// start-up log line names the same version and revision and the process's own
// PID, and signalling that PID with SIGHUP reloads the config (README,
// "Reload").
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	want := fmt.Sprintf("gatehouse %s (revision %s, built %s, %s %s/%s)\n",
		stampVersion, stampRevision, stampDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, args := range [][]string{{"version"}, {"-version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("gatehouse %v = %q, %v\nwant %q", args, out, err, want)
		}
	}

	routes := clitest.NewRoutes(t, "/a")

	var stdout, stderr logtest.Buffer
	cmd := exec.Command(bin, "-config", routes.Path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	var started clitest.StartLine
	eventually(t, "the start-up line", func() (ok bool) { started, ok = clitest.Started(stdout.String()); return ok })
	// Fatal: a zero pid would signal this test's whole process group below.
	if started.PID != cmd.Process.Pid || started.Version != stampVersion || started.Revision != stampRevision || started.Go != runtime.Version() {
		t.Fatalf("start-up line = %+v, want pid %d, version %s, revision %s, go %s",
			started, cmd.Process.Pid, stampVersion, stampRevision, runtime.Version())
	}

	routes.Write("/b")
	if err := syscall.Kill(started.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload", func() bool { return strings.Contains(stdout.String(), `"config reloaded"`) })
}
