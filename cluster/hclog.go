package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog is the hclog.Logger hashicorp/raft (its transport and snapshot
// store too) writes through: every line goes to the node's slog handler,
// so the daemon has one log stream, one format and one level setting.
// hclog's name becomes the "logger" attribute, its levels map to slog's
// (trace to debug-4), and level, when set, filters further (RaftLogLevel).
type slogHCLog struct {
	log     *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level; shared by With/Named children
	// stopping, once set, classifies raft's ERROR lines as expected: a
	// node (or the whole dev cluster) that is shutting down sees its
	// transport close under in-flight RPCs, a leadership transfer stop
	// replication, and peers go away. They are logged at INFO with
	// shutdown=true, not dropped.
	stopping *atomic.Bool
}

// newHCLog returns the hclog.Logger of a node: named name, writing to log,
// filtered by level ("" or "trace": only the handler's level applies).
func newHCLog(log *slog.Logger, name, level string, stopping *atomic.Bool) hclog.Logger {
	l := &slogHCLog{log: log, name: name, level: new(atomic.Int32), stopping: stopping}
	lv := hclog.Trace
	if level != "" {
		lv = hclog.LevelFromString(level)
		if lv == hclog.NoLevel {
			lv = hclog.Warn
		}
	}
	l.level.Store(int32(lv))
	return l
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (l *slogHCLog) enabled(lv hclog.Level) bool {
	min := hclog.Level(l.level.Load())
	if min == hclog.Off || lv < min {
		return false
	}
	return l.log.Enabled(context.Background(), slogLevel(lv))
}

func (l *slogHCLog) Log(lv hclog.Level, msg string, args ...any) {
	if lv == hclog.NoLevel {
		lv = hclog.Info
	}
	shutdown := lv == hclog.Error && l.stopping != nil && l.stopping.Load()
	if shutdown {
		lv = hclog.Info
	}
	if !l.enabled(lv) {
		return
	}
	attrs := make([]any, 0, 4+len(l.implied)+len(args))
	if l.name != "" {
		attrs = append(attrs, "logger", l.name)
	}
	if shutdown {
		attrs = append(attrs, "shutdown", true)
	}
	attrs = append(attrs, l.implied...)
	for i, a := range args {
		// hclog accepts error values and its Format helper; slog prints
		// both, but an error's text reads better than its struct.
		switch v := a.(type) {
		case error:
			if i%2 == 1 {
				a = v.Error()
			}
		case hclog.Format:
			if len(v) > 0 {
				if f, ok := v[0].(string); ok {
					a = fmt.Sprintf(f, v[1:]...)
				}
			}
		}
		attrs = append(attrs, a)
	}
	l.log.Log(context.Background(), slogLevel(lv), msg, attrs...)
}

func (l *slogHCLog) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *slogHCLog) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *slogHCLog) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *slogHCLog) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *slogHCLog) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }
func (l *slogHCLog) IsTrace() bool                 { return l.enabled(hclog.Trace) }
func (l *slogHCLog) IsDebug() bool                 { return l.enabled(hclog.Debug) }
func (l *slogHCLog) IsInfo() bool                  { return l.enabled(hclog.Info) }
func (l *slogHCLog) IsWarn() bool                  { return l.enabled(hclog.Warn) }
func (l *slogHCLog) IsError() bool                 { return l.enabled(hclog.Error) }
func (l *slogHCLog) ImpliedArgs() []any            { return l.implied }
func (l *slogHCLog) Name() string                  { return l.name }
func (l *slogHCLog) SetLevel(lv hclog.Level)       { l.level.Store(int32(lv)) }
func (l *slogHCLog) GetLevel() hclog.Level         { return hclog.Level(l.level.Load()) }

func (l *slogHCLog) With(args ...any) hclog.Logger {
	c := *l
	c.implied = append(append([]any(nil), l.implied...), args...)
	return &c
}

func (l *slogHCLog) Named(name string) hclog.Logger {
	c := *l
	if l.name != "" {
		name = l.name + "." + name
	}
	c.name = name
	return &c
}

func (l *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

func (l *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return hclogWriter{l}
}

// hclogWriter logs each write of a standard library logger at INFO.
type hclogWriter struct{ l *slogHCLog }

func (w hclogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	w.l.Info(msg)
	return len(p), nil
}
