package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into a Config by hand, so that every value
// keeps its line and every unknown field is reported with the known ones.
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int  // field path -> line, for Validate
	bad   map[string]bool // field paths whose value could not be decoded
	// plain makes new list items and pointers start from zero instead of
	// their type's defaults, as yaml.Unmarshal's do (the differential test).
	plain bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, bad: map[string]bool{}}
}

// errAt records a problem at an explicit line.
func (d *decoder) errAt(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: path, Reason: fmt.Sprintf(format, args...)})
}

// fail records that the value at path could not be decoded; Validate's
// errors about path (it kept its default) are then dropped.
func (d *decoder) fail(path, format string, args ...any) {
	d.errAt(lineOf(d.lines, path), path, format, args...)
	d.bad[path] = true
}

// failed reports whether path or one of its parents could not be decoded.
func (d *decoder) failed(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// yaml.v3 reports syntax errors as "yaml: line N: problem", N being
// 1-based for scanner errors but 0-based for parser errors, and leaves out
// "line N: " when N would be 0 (an error on the first line).
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are yaml.v3's parser (not scanner) error messages.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// unknownAnchor is yaml.v3's message for an alias to no anchor.
var unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// document parses data and returns the root mapping of its one document,
// or nil after recording why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errAt(0, "", "empty config")
		} else {
			d.syntax(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errAt(next.Line, "", "a second YAML document: a node config is a single document")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntax(err, data)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errAt(0, "", "empty config")
		return nil
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		d.errAt(0, "", "empty config")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errAt(root.Line, "", "expected a mapping at the top level, got %s", kindName(root))
		return nil
	}
	return root
}

// syntax records a YAML syntax error at the right 1-based line.
func (d *decoder) syntax(err error, data []byte) {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			line++
		}
		d.errAt(line, "", "%s", m[2])
		return
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		d.errAt(lineContaining(data, "*"+m[1]), "", "unknown anchor %q referenced (define it with &%s first)", m[1], m[1])
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if slices.Contains(parserProblems, msg) || strings.Contains(msg, "not allowed in this context") ||
		strings.HasPrefix(msg, "found ") || strings.HasPrefix(msg, "did not find ") || strings.HasPrefix(msg, "could not find ") {
		d.errAt(1, "", "%s", msg) // a syntax error whose line was 0
		return
	}
	d.errAt(0, "", "%s", msg)
}

// lineContaining returns the 1-based line of the first occurrence of s in
// data, or 0.
func lineContaining(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// The schema is the config types themselves (fields.go): a struct field
// tagged `yaml:"name"` is the key "name" of a mapping, decoded by its Go
// type. Fields without a yaml tag, or tagged "-", are not config.

// config decodes the root mapping into c.
func (d *decoder) config(root *yaml.Node, c *Config) {
	d.lines = map[string]int{"": root.Line}
	d.value("", root, reflect.ValueOf(c).Elem())
}

// value decodes v, found at path, into dst (addressable) by dst's type.
func (d *decoder) value(path string, v *yaml.Node, dst reflect.Value) {
	if vd, ok := dst.Addr().Interface().(valueDecoder); ok {
		vd.decodeYAMLValue(d, path, v)
		return
	}
	if sd, ok := dst.Addr().Interface().(scalarDecoder); ok {
		if n, ok := d.scalar(path, v, sd.scalarKind()); ok {
			if err := sd.decodeScalar(n.Value); err != nil {
				d.fail(path, "%v", err)
			}
		}
		return
	}
	switch t := dst.Type(); t.Kind() {
	case reflect.Pointer:
		// null: nil (absent); anything else: a new value, starting from
		// its type's defaults.
		if isNull(resolve(v)) {
			dst.SetZero()
			return
		}
		p := d.newValue(t.Elem())
		d.value(path, v, p.Elem())
		dst.Set(p)
	case reflect.Struct:
		d.mapping(path, v, func() keys { return d.structKeys(dst) })
	case reflect.Map:
		d.mapping(path, v, func() keys { return d.mapKeys(dst) })
	case reflect.Slice:
		d.seq(path, v, dst)
	case reflect.String:
		if n, ok := d.scalar(path, v, "a string"); ok {
			dst.SetString(n.Value)
		}
	case reflect.Bool:
		d.typed(path, v, dst, "a boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.typed(path, v, dst, "an integer")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.typed(path, v, dst, "a non-negative integer")
	case reflect.Float32, reflect.Float64:
		d.typed(path, v, dst, "a number")
	default:
		// A config type with no decoder is a bug TestEveryFieldDecodes
		// catches; a file setting such a field gets an error, not a panic.
		d.fail(path, "no decoder for the field's type %s", t)
	}
}

// keys is the key set of one mapping: decoder returns how to decode the
// value of a key, or false for an unknown key; known lists the keys.
type keys struct {
	decoder func(name string) (func(path string, v *yaml.Node), bool)
	known   func() string
}

// structKeys decodes into the tagged fields of the struct dst.
func (d *decoder) structKeys(dst reflect.Value) keys {
	fields := fieldsOf(dst.Type())
	return keys{
		decoder: func(name string) (func(string, *yaml.Node), bool) {
			i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
			if i < 0 {
				return nil, false
			}
			return func(p string, v *yaml.Node) { d.value(p, v, dst.FieldByIndex(fields[i].index)) }, true
		},
		known: func() string { return fieldNames(fields) },
	}
}

// mapKeys decodes every key of a mapping into a new map[string]T at dst,
// each value starting from T's defaults.
func (d *decoder) mapKeys(dst reflect.Value) keys {
	t := dst.Type()
	if t.Key().Kind() != reflect.String {
		return keys{
			decoder: func(string) (func(string, *yaml.Node), bool) { return nil, false },
			known:   func() string { return "none: no decoder for " + t.String() },
		}
	}
	dst.Set(reflect.MakeMap(t))
	return keys{
		decoder: func(name string) (func(string, *yaml.Node), bool) {
			return func(p string, v *yaml.Node) {
				e := d.newValue(t.Elem())
				d.value(p, v, e.Elem())
				dst.SetMapIndex(reflect.ValueOf(name).Convert(t.Key()), e.Elem())
			}, true
		},
	}
}

// mapping decodes the mapping n at path through the keys mk returns. A
// null value is an empty mapping (mk is not called). Keys merged in with
// "<<" give way to explicit keys.
func (d *decoder) mapping(path string, n *yaml.Node, mk func() keys) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping, got %s", kindName(n))
		return
	}
	d.pairs(path, n, mk(), map[string]int{}, map[*yaml.Node]bool{n: true}, true)
}

// pairs decodes the keys of n, then the mappings merged into it. merged
// holds every mapping already merged into this one: merging one again adds
// no key (earlier keys win), and skipping it stops a mapping that merges
// itself (`&a {<<: *a}`) from recursing forever and chains of aliases from
// multiplying the work.
func (d *decoder) pairs(path string, n *yaml.Node, ks keys, seen map[string]int, merged map[*yaml.Node]bool, explicit bool) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errAt(k.Line, path, "mapping keys must be field names, got %s", kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			if explicit {
				d.errAt(k.Line, p, "duplicate field (first set at line %d)", first)
			}
			continue
		}
		seen[k.Value] = k.Line
		decode, ok := ks.decoder(k.Value)
		if !ok {
			d.errAt(k.Line, p, "unknown field (known: %s)", ks.known())
			continue
		}
		if rv := resolve(v); rv.Kind == yaml.MappingNode || rv.Kind == yaml.SequenceNode {
			d.lines[p] = k.Line
		} else {
			d.lines[p] = v.Line
		}
		decode(p, v)
	}
	for _, m := range merges {
		m = resolve(m)
		switch m.Kind {
		case yaml.MappingNode:
			if !merged[m] {
				merged[m] = true
				d.pairs(path, m, ks, seen, merged, false)
			}
		case yaml.SequenceNode:
			for _, item := range m.Content {
				if item = resolve(item); item.Kind == yaml.MappingNode {
					if !merged[item] {
						merged[item] = true
						d.pairs(path, item, ks, seen, merged, false)
					}
				} else {
					d.errAt(item.Line, path, "merge (<<) needs mappings, got %s", kindName(item))
				}
			}
		default:
			d.errAt(m.Line, path, "merge (<<) needs a mapping or a sequence of mappings, got %s", kindName(m))
		}
	}
}

// seq decodes a sequence into the slice dst, each item starting from its
// type's defaults. A null value leaves dst as it was (its default).
func (d *decoder) seq(path string, v *yaml.Node, dst reflect.Value) {
	n := resolve(v)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "expected a sequence, got %s", kindName(n))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(n.Content), len(n.Content))
	for i, it := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = it.Line
		item := out.Index(i)
		item.Set(d.newValue(item.Type()).Elem())
		d.value(p, it, item)
	}
	dst.Set(out)
}

// scalar returns the scalar at path, or false if it is null (absent) or not
// a scalar (recorded as an error).
func (d *decoder) scalar(path string, v *yaml.Node, want string) (*yaml.Node, bool) {
	n := resolve(v)
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "expected %s, got %s", want, kindName(n))
		return nil, false
	}
	return n, !isNull(n)
}

// typed decodes a scalar into dst with yaml.v3's own rules for its type
// (bool, int, uint64, ...); what names the type in errors.
func (d *decoder) typed(path string, v *yaml.Node, dst reflect.Value, what string) {
	n, ok := d.scalar(path, v, what)
	if !ok {
		return
	}
	t := reflect.New(dst.Type())
	if err := n.Decode(t.Interface()); err != nil {
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			d.fail(path, "expected %s, got the quoted string %q", what, n.Value)
		} else {
			d.fail(path, "invalid %s %q", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), n.Value)
		}
		return
	}
	dst.Set(t.Elem())
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "nothing"
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// parentPath strips the last ".name" or "[i]" of a field path.
func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// lineOf returns the line of path or, when path was not in the file (an
// absent field), of the nearest enclosing mapping or sequence.
func lineOf(lines map[string]int, path string) int {
	if lines == nil {
		return 0
	}
	for {
		if l, ok := lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}
