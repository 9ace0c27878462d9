package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string:
// "250ms", "1s", "2m", "1h30m". A bare number other than 0 is refused
// (HAProxy would read it as milliseconds, Go as nothing): write the unit.
type Duration struct{ time.Duration }

// ParseDuration parses s as a Duration. Its error reads
// `invalid duration "1x"` plus, when it helps, a hint.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err == nil {
		return Duration{d}, nil
	}
	msg := fmt.Sprintf("invalid duration %q", s)
	switch {
	case strings.Contains(err.Error(), "missing unit"):
		msg += fmt.Sprintf(": missing unit, e.g. %q", strings.TrimSpace(s)+"ms")
	case strings.Contains(err.Error(), "unknown unit"):
		msg += ": units are ns, us, ms, s, m, h"
	}
	return Duration{}, fmt.Errorf("%s", msg)
}

// MarshalYAML writes the duration as a string such as "1m30s".
func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

// UnmarshalYAML reads a duration string; it lets plain yaml.Unmarshal
// decode the config types too (without this package's line-aware errors).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration, got %s", n.Line, kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalText writes the duration as a string such as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText reads a duration string (for flags and JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// scalarKind and decodeScalar make Duration a scalar of the config file
// (scalarDecoder).
func (d *Duration) scalarKind() string { return "a duration" }

func (d *Duration) decodeScalar(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
