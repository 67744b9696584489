package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	dirty := append(append([]debug.BuildSetting(nil), vcs[:4]...), debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	own := func(version string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: Module, Version: version}, Settings: settings}
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                    string
		bi                      *debug.BuildInfo
		ldVersion, ldRev, ldDay string
		want                    Info
	}{
		{"go install @version (no VCS)", own("v1.2.3", nil), "", "", "",
			Info{"v1.2.3", Unknown, Unknown, Unknown, "go1.26.0", platform}},
		{"go build in a clean checkout", own("v0.0.0-20260501100000-0123456789ab", vcs), "", "", "",
			Info{"v0.0.0-20260501100000-0123456789ab", "0123456789abcdef0123456789abcdef01234567", Unknown, "2026-05-01T10:00:00Z", "go1.26.0", platform}},
		{"go build in a dirty checkout", own("v0.0.0-20260501100000-0123456789ab+dirty", dirty), "", "", "",
			Info{"v0.0.0-20260501100000-0123456789ab+dirty", "0123456789abcdef0123456789abcdef01234567+dirty", Unknown, "2026-05-01T10:00:00Z", "go1.26.0", platform}},
		{"-buildvcs=false", own("(devel)", nil), "", "", "",
			Info{"devel", Unknown, Unknown, Unknown, "go1.26.0", platform}},
		{"the linker's values win", own("(devel)", dirty), "v2.0.0", "abc+dirty", "2026-06-01T00:00:00Z",
			Info{"v2.0.0", "abc+dirty", "2026-06-01T00:00:00Z", "2026-05-01T10:00:00Z", "go1.26.0", platform}},
		{"a plugin build: gatehouse is a dependency, the VCS is not its", &debug.BuildInfo{
			GoVersion: "go1.26.1",
			Main:      debug.Module{Path: "example.com/mine", Version: "v9.9.9"},
			Deps:      []*debug.Module{{Path: "example.com/other", Version: "v0.1.0"}, {Path: Module, Version: "v1.4.0"}},
			Settings:  vcs,
		}, "", "", "", Info{"v1.4.0", Unknown, Unknown, Unknown, "go1.26.1", platform}},
		{"a plugin build with gatehouse replaced", &debug.BuildInfo{
			GoVersion: "go1.26.1",
			Main:      debug.Module{Path: "example.com/mine"},
			Deps:      []*debug.Module{{Path: Module, Version: "v1.4.0", Replace: &debug.Module{Path: "../gatehouse", Version: "(devel)"}}},
		}, "", "", "", Info{"devel", Unknown, Unknown, Unknown, "go1.26.1", platform}},
		{"no build info", nil, "", "", "",
			Info{"devel", Unknown, Unknown, Unknown, runtime.Version(), platform}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := from(tt.bi, tt.ldVersion, tt.ldRev, tt.ldDay); got != tt.want {
				t.Errorf("from() = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, tt := range []struct {
		info Info
		want string
	}{
		{Info{"v1.2.3", "abc+dirty", "2026-05-02T00:00:00Z", "2026-05-01T10:00:00Z", "go1.26.0", "linux/arm64"},
			"gatehouse v1.2.3 (revision abc+dirty, committed 2026-05-01T10:00:00Z, built 2026-05-02T00:00:00Z, go1.26.0 linux/arm64)"},
		{Info{"v1.2.3", "abc", "2026-05-02T00:00:00Z", Unknown, "go1.26.0", "darwin/amd64"},
			"gatehouse v1.2.3 (revision abc, built 2026-05-02T00:00:00Z, go1.26.0 darwin/amd64)"},
	} {
		if got := tt.info.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
