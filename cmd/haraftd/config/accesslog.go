package config

import (
	"fmt"

	"github.com/haraft/haraft/proxy/accesslog"
)

// AccessLog is where and how the frontends log their requests (HAProxy's
// "log" line and "option httplog"). It is on by default, to stdout.
type AccessLog struct {
	// Target: stdout (default) | stderr | file:/path (reopened on SIGUSR1,
	// for logrotate) | udp://host:port | unix:///dev/log (both
	// syslog, RFC 5424) | off.
	Target string `yaml:"target"`
	// Format: httplog (default; tcplog for TCP frontends) | json.
	Format string `yaml:"format"`
	// Facility and Tag are the syslog facility (default local0) and
	// APP-NAME (default haraft).
	Facility string `yaml:"facility"`
	Tag      string `yaml:"tag"`
	// Queue is how many lines may wait for the writer (default 8192);
	// beyond, lines are dropped and counted
	// (haraft_access_log_lines_total{outcome="dropped"}), never waited for.
	Queue int `yaml:"queue"`
}

// Off reports whether the access log is turned off for every frontend.
func (a AccessLog) Off() bool { return a.Target == "off" }

// Options returns the writer options of an access log that is on; the
// config must have been validated.
func (a AccessLog) Options() (accesslog.Options, error) {
	t, err := accesslog.ParseTarget(a.targetOrDefault())
	if err != nil {
		return accesslog.Options{}, err
	}
	f, err := accesslog.ParseFormat(a.Format)
	if err != nil {
		return accesslog.Options{}, err
	}
	fac, err := accesslog.ParseFacility(a.facilityOrDefault())
	if err != nil {
		return accesslog.Options{}, err
	}
	return accesslog.Options{Target: t, Format: f, Facility: fac, Tag: a.Tag, Queue: a.Queue}, nil
}

func (a AccessLog) targetOrDefault() string {
	if a.Target == "" {
		return "stdout"
	}
	return a.Target
}

func (a AccessLog) facilityOrDefault() string {
	if a.Facility == "" {
		return "local0"
	}
	return a.Facility
}

// accessLog checks access_log and the frontends' access_log switch.
func (v *validator) accessLog(c *Config) {
	a := c.AccessLog
	if !a.Off() {
		if _, err := accesslog.ParseTarget(a.targetOrDefault()); err != nil {
			v.errf("access_log.target", "%v", err)
		}
	}
	if a.Format != "" && a.Format != "httplog" && a.Format != "json" {
		v.errf("access_log.format", "want httplog or json, got %q", a.Format)
	}
	if _, err := accesslog.ParseFacility(a.facilityOrDefault()); err != nil {
		v.errf("access_log.facility", "%v", err)
	}
	for _, ch := range a.Tag {
		if ch <= ' ' || ch >= 0x7f {
			v.errf("access_log.tag", "printable ASCII without spaces only (RFC 5424 APP-NAME), got %q", a.Tag)
			break
		}
	}
	if len(a.Tag) > 48 {
		v.errf("access_log.tag", "at most 48 characters (RFC 5424 APP-NAME), got %d", len(a.Tag))
	}
	if a.Queue < 0 {
		v.errf("access_log.queue", "must be 0 (default 8192) or positive, got %d", a.Queue)
	}
	for i, f := range c.Frontends {
		if f.AccessLog != "" && f.AccessLog != "on" && f.AccessLog != "off" {
			v.errf(fmt.Sprintf("frontends[%d].access_log", i), "want on or off, got %q", f.AccessLog)
		}
	}
}
