package cluster

import (
	"log/slog"
	"sync"
	"time"
)

// LogLimiter thins out log lines that a stranger can provoke at will (a
// refused command, a failed authentication): at most one line per key (a
// peer's address) per interval, and the next line says how many were
// left out. Its zero value is ready, with a 10 s interval.
type LogLimiter struct {
	// Every is the shortest time between two lines of one key; 0: 10 s.
	Every time.Duration

	mu   sync.Mutex
	keys map[string]*limitedKey
}

type limitedKey struct {
	last       time.Time
	suppressed int
}

// maxLimitedKeys bounds the memory a flood from many addresses can take:
// past it, keys whose interval is over are forgotten, and while they are
// all fresh new keys share one.
const maxLimitedKeys = 1024

// Allow reports whether a line for key may be logged now, and how many
// lines of key were held back since the last one.
func (l *LogLimiter) Allow(key string) (ok bool, suppressed int) {
	return l.allowAt(key, time.Now())
}

func (l *LogLimiter) allowAt(key string, now time.Time) (bool, int) {
	every := l.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*limitedKey{}
	}
	k, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= maxLimitedKeys {
			for name, old := range l.keys {
				if now.Sub(old.last) >= every {
					delete(l.keys, name)
				}
			}
		}
		if len(l.keys) >= maxLimitedKeys {
			key = "(other addresses)"
			k = l.keys[key]
		}
		if k == nil {
			k = &limitedKey{}
			l.keys[key] = k
		}
	}
	if !k.last.IsZero() && now.Sub(k.last) < every {
		k.suppressed++
		return false, 0
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	return true, n
}

// Warn logs msg at WARN if key's interval allows it, saying how many lines
// of key it held back since the last one.
func (l *LogLimiter) Warn(log *slog.Logger, key, msg string, args ...any) {
	ok, n := l.Allow(key)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Warn(msg, args...)
}
