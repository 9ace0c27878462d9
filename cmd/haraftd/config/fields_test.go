package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// configFiles are every config file in the repository: testdata, the
// examples and the integration cluster's.
func configFiles(t testing.TB) []string {
	var files []string
	for _, glob := range []string{"testdata/*.yaml", "../../../examples/*/*.yaml", "../../../integration/compose/node*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 8 {
		t.Fatalf("found only %d config files: %v", len(files), files)
	}
	return files
}

// Every config file in the repository loads.
func TestLoadEveryConfigFile(t *testing.T) {
	for _, f := range configFiles(t) {
		t.Run(f, func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sampleYAML writes a YAML value of type t with every field set to a
// non-zero value; ok is false for a type it has no sample for.
func sampleYAML(t reflect.Type, indent string) (string, error) {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[scalarDecoder]()) {
		switch t {
		case reflect.TypeFor[Duration]():
			return "3s", nil
		}
		return "", fmt.Errorf("no sample value for the scalar type %s: add one", t)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sampleYAML(t.Elem(), indent)
	case reflect.Struct:
		var b strings.Builder
		for _, f := range fieldsOf(t) {
			v, err := sampleYAML(t.FieldByIndex(f.index).Type, indent+"  ")
			if err != nil {
				return "", fmt.Errorf("%s: %w", f.name, err)
			}
			fmt.Fprintf(&b, "\n%s%s: %s", indent, f.name, v)
		}
		if b.Len() == 0 {
			return "{}", nil
		}
		return b.String(), nil
	case reflect.Slice:
		v, err := sampleYAML(t.Elem(), indent+"  ")
		return "\n" + indent + "- " + strings.TrimLeft(v, "\n "), err
	case reflect.Map:
		v, err := sampleYAML(t.Elem(), indent+"  ")
		return "\n" + indent + "k: " + v, err
	case reflect.String:
		return "x", nil
	case reflect.Bool:
		return "true", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "7", nil
	case reflect.Float32, reflect.Float64:
		return "1.5", nil
	}
	return "", fmt.Errorf("no sample value for %s", t)
}

// unset lists the tagged fields of v (followed through pointers, the
// first item of slices and maps) that are still zero.
func unset(path string, v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return unset(path, v.Elem())
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		return unset(path+"[0]", v.Index(0))
	case reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
		return unset(path+".k", v.MapIndex(v.MapKeys()[0]))
	case reflect.Struct:
		if _, ok := v.Addr().Interface().(scalarDecoder); ok {
			break
		}
		var out []string
		for _, f := range fieldsOf(v.Type()) {
			out = append(out, unset(joinPath(path, f.name), v.FieldByIndex(f.index))...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// The decoder covers every tagged field of the config types: a document
// setting each field (derived from the types, so a new field is in it)
// decodes without an error and leaves no field zero. It replaces the
// round trip that kept hand-written field tables in line with the tags.
func TestEveryFieldDecodes(t *testing.T) {
	doc, err := sampleYAML(reflect.TypeFor[Config](), "")
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder("all.yaml")
	d.plain = true // start from zero, so a field left alone shows
	root := d.document([]byte(doc))
	if root == nil {
		t.Fatalf("%v\n%s", d.errs, doc)
	}
	var c Config
	d.config(root, &c)
	if len(d.errs) > 0 {
		t.Fatalf("%v\n%s", d.errs, doc)
	}
	if u := unset("", reflect.ValueOf(&c).Elem()); len(u) > 0 {
		t.Fatalf("fields not decoded: %v\n%s", u, doc)
	}
	// Every key is known where it is: each line of the document is a
	// field path the decoder recorded a line for.
	if n := strings.Count(doc, ":"); len(d.lines) < n {
		t.Errorf("%d lines recorded for %d keys", len(d.lines), n)
	}
}

// Only tagged, exported fields are config; "-" and untagged are not, and
// the known-field list follows declaration order.
func TestFieldsOf(t *testing.T) {
	type inner struct {
		C int `yaml:"c"`
	}
	type s struct {
		A      string `yaml:"a"`
		Skip   string `yaml:"-"`
		NoTag  string
		hidden string `yaml:"hidden"`
		B      bool   `yaml:",omitempty"`
		In     inner  `yaml:",inline"`
		D      int    `yaml:"d,omitempty"`
	}
	_ = s{}.hidden
	if got := fieldNames(fieldsOf(reflect.TypeFor[s]())); got != "a, b, c, d" {
		t.Errorf("fields = %q, want a, b, c, d", got)
	}
	if got := fieldNames(fieldsOf(reflect.TypeFor[Config]())); got != "node, raft, http, admin, timeouts, proposals, frontends, backends, eips, eip_mover, global, access_log, log" &&
		!strings.HasPrefix(got, "node, raft, http, admin, timeouts, proposals, frontends, backends, eips, eip_mover, global, access_log, log, ") {
		t.Errorf("Config fields = %q", got)
	}
}

// decodePlain decodes data onto the defaults the way yaml.Unmarshal does:
// new list items and pointers start from zero.
func decodePlain(data []byte) (*Config, Errors) {
	c := Default()
	d := newDecoder("t.yaml")
	d.plain = true
	if root := d.document(data); root != nil {
		d.config(root, c)
	}
	return c, d.errs
}

// differsFromUnmarshal compares, for a document the decoder accepts, its
// result with yaml.v3's own Unmarshal into the same types. It returns ""
// when they agree or the document is one where they are known to differ
// on purpose: !!binary strings (the decoder keeps the text) and aliasing
// yaml.v3 refuses as excessive.
func differsFromUnmarshal(data []byte) string {
	got, errs := decodePlain(data)
	if len(errs) > 0 || strings.Contains(string(data), "binary") {
		return ""
	}
	want := Default()
	if err := yaml.Unmarshal(data, want); err != nil {
		if strings.Contains(err.Error(), "excessive aliasing") {
			return ""
		}
		return fmt.Sprintf("yaml.Unmarshal refuses what the decoder accepts: %v", err)
	}
	if !reflect.DeepEqual(public(got), public(want)) {
		return fmt.Sprintf("decoder:        %+v\nyaml.Unmarshal: %+v", public(got), public(want))
	}
	return ""
}

// The decoder reads every config file, and documents using anchors,
// merges and nulls, as yaml.v3's Unmarshal reads them into the same types.
func TestDecodeMatchesUnmarshal(t *testing.T) {
	docs := map[string]string{
		"merge, explicit keys win": "backends:\n  - &b {name: a, balance: source, servers: [{name: s}]}\n  - {<<: *b, name: b}\n",
		"merge list":               "backends:\n  - <<: [{name: a, balance: source}, {name: b, mode: tcp}]\n    check: {inter: 1s}\n",
		"nulls":                    "node: ~\nraft: {peers: ~, tls: ~}\nbackends: ~\ntimeouts: {connect: ~}\n",
		"empty list":               "backends:\n  - name: a\n    options: []\n",
		"aliased list":             "frontends: &f\n  - {name: w, bind: ':80', backend: a}\n",
		"route53 keyword":          "route53: {name: a.b, addresses: eips}\n",
		"route53 list":             "route53: {name: a.b, addresses: [198.51.100.7], ttl: 30}\n",
		"bools and ints":           "raft: {bootstrap: off, snapshot_threshold: 0x10}\nglobal: {maxconn: +12}\n",
	}
	for _, f := range configFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = string(b)
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			if _, errs := decodePlain([]byte(doc)); len(errs) > 0 {
				t.Fatalf("decoder: %v", errs)
			}
			if diff := differsFromUnmarshal([]byte(doc)); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

// A map of named values decodes each value from its type's defaults,
// with duplicate keys reported, nulls leaving the default and merges
// giving way to explicit keys (no config field is a map yet; this keeps
// the walker ready for one).
func TestDecodeMap(t *testing.T) {
	type holder struct {
		M map[string]Server   `yaml:"m"`
		D map[string]Duration `yaml:"d"`
	}
	d := newDecoder("m.yaml")
	root := d.document([]byte("m:\n  a: {addr: 'h:1'}\n  b: &b {weight: 3}\n  c: {<<: *b, name: c}\nd: {x: 1s, y: 1x}\n"))
	var h holder
	d.lines = map[string]int{}
	d.value("", root, reflect.ValueOf(&h).Elem())
	want := holder{
		M: map[string]Server{"a": {Addr: "h:1", Weight: 1}, "b": {Weight: 3}, "c": {Name: "c", Weight: 3}},
		D: map[string]Duration{"x": {time.Second}, "y": {}},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v, want %+v", h, want)
	}
	if got := d.errs.Error(); got != `m.yaml:5: d.y: invalid duration "1x": units are ns, us, ms, s, m, h` {
		t.Errorf("errors = %q", got)
	}
}
