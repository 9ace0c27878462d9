package daemon

import (
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
)

// touchInterval reports used sessions often enough for the shortest
// maxidle: a quarter of it, between 50 ms and 1 s.
func touchInterval(cfg *config.Config) time.Duration {
	d := time.Second
	for _, b := range cfg.Backends {
		if b.Cookie != nil && b.Cookie.MaxIdle.Duration > 0 {
			d = min(d, max(b.Cookie.MaxIdle.Duration/4, 50*time.Millisecond))
		}
		if b.Stick != nil && b.Stick.Expire.Duration > 0 {
			d = min(d, max(b.Stick.Expire.Duration/4, 50*time.Millisecond))
		}
	}
	return d
}
