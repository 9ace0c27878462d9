package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse: Parse never panics and never hangs on any file; a file it
// accepts validates and decodes as yaml.v3's Unmarshal reads it into the
// same types (differsFromUnmarshal); a file it refuses is refused with
// Errors, each naming the file (the "file:line: field: reason" format
// operators rely on).
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "../../../examples/cluster/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("node: {id: n1}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("node: !!binary aGVsbG8=\n"))
	f.Add([]byte("backends:\n  - <<: *missing\n"))
	f.Add([]byte("--- \n...\n---\n"))
	f.Add([]byte(tcpCheckBase + "    check:\n      tcp_check:\n        - expect: {string: '220 '}\n        - send: QUIT\\r\\n\n        - send_binary: 0d0a\n        - expect: {rstring: '^221', binary: 3232}\n"))
	f.Add([]byte(eipBase + "route53: {hosted_zone_id: Z1, name: '*.lb.example.com.', ttl: 30, addresses: [198.51.100.7]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without an error")
			}
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that Validate refuses: %v", verr)
			}
			if diff := differsFromUnmarshal(data); diff != "" {
				t.Fatal(diff)
			}
			return
		}
		if c != nil {
			t.Fatal("a config returned with an error")
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not config.Errors: %T %v", err, err)
		}
		for _, e := range es {
			if e == nil || e.File != "fuzz.yaml" || e.Reason == "" {
				t.Fatalf("bad error entry %#v", e)
			}
			if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %q", e.Error())
			}
		}
	})
}

// Found by FuzzParse: a mapping that merges itself recursed until the
// stack overflowed (a crash, not an error), and chains of merged aliases
// multiplied the decoding work exponentially.
func TestParseSelfMergeAndAliasChains(t *testing.T) {
	self := "node: {id: n1, data_dir: /d}\nbackends:\n  - &common\n    <<: *common\n    name: green\n"
	if _, err := Parse("self.yaml", []byte(self)); err == nil {
		t.Log("accepted") // an error for the missing fields is expected; no crash is the point
	}
	var b strings.Builder
	b.WriteString("x0: &a0 {name: app}\n")
	for i := 1; i <= 40; i++ {
		b.WriteString("x" + itoa(i) + ": &a" + itoa(i) + " {<<: [*a" + itoa(i-1) + ", *a" + itoa(i-1) + "]}\n")
	}
	b.WriteString("backends:\n  - {<<: *a40}\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Parse("chain.yaml", []byte(b.String()))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a chain of 40 doubled merges did not finish in 5 s")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
