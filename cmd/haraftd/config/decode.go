package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// field is one known key of a mapping and how to decode its value.
type field struct {
	name   string
	decode func(path string, v *yaml.Node)
}

// mapping decodes the mapping n at path through fields. A null value is an
// empty mapping. Keys merged in with "<<" give way to explicit keys.
func (d *decoder) mapping(path string, n *yaml.Node, fields []field) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping, got %s", kindName(n))
		return
	}
	d.pairs(path, n, fields, map[string]int{}, map[*yaml.Node]bool{n: true}, true)
}

// pairs decodes the keys of n, then the mappings merged into it. merged
// holds every mapping already merged into this one: merging one again adds
// no key (earlier keys win), and skipping it stops a mapping that merges
// itself (`&a {<<: *a}`) from recursing forever and chains of aliases from
// multiplying the work.
func (d *decoder) pairs(path string, n *yaml.Node, fields []field, seen map[string]int, merged map[*yaml.Node]bool, explicit bool) {
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
		f := lookup(fields, k.Value)
		if f == nil {
			d.errAt(k.Line, p, "unknown field (known: %s)", fieldNames(fields))
			continue
		}
		if rv := resolve(v); rv.Kind == yaml.MappingNode || rv.Kind == yaml.SequenceNode {
			d.lines[p] = k.Line
		} else {
			d.lines[p] = v.Line
		}
		f.decode(p, v)
	}
	for _, m := range merges {
		m = resolve(m)
		switch m.Kind {
		case yaml.MappingNode:
			if !merged[m] {
				merged[m] = true
				d.pairs(path, m, fields, seen, merged, false)
			}
		case yaml.SequenceNode:
			for _, item := range m.Content {
				if item = resolve(item); item.Kind == yaml.MappingNode {
					if !merged[item] {
						merged[item] = true
						d.pairs(path, item, fields, seen, merged, false)
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

func lookup(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// seq decodes a sequence into dst, each item starting from mk().
func seq[T any](d *decoder, dst *[]T, mk func() T, item func(path string, n *yaml.Node, t *T)) func(string, *yaml.Node) {
	return func(path string, v *yaml.Node) {
		n := resolve(v)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(path, "expected a sequence, got %s", kindName(n))
			return
		}
		out := make([]T, len(n.Content))
		for i, it := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = it.Line
			out[i] = mk()
			item(p, it, &out[i])
		}
		*dst = out
	}
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

func (d *decoder) str(dst *string) func(string, *yaml.Node) {
	return func(path string, v *yaml.Node) {
		if n, ok := d.scalar(path, v, "a string"); ok {
			*dst = n.Value
		}
	}
}

// typed decodes a scalar with yaml.v3's own rules for T (bool, int, uint64).
func typed[T any](d *decoder, dst *T, what string) func(string, *yaml.Node) {
	return func(path string, v *yaml.Node) {
		n, ok := d.scalar(path, v, what)
		if !ok {
			return
		}
		var t T
		if err := n.Decode(&t); err != nil {
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				d.fail(path, "expected %s, got the quoted string %q", what, n.Value)
			} else {
				d.fail(path, "invalid %s %q", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), n.Value)
			}
			return
		}
		*dst = t
	}
}

func (d *decoder) boolean(dst *bool) func(string, *yaml.Node) {
	return typed(d, dst, "a boolean")
}

func (d *decoder) integer(dst *int) func(string, *yaml.Node) {
	return typed(d, dst, "an integer")
}

func (d *decoder) unsigned(dst *uint64) func(string, *yaml.Node) {
	return typed(d, dst, "a non-negative integer")
}

func (d *decoder) duration(dst *Duration) func(string, *yaml.Node) {
	return func(path string, v *yaml.Node) {
		n, ok := d.scalar(path, v, "a duration")
		if !ok {
			return
		}
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.fail(path, "%v", err)
			return
		}
		*dst = dur
	}
}

// The schema: one function per struct, fields in declaration order (the
// order "known:" lists them in).

func (d *decoder) config(root *yaml.Node, c *Config) {
	d.lines = map[string]int{"": root.Line}
	d.mapping("", root, []field{
		{"node", func(p string, v *yaml.Node) { d.node(p, v, &c.Node) }},
		{"raft", func(p string, v *yaml.Node) { d.raft(p, v, &c.Raft) }},
		{"http", func(p string, v *yaml.Node) {
			d.mapping(p, v, []field{{"addr", d.str(&c.HTTP.Addr)}})
		}},
		{"admin", func(p string, v *yaml.Node) { d.admin(p, v, &c.Admin) }},
		{"timeouts", func(p string, v *yaml.Node) { d.timeouts(p, v, &c.Timeouts) }},
		{"proposals", func(p string, v *yaml.Node) { d.proposals(p, v, &c.Proposals) }},
		{"frontends", seq(d, &c.Frontends, func() Frontend { return Frontend{} }, d.frontend)},
		{"backends", seq(d, &c.Backends, defaultBackend, d.backend)},
		{"eips", seq(d, &c.EIPs, func() EIP { return EIP{} }, d.eip)},
		{"eip_mover", func(p string, v *yaml.Node) { d.eipMover(p, v, &c.EIPMover) }},
		{"global", func(p string, v *yaml.Node) {
			d.mapping(p, v, []field{{"maxconn", d.integer(&c.Global.MaxConn)}})
		}},
		{"access_log", func(p string, v *yaml.Node) { d.accessLog(p, v, &c.AccessLog) }},
		{"log", func(p string, v *yaml.Node) { d.log(p, v, &c.Log) }},
		{"route53", func(p string, v *yaml.Node) {
			r := defaultRoute53()
			c.Route53 = &r
			d.route53(p, v, c.Route53)
		}},
	})
}

func (d *decoder) node(path string, v *yaml.Node, n *Node) {
	d.mapping(path, v, []field{
		{"id", d.str(&n.ID)},
		{"az", d.str(&n.AZ)},
		{"data_dir", d.str(&n.DataDir)},
		{"role", d.str(&n.Role)},
	})
}

func (d *decoder) raft(path string, v *yaml.Node, r *Raft) {
	d.mapping(path, v, []field{
		{"bind", d.str(&r.Bind)},
		{"advertise", d.str(&r.Advertise)},
		{"bootstrap", d.boolean(&r.Bootstrap)},
		{"peers", seq(d, &r.Peers, func() Peer { return Peer{} }, func(p string, v *yaml.Node, peer *Peer) {
			d.mapping(p, v, []field{
				{"id", d.str(&peer.ID)},
				{"addr", d.str(&peer.Addr)},
				{"az", d.str(&peer.AZ)},
			})
		})},
		{"heartbeat_timeout", d.duration(&r.HeartbeatTimeout)},
		{"election_timeout", d.duration(&r.ElectionTimeout)},
		{"leader_lease_timeout", d.duration(&r.LeaderLeaseTimeout)},
		{"commit_timeout", d.duration(&r.CommitTimeout)},
		{"snapshot_interval", d.duration(&r.SnapshotInterval)},
		{"snapshot_threshold", d.unsigned(&r.SnapshotThreshold)},
		{"trailing_logs", d.unsigned(&r.TrailingLogs)},
		{"tls", d.tlsPtr(&r.TLS)},
		{"insecure", d.boolean(&r.Insecure)},
		{"cluster_id", d.str(&r.ClusterID)},
	})
}

func (d *decoder) timeouts(path string, v *yaml.Node, t *Timeouts) {
	d.mapping(path, v, []field{
		{"connect", d.duration(&t.Connect)},
		{"client", d.duration(&t.Client)},
		{"server", d.duration(&t.Server)},
		{"http_request", d.duration(&t.HTTPRequest)},
		{"http_keep_alive", d.duration(&t.HTTPKeepAlive)},
		{"queue", d.duration(&t.Queue)},
		{"tunnel", d.duration(&t.Tunnel)},
		{"client_fin", d.duration(&t.ClientFin)},
		{"server_fin", d.duration(&t.ServerFin)},
		{"shutdown", d.duration(&t.Shutdown)},
	})
}

func (d *decoder) proposals(path string, v *yaml.Node, p *Proposals) {
	d.mapping(path, v, []field{
		{"batch_size", d.integer(&p.BatchSize)},
		{"flush_interval", d.duration(&p.FlushInterval)},
		{"queue_size", d.integer(&p.QueueSize)},
	})
}

func (d *decoder) frontend(path string, v *yaml.Node, f *Frontend) {
	d.mapping(path, v, []field{
		{"name", d.str(&f.Name)},
		{"bind", d.str(&f.Bind)},
		{"backend", d.str(&f.Backend)},
		{"mode", d.str(&f.Mode)},
		{"tls", func(p string, v *yaml.Node) {
			if isNull(resolve(v)) {
				f.TLS = nil
				return
			}
			t := &FrontendTLS{}
			d.mapping(p, v, []field{
				{"certs", seq(d, &t.Certs, func() CertKey { return CertKey{} }, func(p string, v *yaml.Node, ck *CertKey) {
					d.mapping(p, v, []field{
						{"cert_file", d.str(&ck.CertFile)},
						{"key_file", d.str(&ck.KeyFile)},
					})
				})},
				{"min_version", d.str(&t.MinVersion)},
			})
			f.TLS = t
		}},
		{"maxconn", d.integer(&f.MaxConn)},
		{"access_log", d.str(&f.AccessLog)},
	})
}

func (d *decoder) backend(path string, v *yaml.Node, b *Backend) {
	d.mapping(path, v, []field{
		{"name", d.str(&b.Name)},
		{"mode", d.str(&b.Mode)},
		{"balance", d.str(&b.Balance)},
		{"cookie", func(p string, v *yaml.Node) {
			if isNull(resolve(v)) {
				b.Cookie = nil
				return
			}
			ck := &Cookie{}
			d.cookie(p, v, ck)
			b.Cookie = ck
		}},
		{"learn_commit", d.str(&b.LearnCommit)},
		{"stick", func(p string, v *yaml.Node) {
			if isNull(resolve(v)) {
				b.Stick = nil
				return
			}
			st := &Stick{}
			d.mapping(p, v, []field{
				{"on", d.str(&st.On)},
				{"expire", d.duration(&st.Expire)},
			})
			b.Stick = st
		}},
		{"check", func(p string, v *yaml.Node) {
			if isNull(resolve(v)) {
				b.Check = nil
				return
			}
			ck := defaultCheck()
			d.check(p, v, &ck)
			b.Check = &ck
		}},
		{"servers", seq(d, &b.Servers, defaultServer, d.server)},
		{"options", seq(d, &b.Options, func() string { return "" }, func(p string, v *yaml.Node, o *string) { d.str(o)(p, v) })},
	})
}

func (d *decoder) check(path string, v *yaml.Node, c *Check) {
	d.mapping(path, v, []field{
		{"inter", d.duration(&c.Inter)},
		{"fastinter", d.duration(&c.FastInter)},
		{"downinter", d.duration(&c.DownInter)},
		{"timeout", d.duration(&c.Timeout)},
		{"rise", d.integer(&c.Rise)},
		{"fall", d.integer(&c.Fall)},
		{"httpchk", func(p string, v *yaml.Node) {
			if isNull(resolve(v)) {
				c.HTTPChk = nil
				return
			}
			h := &HTTPCheck{}
			d.mapping(p, v, []field{
				{"method", d.str(&h.Method)},
				{"uri", d.str(&h.URI)},
				{"host", d.str(&h.Host)},
				{"expect_status", d.integer(&h.ExpectStatus)},
			})
			c.HTTPChk = h
		}},
		{"agree_down", d.integer(&c.AgreeDown)},
		{"agree_up", d.integer(&c.AgreeUp)},
	})
}

func (d *decoder) cookie(path string, v *yaml.Node, c *Cookie) {
	d.mapping(path, v, []field{
		{"name", d.str(&c.Name)},
		{"mode", d.str(&c.Mode)},
		{"indirect", d.boolean(&c.Indirect)},
		{"nocache", d.boolean(&c.NoCache)},
		{"httponly", d.boolean(&c.HTTPOnly)},
		{"secure", d.boolean(&c.Secure)},
		{"dynamic_key", d.str(&c.DynamicKey)},
		{"maxidle", d.duration(&c.MaxIdle)},
		{"maxlife", d.duration(&c.MaxLife)},
	})
}

func (d *decoder) server(path string, v *yaml.Node, s *Server) {
	d.mapping(path, v, []field{
		{"name", d.str(&s.Name)},
		{"addr", d.str(&s.Addr)},
		{"cookie", d.str(&s.Cookie)},
		{"weight", d.integer(&s.Weight)},
		{"maxconn", d.integer(&s.MaxConn)},
	})
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
