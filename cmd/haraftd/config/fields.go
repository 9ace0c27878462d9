package config

import (
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// The config file's field names are the yaml tags of the config types; the
// decoder (decode.go) derives each mapping's known keys from them, so a new
// field needs only its tag. A field's Go type says how its value decodes:
//
//   - a struct: a mapping of its tagged fields, listed in declaration order
//     ("unknown field (known: ...)"); a null value leaves it as it was
//   - a pointer: null is nil; anything else a new value, from its type's
//     defaults (defaulter)
//   - a slice: a sequence; each item starts from its type's defaults; null
//     leaves the slice as it was (its default)
//   - a map with string keys: a mapping of any keys
//   - string, bool, integers, floats: a scalar, by yaml.v3's rules
//   - a type implementing scalarDecoder (Duration): a scalar in its own syntax
//   - a type implementing valueDecoder: however it decodes itself

// field is one key of a struct's mapping: its name and the struct field
// (an index path through inlined structs) its value goes to.
type field struct {
	name  string
	index []int
}

// fieldsOf lists the config fields of struct type t in declaration order:
// exported fields with a yaml tag other than "-". A tag with an empty name
// (`yaml:",omitempty"`) names the field by its lowercased Go name, as
// yaml.v3 does; `yaml:",inline"` on a struct field lifts its fields into t.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if hasOpt(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				out = append(out, field{f.name, append([]int{i}, f.index...)})
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name, []int{i}})
	}
	return out
}

func hasOpt(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// scalarDecoder is implemented (on the pointer) by a config type written
// as one scalar in a syntax of its own.
type scalarDecoder interface {
	// scalarKind names the scalar in errors: "expected a duration, got a
	// mapping".
	scalarKind() string
	// decodeScalar sets the value from the scalar's text; its error is the
	// reason reported for the field.
	decodeScalar(s string) error
}

// valueDecoder is implemented (on the pointer) by a config type whose
// value takes more than one shape (route53.addresses: a keyword or a
// list); it decodes v itself, through d's helpers, recording its errors
// with d.fail.
type valueDecoder interface {
	decodeYAMLValue(d *decoder, path string, v *yaml.Node)
}

// defaulter is implemented (on the pointer) by a config type whose new
// values (a list item, a pointer set in the file) do not start from zero.
type defaulter interface {
	setDefaults()
}

// newValue returns a pointer to a new t, holding t's defaults.
func (d *decoder) newValue(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if def, ok := p.Interface().(defaulter); ok && !d.plain {
		def.setDefaults()
	}
	return p
}
