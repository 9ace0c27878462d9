package daemon

import (
	"errors"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy/accesslog"
)

// The node's access log (access_log in the config): one writer shared by
// the frontends that log (frontends[].access_log, on by default).

// startAccessLog opens the access log's target unless it is off.
func (d *Daemon) startAccessLog(opts Options) error {
	if d.cfg.AccessLog.Off() {
		return nil
	}
	o, err := d.cfg.AccessLog.Options()
	if err != nil {
		return err
	}
	o.Log = d.log
	o.Stdout = opts.AccessLogOutput
	w, err := accesslog.NewWriter(o)
	if err != nil {
		return err
	}
	d.accessLog = w
	return nil
}

// frontendAccessLog returns the logger of a frontend, nil when it logs
// nothing.
func (d *Daemon) frontendAccessLog(fc config.Frontend) accesslog.Logger {
	if d.accessLog == nil || fc.AccessLog == "off" {
		return nil
	}
	return d.accessLog
}

// ReopenLogs reopens the access log file (logrotate: haraftd calls it on
// SIGUSR1). Other targets are
// reopened too (a syslog socket dialled anew); none is not an error.
func (d *Daemon) ReopenLogs() error {
	if d.accessLog == nil {
		return nil
	}
	if err := d.accessLog.Reopen(); err != nil {
		return err
	}
	d.log.Info("access log reopened", "target", d.accessLog.Target().String())
	return nil
}

// AccessLogStats returns the access log's counts; ok is false when it is
// off.
func (d *Daemon) AccessLogStats() (s accesslog.Stats, ok bool) {
	if d.accessLog == nil {
		return s, false
	}
	return d.accessLog.Stats(), true
}

// closeAccessLog writes what is queued and closes the target, once the
// frontends stopped.
func (d *Daemon) closeAccessLog() error {
	if d.accessLog == nil {
		return nil
	}
	return errors.Join(d.accessLog.Close())
}
