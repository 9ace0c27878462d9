package config

import (
	"io"
	"log/slog"
)

// Log is the daemon's own log (what it does: elections, health, errors),
// kept apart from the per-request access_log. Every library's lines
// (hashicorp/raft, gRPC, the standard log package) go through the same
// handler: one format, one level.
type Log struct {
	Format string `yaml:"format"` // text (default; slog's key=value) | json (one object a line)
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
}

// Handler returns the slog handler for the daemon log on w; the config
// must have been validated. level overrides Level when not empty (the
// -log-level flag).
func (l Log) Handler(w io.Writer, level string) (slog.Handler, error) {
	if level == "" {
		level = l.Level
	}
	if level == "" {
		level = "info"
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	o := &slog.HandlerOptions{Level: lv}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, o), nil
	}
	return slog.NewTextHandler(w, o), nil
}

// log checks the daemon log's format and level.
func (v *validator) log(l Log) {
	if l.Format != "" && l.Format != "text" && l.Format != "json" {
		v.errf("log.format", "want text or json, got %q", l.Format)
	}
	switch l.Level {
	case "", "debug", "info", "warn", "error":
	default:
		v.errf("log.level", "want debug, info, warn or error, got %q", l.Level)
	}
}
