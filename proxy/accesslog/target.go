package accesslog

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// TargetKind is where a Writer sends its lines.
type TargetKind uint8

const (
	TargetStdout TargetKind = iota + 1
	TargetStderr
	TargetFile // a file, appended to, reopened on Reopen (logrotate)
	TargetUDP  // syslog (RFC 5424) datagrams over UDP
	TargetUnix // syslog (RFC 5424) datagrams on a unix socket (/dev/log)
)

// Target is a parsed log target.
type Target struct {
	Kind TargetKind
	// Path is the file or unix socket path; Addr the UDP host:port.
	Path, Addr string
}

// Syslog reports whether lines go to a syslog server (and get an RFC 5424
// header).
func (t Target) Syslog() bool { return t.Kind == TargetUDP || t.Kind == TargetUnix }

// String returns the target as ParseTarget reads it.
func (t Target) String() string {
	switch t.Kind {
	case TargetStdout:
		return "stdout"
	case TargetStderr:
		return "stderr"
	case TargetFile:
		return "file:" + t.Path
	case TargetUDP:
		return "udp://" + t.Addr
	case TargetUnix:
		return "unix://" + t.Path
	}
	return ""
}

// ParseTarget reads a log target:
//
//	stdout | stderr
//	file:/var/log/haraft/access.log  (or just an absolute path)
//	udp://127.0.0.1:514              (syslog; the port defaults to 514)
//	unix:///dev/log                  (syslog on a unix datagram socket)
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "stdout":
		return Target{Kind: TargetStdout}, nil
	case s == "stderr":
		return Target{Kind: TargetStderr}, nil
	case strings.HasPrefix(s, "file:"):
		return fileTarget(strings.TrimPrefix(s, "file:"))
	case strings.HasPrefix(s, "/"):
		return fileTarget(s)
	case strings.HasPrefix(s, "udp://"):
		hp := strings.TrimPrefix(s, "udp://")
		if hp == "" {
			return Target{}, fmt.Errorf("log target %q: no host", s)
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			// no port: the whole is the host ("[::1]" or "example").
			host, port = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), "514"
		}
		if host == "" || strings.ContainsAny(host, "/[]@ ") {
			return Target{}, fmt.Errorf("log target %q: bad host %q", s, host)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return Target{}, fmt.Errorf("log target %q: bad port %q", s, port)
		}
		return Target{Kind: TargetUDP, Addr: net.JoinHostPort(host, strconv.FormatUint(p, 10))}, nil
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
			return Target{}, fmt.Errorf("log target %q: want an absolute socket path (unix:///dev/log)", s)
		}
		return Target{Kind: TargetUnix, Path: p}, nil
	}
	return Target{}, fmt.Errorf("log target %q: want stdout, stderr, file:/path, udp://host:port or unix:///path", s)
}

func fileTarget(p string) (Target, error) {
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsRune(p, 0) {
		return Target{}, fmt.Errorf("log target file:%q: want an absolute file path", p)
	}
	return Target{Kind: TargetFile, Path: p}, nil
}

// Facilities are syslog's, by the names HAProxy's log line takes.
var facilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// ParseFacility returns the number of a syslog facility name (local0 is
// 16).
func ParseFacility(s string) (int, error) {
	for i, f := range facilities {
		if f == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown syslog facility %q (want local0..local7, daemon, user, ...)", s)
}
