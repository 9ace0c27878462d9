package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ServersFrom takes a backend's servers from EC2 tags or DNS (HAProxy's
// server-template with resolvers; an ALB target group's registration by
// an autoscaling group). The leader polls and commits what it finds
// through Raft. Discovered servers come besides the backend's static
// ones: an EC2 server is named by its instance id (cookie value the same),
// a DNS one address-port (10.0.0.5-8080, cookie value an opaque hash of
// it); a static server of the same name wins and the target is skipped.
// The same on every node; a change needs a restart.
type ServersFrom struct {
	EC2 *DiscoverEC2 `yaml:"ec2"`
	DNS *DiscoverDNS `yaml:"dns"`
	// Interval between two polls; default 10s.
	Interval Duration `yaml:"interval"`
	// DeregistrationDelay is how long a server gone from the answer drains
	// (no new sessions, sticky ones stay) before it is removed; default
	// 300s as ALB's; 0 removes at once.
	DeregistrationDelay Duration `yaml:"deregistration_delay"`
	// MaxRemoveShare is the largest share (0 < share <= 1) of the
	// backend's discovered servers one poll deregisters; default 0.5.
	MaxRemoveShare float64 `yaml:"max_remove_share"`
	// Weight of every discovered server, 1..256; default 1.
	Weight int `yaml:"weight"`
}

// DiscoverEC2 finds running EC2 instances by tags, by private address.
type DiscoverEC2 struct {
	Tags     map[string]string `yaml:"tags"`     // required: every one must match (EC2's * and ? wildcards)
	Port     int               `yaml:"port"`     // required: the servers' port
	Region   string            `yaml:"region"`   // default: the SDK's chain (AWS_REGION, shared config, IMDSv2)
	Endpoint string            `yaml:"endpoint"` // EC2 endpoint URL override (the emulator)
}

// DiscoverDNS finds servers in DNS A or SRV records.
type DiscoverDNS struct {
	Name     string `yaml:"name"`     // required
	Type     string `yaml:"type"`     // A (default) | SRV
	Port     int    `yaml:"port"`     // required with A; SRV records carry theirs
	Resolver string `yaml:"resolver"` // host:port of the DNS server; default the system's
}

// Servers-from limits.
const (
	maxDeregistrationDelay = 24 * time.Hour
	minDiscoveryInterval   = 100 * time.Millisecond
)

// setDefaults: a servers_from section starts from these (defaulter).
func (s *ServersFrom) setDefaults() {
	*s = ServersFrom{Interval: Duration{10 * time.Second}, DeregistrationDelay: Duration{300 * time.Second}, MaxRemoveShare: 0.5, Weight: 1}
}

// setDefaults: a dns section is of type A unless it says otherwise.
func (d *DiscoverDNS) setDefaults() { *d = DiscoverDNS{Type: "A"} }

// serversFrom validates a backend's servers_from.
func (v *validator) serversFrom(path string, s *ServersFrom) {
	if s.EC2 == nil && s.DNS == nil {
		v.errf(path, "needs ec2 or dns (where the servers are found)")
	}
	if e := s.EC2; e != nil {
		p := path + ".ec2"
		if len(e.Tags) == 0 {
			v.errf(p+".tags", "at least one tag is required (an EC2 account's every instance is no backend)")
		}
		for _, k := range slices.Sorted(maps.Keys(e.Tags)) {
			if val := e.Tags[k]; k == "" || len(k) > 128 || len(val) > 256 {
				v.errf(p+".tags", "tag %q=%q: keys are 1..128 characters, values up to 256", k, val)
			}
		}
		v.port(p+".port", e.Port)
		v.endpointURL(p+".endpoint", e.Endpoint)
	}
	if d := s.DNS; d != nil {
		p := path + ".dns"
		if v.required(p+".name", d.Name) {
			if err := CheckRecordName(d.Name); err != nil {
				v.errf(p+".name", "%v", err)
			}
		}
		switch strings.ToUpper(d.Type) {
		case "A":
			v.port(p+".port", d.Port)
		case "SRV":
			if d.Port != 0 {
				v.errf(p+".port", "would be ignored: SRV records carry the port (remove it, or use type A)")
			}
		default:
			v.errf(p+".type", "want A or SRV, got %q", d.Type)
		}
		if d.Resolver != "" {
			v.addr(p+".resolver", d.Resolver, dialAddr)
		}
	}
	v.atLeast(path+".interval", s.Interval, minDiscoveryInterval)
	if dd := s.DeregistrationDelay.Duration; dd < 0 || dd > maxDeregistrationDelay {
		v.errf(path+".deregistration_delay", "must be 0..%s, got %s", maxDeregistrationDelay, s.DeregistrationDelay)
	}
	if s.MaxRemoveShare <= 0 || s.MaxRemoveShare > 1 {
		v.errf(path+".max_remove_share", "must be greater than 0 and at most 1, got %v", s.MaxRemoveShare)
	}
	if s.Weight < 1 || s.Weight > 256 {
		v.errf(path+".weight", "must be 1..256, got %d", s.Weight)
	}
}

func (v *validator) port(path string, p int) {
	if p < 1 || p > 65535 {
		v.errf(path, "required: a port 1..65535, got %d", p)
	}
}

func (v *validator) endpointURL(path, s string) {
	if s == "" {
		return
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errf(path, "invalid URL %q: want http(s)://host[:port]", s)
	}
}

// DiscoveredBackends lists the backends with servers_from.
func (c *Config) DiscoveredBackends() []Backend {
	var out []Backend
	for _, b := range c.Backends {
		if b.ServersFrom != nil {
			out = append(out, b)
		}
	}
	return out
}
