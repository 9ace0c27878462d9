package config

import (
	"fmt"
	"strings"

	"github.com/haraft/haraft/proxy/tcpcheck"
)

// The tcp-check steps of a mode tcp backend's check:
// backends[].check.tcp_check.

// TCPCheckStep is one "tcp-check" line of HAProxy: exactly one of send,
// send_binary and expect.
type TCPCheckStep struct {
	Send       string          `yaml:"send"`        // tcp-check send: text with HAProxy's escapes (\r \n \t \\ \xHH)
	SendBinary string          `yaml:"send_binary"` // tcp-check send-binary: hex
	Expect     *TCPCheckExpect `yaml:"expect"`      // tcp-check expect
}

// TCPCheckExpect is "tcp-check expect string|rstring|binary <pattern>":
// exactly one of its fields.
type TCPCheckExpect struct {
	String  string `yaml:"string"`  // exact text, escapes as send's
	RString string `yaml:"rstring"` // a regular expression (Go's RE2 syntax)
	Binary  string `yaml:"binary"`  // exact bytes, hex
}

// TCPCheckSteps returns the backend check's tcp-check steps, parsed (nil:
// a connect check). The config is validated: an error here is a step
// Validate refuses too.
func (c *Check) TCPCheckSteps() ([]tcpcheck.Step, error) {
	var out []tcpcheck.Step
	for i, s := range c.TCPCheck {
		st, field, err := s.parse()
		if err != nil {
			return nil, fmt.Errorf("tcp_check[%d]%s: %w", i, field, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// parse parses one step; field is the failing field's path below the
// step ("", ".send", ".expect.rstring", ...).
func (s *TCPCheckStep) parse() (step tcpcheck.Step, field string, err error) {
	var set []string
	if s.Send != "" {
		set = append(set, "send")
	}
	if s.SendBinary != "" {
		set = append(set, "send_binary")
	}
	if s.Expect != nil {
		set = append(set, "expect")
	}
	switch len(set) {
	case 0:
		return step, "", fmt.Errorf("one of send, send_binary or expect is required")
	case 1:
	default:
		return step, "", fmt.Errorf("one action per step, got %s (write one list item each)", strings.Join(set, " and "))
	}
	switch {
	case s.Send != "":
		step, err = tcpcheck.ParseSend(s.Send)
		return step, ".send", err
	case s.SendBinary != "":
		step, err = tcpcheck.ParseSendBinary(s.SendBinary)
		return step, ".send_binary", err
	}
	e := s.Expect
	var kinds []string
	for _, k := range []struct{ name, v string }{{"string", e.String}, {"rstring", e.RString}, {"binary", e.Binary}} {
		if k.v != "" {
			kinds = append(kinds, k.name)
			step, err = tcpcheck.ParseExpect(k.name, k.v)
			field = ".expect." + k.name
		}
	}
	switch len(kinds) {
	case 0:
		return step, ".expect", fmt.Errorf("one of string, rstring or binary is required")
	case 1:
		return step, field, err
	}
	return tcpcheck.Step{}, ".expect", fmt.Errorf("one match per expect, got %s", strings.Join(kinds, " and "))
}

// tcpCheck validates backend b's tcp_check steps.
func (v *validator) tcpCheck(path string, b *Backend) {
	if b.Check == nil || b.Check.TCPCheck == nil {
		return
	}
	path += ".check.tcp_check"
	if modeOf(b.Mode) != ModeTCP {
		v.errf(path, "only with mode tcp (an HTTP backend's check is a connect or httpchk)")
		return
	}
	if len(b.Check.TCPCheck) == 0 {
		v.errf(path, "no steps: list at least one (without tcp_check the check is a TCP connect)")
		return
	}
	for i := range b.Check.TCPCheck {
		if _, field, err := b.Check.TCPCheck[i].parse(); err != nil {
			v.errf(fmt.Sprintf("%s[%d]%s", path, i, field), "%v", err)
		}
	}
}
