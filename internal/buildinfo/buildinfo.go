// Package buildinfo says which build of Sluice is running: the module
// version and the VCS commit the Go toolchain stamped into the binary.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Info is what the binary knows about its own build.
type Info struct {
	// Version is the module version ("v1.2.3", a pseudo-version, or
	// "(devel)" for a build from a work tree).
	Version string
	// Commit is the VCS revision, with "-dirty" when the work tree had
	// uncommitted changes; empty when the build has no VCS stamp (go run,
	// go test).
	Commit string
	// Time is the commit time (RFC 3339), empty without a VCS stamp.
	Time string
	// Go is the toolchain version.
	Go string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Commit != "" && modified {
		info.Commit += "-dirty"
	}
	return info
}

// String is the one-line form `sluice version` prints.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("sluice ")
	b.WriteString(i.Version)
	if i.Commit != "" {
		b.WriteString(" commit ")
		b.WriteString(i.Commit)
	}
	if i.Time != "" {
		b.WriteString(" (")
		b.WriteString(i.Time)
		b.WriteString(")")
	}
	if i.Go != "" {
		b.WriteString(" ")
		b.WriteString(i.Go)
	}
	return b.String()
}
