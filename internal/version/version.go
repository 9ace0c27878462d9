// Package version owns the one-line description of a haraft binary's build
// that -version prints: module version, VCS revision and time, whether the
// tree was modified, and the Go version, all from debug.ReadBuildInfo.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// String describes the running binary's build, e.g.
//
//	haraftd (devel) rev 0316191c3a1e 2026-12-04T20:00:00Z modified go1.26.8
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build info)"
	}
	return format(program, bi)
}

func format(program string, bi *debug.BuildInfo) string {
	var b strings.Builder
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(&b, "%s %s", program, v)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, " rev %s", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, " %s", t)
	}
	if settings["vcs.modified"] == "true" {
		b.WriteString(" modified")
	}
	fmt.Fprintf(&b, " %s", bi.GoVersion)
	return b.String()
}
