package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover/discover"
)

// CheckProblem is what -check found about one servers_from source: the
// config field it concerns and why. A Warning does not fail the check.
type CheckProblem struct {
	Field   string
	Reason  string
	Warning bool
}

// CheckServersFrom asks every servers_from source once, as its first poll
// would (one DescribeInstances with the tag and running filters, one DNS
// resolution). A definite answer with nothing in it is an error: a tag
// filter that matches no instance at all, a DNS name that does not exist
// or has no record of the type (terminated instances count as none).
// Instances that carry the tags but none running (stopped, pending) are a
// warning: they may run by the time the
// node starts. A source it cannot ask from here (no region, no
// credentials, no network, a resolver that does not answer) is a warning:
// the node reports it in /status once it runs.
func CheckServersFrom(ctx context.Context, cfg *config.Config) []CheckProblem {
	var out []CheckProblem
	for i, b := range cfg.Backends {
		if b.ServersFrom == nil {
			continue
		}
		path := fmt.Sprintf("backends[%d].servers_from", i)
		for _, src := range discoverySources(ctx, b) {
			out = append(out, checkSource(ctx, path, b, src)...)
		}
	}
	return out
}

func checkSource(ctx context.Context, path string, b config.Backend, src discoverySource) []CheckProblem {
	field := path + "." + src.kind
	cannot := func(err error) []CheckProblem {
		return []CheckProblem{{Field: field, Warning: true,
			Reason: "could not check it from here (the node reports it in /status): " + err.Error()}}
	}
	if src.err != nil {
		return cannot(src.err)
	}
	checker, ok := src.src.(discover.Checker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := checker.Check(ctx)
	if err != nil {
		return cannot(err)
	}
	if c.Targets > 0 {
		return nil
	}
	static := ""
	if len(b.Servers) > 0 {
		static = " besides its static servers"
	}
	switch src.kind {
	case "ec2":
		filter := tagFilter(b.ServersFrom.EC2.Tags)
		// Terminated instances stay listed for a while but never run again.
		var states []string
		for _, st := range slices.Sorted(maps.Keys(c.NotRunning)) {
			if st != "terminated" && st != "shutting-down" {
				states = append(states, fmt.Sprintf("%d %s", c.NotRunning[st], st))
			}
		}
		if len(states) == 0 {
			but := ""
			if len(c.NotRunning) > 0 {
				but = " but terminated ones"
			}
			return []CheckProblem{{Field: field + ".tags",
				Reason: fmt.Sprintf("the tag filter %s matches no instance%s: backend %s would get no discovered server%s", filter, but, b.Name, static)}}
		}
		return []CheckProblem{{Field: field + ".tags", Warning: true,
			Reason: fmt.Sprintf("the tag filter %s matches no running instance (%s): backend %s has no discovered server until one runs", filter, strings.Join(states, ", "), b.Name)}}
	default:
		d := b.ServersFrom.DNS
		return []CheckProblem{{Field: field + ".name",
			Reason: fmt.Sprintf("%s %s: no such name or no %s record (%s): backend %s would get no discovered server%s", strings.ToUpper(d.Type), d.Name, strings.ToUpper(d.Type), src.src.Describe(), b.Name, static)}}
	}
}

// tagFilter writes tags as the config does: {role: app, env: prod}.
func tagFilter(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+": "+tags[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
