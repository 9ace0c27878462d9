package daemon

import (
	"log/slog"
	"syscall"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy"
)

// globalMaxConn is global.maxconn, or, when the config sets none, the
// value derived from the file descriptor limit as HAProxy derives it (see
// proxy.DefaultMaxConn). Go raises the soft limit to the hard one as the
// process starts, so the derived value follows the hard limit (ulimit -Hn,
// LimitNOFILE= of a systemd unit).
func globalMaxConn(cfg *config.Config, log *slog.Logger) int {
	if cfg.Global.MaxConn > 0 {
		return cfg.Global.MaxConn
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("maxconn: file descriptor limit unknown", "err", err)
		return proxy.DefaultMaxConn(0)
	}
	n := proxy.DefaultMaxConn(rl.Cur)
	log.Info("global maxconn derived from the file descriptor limit", "maxconn", n, "nofile", rl.Cur)
	return n
}
