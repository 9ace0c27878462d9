package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Route53 is the DNS record the leader keeps equal to the addresses that
// have a live, ready holder (eipmover.DNSController): one A record in a
// Route 53 hosted zone. The same on every node; a change needs a restart.
type Route53 struct {
	HostedZoneID string `yaml:"hosted_zone_id"` // required: Z… (or /hostedzone/Z…), as the AWS CLI's --hosted-zone-id
	Name         string `yaml:"name"`           // required: the record's name, inside the zone
	TTL          int64  `yaml:"ttl"`            // seconds, default 60
	// Addresses the record may carry: "eips" (default: every configured
	// EIP) or a list of eips[].address or eips[].id.
	Addresses         RecordAddresses `yaml:"addresses,omitempty"`
	Region            string          `yaml:"region"`             // SDK signing region; default us-east-1 (Route 53 is global)
	Endpoint          string          `yaml:"endpoint"`           // Route 53 endpoint URL override (the emulator)
	ReconcileInterval Duration        `yaml:"reconcile_interval"` // how often the record is read to repair drift; default 10s
}

// Route 53's limits the validator applies.
const (
	route53MaxTTL  = 2147483647 // Route 53 accepts 0..2^31-1; 0 is refused here (nothing to cache is no failover plan)
	route53NameMax = 253        // a DNS name's length without the trailing dot
	// AllEIPs is route53.addresses' keyword for every configured EIP.
	AllEIPs = "eips"
)

// setDefaults: a route53 section starts from these (defaulter).
func (r *Route53) setDefaults() {
	*r = Route53{TTL: 60, Region: "us-east-1", ReconcileInterval: Duration{10 * time.Second}}
}

// ZoneID returns the hosted zone id without its "/hostedzone/" prefix.
func (r *Route53) ZoneID() string { return strings.TrimPrefix(r.HostedZoneID, "/hostedzone/") }

// RecordEIPs returns the EIPs the record may carry: every configured EIP
// when addresses is left out, else those it names (by address or id), in
// eips order.
func (c *Config) RecordEIPs() []EIP {
	if c.Route53 == nil {
		return nil
	}
	if len(c.Route53.Addresses) == 0 {
		return slices.Clone(c.EIPs)
	}
	var out []EIP
	for _, e := range c.EIPs {
		if slices.Contains(c.Route53.Addresses, e.Address) || slices.Contains(c.Route53.Addresses, e.ID) {
			out = append(out, e)
		}
	}
	return out
}

// RecordAddresses is route53.addresses: the keyword "eips" (every
// configured EIP, as when it is left out) or a list of eips[].address or
// eips[].id.
type RecordAddresses []string

// decodeYAMLValue reads the keyword or a list (valueDecoder).
func (a *RecordAddresses) decodeYAMLValue(d *decoder, path string, v *yaml.Node) {
	if n := resolve(v); n.Kind == yaml.ScalarNode && !isNull(n) {
		if n.Value != AllEIPs {
			d.fail(path, "want %q or a list of eips[].address or eips[].id, got %q", AllEIPs, n.Value)
		}
		return
	}
	d.seq(path, v, reflect.ValueOf(a).Elem())
}

// UnmarshalYAML reads the keyword or a list for plain yaml.Unmarshal.
func (a *RecordAddresses) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == AllEIPs {
		return nil
	}
	return n.Decode((*[]string)(a))
}

// route53 validates the record's section: the zone id's and the name's
// syntax, the TTL's range, and that every address is a configured EIP.
// Whether the zone exists and holds the name needs the API: haraftd
// -check asks it when it can, and /status reports it.
func (v *validator) route53(c *Config) {
	r := c.Route53
	if r == nil {
		return
	}
	if v.required("route53.hosted_zone_id", r.HostedZoneID) {
		if err := CheckHostedZoneID(r.HostedZoneID); err != nil {
			v.errf("route53.hosted_zone_id", "%v", err)
		}
	}
	if v.required("route53.name", r.Name) {
		if err := CheckRecordName(r.Name); err != nil {
			v.errf("route53.name", "%v", err)
		}
	}
	if r.TTL < 1 || r.TTL > route53MaxTTL {
		v.errf("route53.ttl", "must be 1..%d seconds, got %d", route53MaxTTL, r.TTL)
	}
	if len(c.EIPs) == 0 {
		v.errf("route53", "needs eips: the record carries the addresses of the configured eips")
	}
	seen := map[string]int{}
	for i, a := range r.Addresses {
		p := fmt.Sprintf("route53.addresses[%d]", i)
		j := slices.IndexFunc(c.EIPs, func(e EIP) bool { return e.Address == a || e.ID == a })
		switch {
		case a == "":
			v.errf(p, "required")
		case j < 0:
			known := make([]string, len(c.EIPs))
			for k, e := range c.EIPs {
				known[k] = e.Address
			}
			v.errf(p, "%q is not a configured EIP (eips: %s)", a, strings.Join(known, ", "))
		default:
			if k, dup := seen[c.EIPs[j].ID]; dup {
				v.errf(p, "EIP %s listed twice (also route53.addresses[%d])", c.EIPs[j].ID, k)
			}
			seen[c.EIPs[j].ID] = i
		}
	}
	for _, e := range c.RecordEIPs() {
		if a, err := netip.ParseAddr(e.Address); err == nil && !a.Is4() {
			v.errf("route53.addresses", "EIP %s (%s) is not an IPv4 address: an A record carries IPv4 only", e.ID, e.Address)
		}
	}
	if r.Endpoint != "" {
		if u, err := url.Parse(r.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf("route53.endpoint", "invalid URL %q: want http(s)://host[:port]", r.Endpoint)
		}
	}
	v.positive("route53.reconcile_interval", r.ReconcileInterval)
}

// CheckHostedZoneID checks a hosted zone id's syntax: Route 53's ids are
// up to 32 upper-case letters and digits, optionally after
// "/hostedzone/".
func CheckHostedZoneID(id string) error {
	z := strings.TrimPrefix(id, "/hostedzone/")
	if z == "" || len(z) > 32 {
		return fmt.Errorf("%q is not a hosted zone id (want Z… of up to 32 letters and digits)", id)
	}
	for _, ch := range z {
		if (ch < 'A' || ch > 'Z') && (ch < '0' || ch > '9') {
			return fmt.Errorf("%q is not a hosted zone id (want Z… of up to 32 upper-case letters and digits)", id)
		}
	}
	return nil
}

// CheckRecordName checks a record name's syntax as Route 53 takes it:
// labels of 1..63 letters, digits, '-' or '_' (a leading "*" label for a
// wildcard), not starting or ending with '-', at most 253 characters
// without the trailing dot, at least two labels (a name inside a zone).
func CheckRecordName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return fmt.Errorf("%q is not a DNS name", name)
	}
	if len(n) > route53NameMax {
		return fmt.Errorf("%q is longer than %d characters", name, route53NameMax)
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q is a single label: want the record's full name (lb.example.com)", name)
	}
	for i, l := range labels {
		switch {
		case l == "":
			return fmt.Errorf("%q has an empty label", name)
		case len(l) > 63:
			return fmt.Errorf("%q has a label longer than 63 characters", name)
		case l == "*" && i == 0:
			continue
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("%q: label %q starts or ends with '-'", name, l)
		}
		for _, ch := range l {
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return fmt.Errorf("%q: label %q has %q (letters, digits, '-' and '_' only)", name, l, ch)
			}
		}
	}
	return nil
}
