package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Live reload (haraftd's SIGHUP and haraftctl reload) applies a new file's
// frontends, backends (servers, weights, options, checks, cookies) and
// timeouts to a running node. Everything else names the node itself or
// what it shares with its peers (node, raft, http, admin, eips, eip_mover,
// proposals, global, and any section added later) and changes only with a
// restart: ReloadErrors refuses a file that changes it.

// liveFields are the top-level fields a reload applies.
var liveFields = map[string]bool{"Frontends": true, "Backends": true, "Timeouts": true}

// ReloadErrors returns, as Errors placed at the new file's lines, the
// fields that next changes and a running node cannot apply without a
// restart; nil when next can be applied live. Both configs are valid
// (Load or Validate passed).
func (c *Config) ReloadErrors(next *Config) error {
	var errs Errors
	cv, nv := reflect.ValueOf(c).Elem(), reflect.ValueOf(next).Elem()
	t := cv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Name == "File" || liveFields[f.Name] {
			continue
		}
		if reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		path := name
		if sub := changedSubfield(cv.Field(i), nv.Field(i)); sub != "" {
			path = name + "." + sub
		}
		errs = append(errs, next.ErrorAt(path, fmt.Sprintf("cannot change while the node runs (was %s); restart the node to apply it", describe(c, path))))
	}
	return errs.orNil()
}

// changedSubfield names the first field of a struct section that differs
// ("" when the section is not a struct).
func changedSubfield(a, b reflect.Value) string {
	if a.Kind() != reflect.Struct {
		return ""
	}
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if f.IsExported() && !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return strings.Split(f.Tag.Get("yaml"), ",")[0]
		}
	}
	return ""
}

// describe prints the running value of a simple field for the message.
func describe(c *Config, path string) string {
	switch path {
	case "node.id":
		return fmt.Sprintf("%q", c.Node.ID)
	case "node.data_dir":
		return fmt.Sprintf("%q", c.Node.DataDir)
	case "raft.bind":
		return fmt.Sprintf("%q", c.Raft.Bind)
	case "raft.advertise":
		return fmt.Sprintf("%q", c.Raft.Advertise)
	case "http.addr":
		return fmt.Sprintf("%q", c.HTTP.Addr)
	}
	return "another value"
}

// ErrorAt returns an *Error about field path of c, placed at the line the
// field (or its nearest parent) was read from.
func (c *Config) ErrorAt(path, reason string) *Error {
	return &Error{File: c.File, Line: lineOf(c.lines, path), Field: path, Reason: reason}
}
