// Package buildinfo says which gatehouse this is: its module version, the VCS
// revision it was built from, the build date and the Go toolchain.
//
// The values come from runtime/debug.ReadBuildInfo, which the go command
// fills in: `go install …/cmd/gatehouse@v1.2.3` stamps the module version,
// `go build` in a git checkout stamps the revision and whether the tree had
// changes. A release build (scripts/release.sh, the Dockerfile) states them
// instead with the linker, which wins over what the go command found:
//
//	go build -ldflags "-X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.revision=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/gatehouse
package buildinfo

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Module is gatehouse's module path: in a build of your own main that imports
// gatehouse (docs/plugins.md), gatehouse's version is that dependency's.
const Module = "github.com/gatehouse-dev/gatehouse"

// Set with -ldflags -X; empty means "take it from the build info".
var (
	version  string
	revision string
	date     string
)

// Unknown stands for a value neither the linker nor the go command stated.
const Unknown = "unknown"

// Info is one build's identity. Every field is non-empty.
type Info struct {
	// Version is gatehouse's module version ("v1.2.3", a pseudo-version for a
	// build from a checkout, or "devel" when the go command stamped none).
	Version string
	// Revision is the VCS commit, with "+dirty" when the tree had changes.
	Revision string
	// Date is the build date (RFC 3339) the linker stamped, or Unknown.
	Date string
	// CommitTime is the revision's commit time (RFC 3339) the go command
	// stamped, or Unknown.
	CommitTime string
	// GoVersion is the toolchain that built the binary ("go1.26.0").
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// String is the one line `gatehouse version` prints; the commit time only
// when known.
func (i Info) String() string {
	committed := ""
	if i.CommitTime != Unknown {
		committed = ", committed " + i.CommitTime
	}
	return fmt.Sprintf("gatehouse %s (revision %s%s, built %s, %s %s)",
		i.Version, i.Revision, committed, i.Date, i.GoVersion, i.Platform)
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi, version, revision, date)
}

// from builds Info from the go command's build info (nil when there is none)
// and the linker's overrides (empty when not set).
func from(bi *debug.BuildInfo, ldVersion, ldRevision, ldDate string) Info {
	i := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var vcsRevision, vcsTime string
	var modified bool
	if bi != nil {
		i.GoVersion = bi.GoVersion
		mod := &bi.Main
		if mod.Path != Module {
			mod = nil
			for _, d := range bi.Deps {
				if d.Path == Module {
					mod = d
					if d.Replace != nil {
						mod = d.Replace
					}
					break
				}
			}
		}
		if mod != nil && mod.Version != "" && mod.Version != "(devel)" {
			i.Version = mod.Version
		}
		// The vcs.* settings describe the main module's checkout: in a build
		// of your own main they are your repository's, not gatehouse's.
		if mod == &bi.Main {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					vcsRevision = s.Value
				case "vcs.time":
					vcsTime = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
		}
	}
	i.Version = cmp.Or(ldVersion, i.Version, "devel")
	if vcsRevision != "" && modified {
		vcsRevision += "+dirty"
	}
	i.Revision = cmp.Or(ldRevision, vcsRevision, Unknown)
	i.Date = cmp.Or(ldDate, Unknown)
	i.CommitTime = cmp.Or(vcsTime, Unknown)
	return i
}
